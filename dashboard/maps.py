"""Folium maps: the layers, their legend, tiles from settings and Leaflet from the app's own files.

Folium writes tooltip and popup text into the page as raw HTML, so every piece of text is
escaped here, where the HTML is built.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.plugins import Draw
from jinja2 import Template
from jinja2.utils import htmlsafe_json_dumps
from shapely.geometry import Polygon, shape
from shapely.geometry.base import BaseGeometry

from dashboard.dates import short_date
from dashboard.errors import InvalidInput
from dashboard.geo import BNG, WGS84
from dashboard.hotspots import class_labels, class_of, count_class_breaks, count_incidents_by_cell
from dashboard.plans import needs_attention

# Okabe-Ito: distinguishable with the common colour-vision deficiencies (Okabe & Ito, 2008)
CSO_PALETTE = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#999999",
)
# ColorBrewer YlOrRd, 5 classes: sequential and colour-blind safe
HOTSPOT_COLOURS = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
HOTSPOT_OPACITIES = (0.25, 0.4, 0.55, 0.7, 0.85)
# Gi* classes: ColorBrewer RdBu, diverging and colour-blind safe; not significant is not drawn
SIGNIFICANCE_COLOURS = {
    "hot 99%": "#b2182b",
    "hot 95%": "#ef8a62",
    "hot 90%": "#fddbc7",
    "cold 90%": "#d1e5f0",
    "cold 95%": "#67a9cf",
    "cold 99%": "#2166ac",
}
WARD_OUTLINE = "#333333"
ONS_ATTRIBUTION = (
    "Boundaries: Office for National Statistics, OGL v3.0, &copy; Crown copyright 2022"
)

LAYER_WARDS = "Ward boundaries"
LAYER_CSO = "CSO ward assignments"
LAYER_BINS = "Knife amnesty bins"
LAYER_BUS = "Youth Bus stops"
LAYER_HOTSPOTS = "Incident hotspots"
LAYER_SIGNIFICANT = "Significant hotspots (Gi*)"
LAYER_PLANS = "Problem-solving plans"
LAYER_PROPOSED = "Proposed plan area"
LAYER_PLAN_AREA = "Plan area"
LAYER_BUFFER = "Buffer ring"
LAYER_ACTIONS = "Action points"

PLAN_STATUSES = ("open", "monitoring", "closed")
# Plan areas are outlines over the CSO fills (Okabe-Ito) and the hotspot cells (YlOrRd), so they
# take hues from neither: Paul Tol's colour-blind-safe indigo and wine, and a grey for closed
# plans. The hue is never the only cue: each status has its own dash pattern (PLAN_STATUS_DASHES),
# the legend names it, and wards are solid lines, so plans read apart in greyscale too.
PLAN_STATUS_COLOURS = {"open": "#332288", "monitoring": "#882255", "closed": "#666666"}
PLAN_STATUS_DASHES = {"open": "10 6", "monitoring": "4 5", "closed": "12 4 2 4"}
PLAN_STATUS_LABELS = {"open": "Open", "monitoring": "Monitoring", "closed": "Closed"}
# a drawn or proposed area is solid black: the one thing on the map being decided right now
PROPOSED_COLOUR = "#000000"
ACTION_COLOUR = "#117733"  # Tol green, a diamond: apart from bins (black square) and stops (circle)
# Leaflet's overlay pane is 400 and markers are 600: plans sit between, above wards, CSO colours
# and hotspot cells whatever order layers are ticked in, so a click in a plan area hits the plan.
# The pane itself takes no pointer events; Leaflet's CSS gives them back to interactive paths.
PLAN_PANE = "plans"
PLAN_PANE_Z_INDEX = 450


@dataclass(frozen=True)
class MapStyle:
    """Where the map's assets and tiles come from (see ``Settings``)."""

    static_url_prefix: str = "/app/static"
    tiles_url: str | None = None
    tiles_attribution: str = ""


def offline_map(location: tuple[float, float], style: MapStyle, zoom_start: int = 13) -> folium.Map:
    """A Folium map that loads Leaflet and jQuery from the app, never from a CDN.

    Folium's own template also asks for Bootstrap, Font Awesome and Leaflet.awesome-markers; this
    app uses none of them (its markers are plain HTML icons), so the map asks only for what it uses.
    """
    fmap = folium.Map(
        location=location,
        zoom_start=zoom_start,
        tiles=None,
        control_scale=True,
        prefer_canvas=False,  # SVG paths keep their class names, which tests and styling rely on
        zoom_snap=0.25,  # lets fit_bounds fill the frame with the borough
    )
    vendor = f"{style.static_url_prefix}/vendor"
    fmap.default_js = [
        ("leaflet", f"{vendor}/leaflet/leaflet.js"),
        ("jquery", f"{vendor}/jquery/jquery.min.js"),
    ]
    fmap.default_css = [("leaflet_css", f"{vendor}/leaflet/leaflet.css")]
    if style.tiles_url:
        folium.TileLayer(
            tiles=style.tiles_url,
            attr=inert_markup(style.tiles_attribution),
            name="Base map",
            control=False,
        ).add_to(fmap)
    _MapSetup(f"{vendor}/leaflet/images/", ONS_ATTRIBUTION).add_to(fmap)
    return fmap


# Branca compiles the rendered output of every map element as a Jinja template once more
# before it assembles the page (``MacroElement.render`` wraps it in ``Element``), so text
# reaching a map with "{{ ... }}" in it would be run on the server, and "{%" or "{#" would
# break the map for everyone. These start every Jinja tag, and a "{" is never followed by one
# of "{%#" in JSON outside a string.
_JINJA_TAG_START = re.compile(r"\{(?=[{%#])")


def inert_markup(markup: str) -> str:
    """HTML with its braces as character references: browsers show braces, Jinja sees none."""
    return markup.replace("{", "&#123;").replace("}", "&#125;")


def text(value: object) -> str:
    """``value`` as text safe inside HTML and inert to Jinja ("" for missing values)."""
    if value is None or pd.isna(value):
        return ""
    return inert_markup(html.escape(str(value)))


def script_json(value: object) -> str:
    r"""``value`` as JSON for a map's script, safe inside ``<script>`` and inert to Jinja.

    ``<``, ``>``, ``&`` and ``'`` become ``\u`` escapes, and so does a "{" that would start a
    Jinja tag (``\u007b``); JavaScript reads them back as the characters they were.
    """
    return _JINJA_TAG_START.sub(r"\\u007b", str(htmlsafe_json_dumps(value)))


class _MapSetup(MacroElement):
    """Set Leaflet's marker image path (wrong inside the component frame) and the attribution."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        L.Icon.Default.imagePath = {{ this.image_path | tojson }};
        var map = {{ this._parent.get_name() }};
        map.attributionControl.addAttribution({{ this.attribution | tojson }});
        map.getContainer().style.background = "#f2efe9";  /* a plain background without tiles */
        {% endmacro %}
        """
    )

    def __init__(self, image_path: str, attribution: str) -> None:
        super().__init__()
        self.image_path = image_path
        self.attribution = attribution


class Legend(MacroElement):
    """A legend drawn as a Leaflet control (a branca colormap would pull d3 from a CDN)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
          var legend = L.control({position: "bottomright"});
          legend.onAdd = function () {
            var div = L.DomUtil.create("div", "map-legend");
            div.setAttribute("role", "region");
            div.setAttribute("aria-label", "Map legend");
            div.style.cssText = "background:#fff;padding:4px 8px;font:11px/1.35 sans-serif;"
              + "border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);max-width:230px;"
              + "max-height:60vh;overflow:auto";
            div.innerHTML = {{ this.legend_html | tojson }};
            L.DomEvent.disableClickPropagation(div);
            return div;
          };
          legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, legend_html: str) -> None:
        super().__init__()
        self.legend_html = legend_html


def swatch(colour: str, label: str, border: str = "#555") -> str:
    """A legend row: a small filled square and its label (escaped)."""
    return (
        f'<div><span style="display:inline-block;width:12px;height:12px;background:{colour};'
        f'border:1px solid {border};margin-right:4px;vertical-align:middle"></span>'
        f"{text(label)}</div>"
    )


def _outline_swatch(colour: str, dashes: str, label: str, fill_opacity: float = 0.12) -> str:
    """A small rectangle drawn with the same stroke and dashes as the area on the map."""
    return (
        '<div><svg width="24" height="14" aria-hidden="true" style="vertical-align:middle;'
        f'margin-right:4px"><rect x="1.5" y="1.5" width="21" height="11" fill="{colour}" '
        f'fill-opacity="{fill_opacity}" stroke="{colour}" stroke-width="2.5" '
        f'stroke-dasharray="{dashes}"/></svg>{text(label)}</div>'
    )


def _plan_legend(statuses: Sequence[str]) -> list[str]:
    parts = [f"<strong>{LAYER_PLANS}</strong>"]
    parts += [
        _outline_swatch(PLAN_STATUS_COLOURS[status], PLAN_STATUS_DASHES[status], label)
        for status, label in PLAN_STATUS_LABELS.items()
        if status in statuses
    ]
    parts.append("<div>A thicker outline: the plan has overdue actions</div>")
    return parts


def _hotspot_legend(hotspot_breaks: list[int], cell_size_m: float) -> list[str]:
    parts = [
        f"<strong>{LAYER_HOTSPOTS}</strong><div>Incidents per {cell_size_m:.0f} m square; "
        "classes are quantiles of the non-empty cells</div>"
    ]
    parts += [
        swatch(HOTSPOT_COLOURS[index], f"{label} incidents")
        for index, label in enumerate(class_labels(hotspot_breaks))
    ]
    return parts


def legend_html(
    cso_colours: dict[str, str],
    hotspot_breaks: list[int],
    cell_size_m: float,
    synthetic: bool,
    plan_statuses: Sequence[str] = (),
    significance_note: str | None = None,
) -> str:
    """The legend's HTML: what each layer's symbols and colours mean, all text escaped.

    The page shows it in full beside the map; on the map it is folded behind a "Legend" toggle,
    so it never hides a bin or a bus stop. ``plan_statuses`` (any of ``PLAN_STATUSES``) adds the
    problem-solving plans' outlines; none, no plans section. ``significance_note`` (the
    small-numbers rule) adds the Gi* classes.
    """
    parts = [
        swatch("transparent", LAYER_WARDS, WARD_OUTLINE),
        f"<strong>{LAYER_CSO}</strong>",
        "<div style='display:grid;grid-template-columns:1fr 1fr;column-gap:6px'>",
    ]
    parts += [swatch(colour, name) for name, colour in cso_colours.items()]
    parts.append("</div>")
    parts.append(f"<div>{knife_bin_glyph()} Knife amnesty bin</div>")
    parts.append(f"<div>{bus_glyph()} Youth Bus stop</div>")
    parts += _hotspot_legend(hotspot_breaks, cell_size_m)
    if significance_note is not None:
        parts += significance_legend(significance_note)
    if plan_statuses:
        parts += _plan_legend(plan_statuses)
    if synthetic:
        parts.append("<em>Demo data: incidents, CSOs and schedules are synthetic.</em>")
    return "".join(parts)


def folded(body_html: str) -> str:
    """A legend folded behind a "Legend" toggle, so it never hides what is under it."""
    return (
        "<details><summary style='cursor:pointer;font-weight:bold'>Legend</summary>"
        f"{body_html}</details>"
    )


def knife_bin_glyph() -> str:
    """The knife bin's symbol, for markers and legends."""
    return (
        '<span style="display:inline-block;width:14px;height:14px;background:#1a1a1a;'
        'border:2px solid #fff;border-radius:3px;box-shadow:0 0 0 1px #1a1a1a"></span>'
    )


def bus_glyph() -> str:
    """The Youth Bus stop's symbol, for markers and legends."""
    return (
        '<span style="display:inline-block;width:14px;height:14px;background:#6a3d9a;'
        'border:2px solid #fff;border-radius:50%;box-shadow:0 0 0 1px #6a3d9a"></span>'
    )


def cso_colours(assignments: pd.DataFrame) -> dict[str, str]:
    """A palette colour per CSO name, stable by CSO id so colours do not shuffle between views."""
    ordered = assignments.drop_duplicates("cso_id").sort_values("cso_id")
    return {
        name: CSO_PALETTE[index % len(CSO_PALETTE)]
        for index, name in enumerate(ordered["cso_name"])
    }


def _escaped(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    escaped = frame.copy()
    for column in columns:
        escaped[column] = [text(value) for value in frame[column]]
    return escaped


def add_ward_layer(fmap: folium.Map, wards: gpd.GeoDataFrame) -> None:
    """Ward outlines with name and ONS code on hover; a click anywhere in a ward selects it."""
    layer = folium.FeatureGroup(name=LAYER_WARDS, show=True)
    features = _escaped(wards[["code", "name", "geometry"]], ["name"]).rename(
        columns={"code": "ward_code"}
    )
    folium.GeoJson(
        features.to_json(),
        name=LAYER_WARDS,
        style_function=lambda _feature: {
            "color": WARD_OUTLINE,
            "weight": 2,
            "fill": True,
            "fillOpacity": 0.0,  # transparent but clickable
            "className": "ward",
        },
        highlight_function=lambda _feature: {"weight": 4},
        tooltip=folium.GeoJsonTooltip(fields=["name", "ward_code"], aliases=["Ward", "ONS code"]),
    ).add_to(layer)
    layer.add_to(fmap)


def add_cso_layer(
    fmap: folium.Map, wards: gpd.GeoDataFrame, assignments: pd.DataFrame, colours: dict[str, str]
) -> None:
    """Wards filled by the colour of their CSO, with the CSO's name on hover."""
    merged = wards[["code", "name", "geometry"]].merge(
        assignments[["ward_code", "cso_name"]], left_on="code", right_on="ward_code", how="left"
    )
    merged["cso_name"] = merged["cso_name"].astype(object).fillna("No CSO assigned")
    merged["colour"] = [colours.get(name, "#ffffff") for name in merged["cso_name"]]
    features = _escaped(
        merged[["ward_code", "name", "cso_name", "colour", "geometry"]], ["name", "cso_name"]
    )
    features["ward_code"] = merged["code"]
    layer = folium.FeatureGroup(name=LAYER_CSO, show=True)
    folium.GeoJson(
        gpd.GeoDataFrame(features, geometry="geometry", crs=WGS84).to_json(),
        name=LAYER_CSO,
        style_function=lambda feature: {
            "color": "#ffffff",
            "weight": 1,
            "fillColor": feature["properties"]["colour"],
            "fillOpacity": 0.35,
            "className": "cso-ward",
        },
        tooltip=folium.GeoJsonTooltip(fields=["cso_name", "name"], aliases=["CSO", "Ward"]),
    ).add_to(layer)
    layer.add_to(fmap)


def add_hotspot_layer(
    fmap: folium.Map, cells_bng: gpd.GeoDataFrame, breaks: list[int], cell_size_m: float
) -> None:
    """Cells shaded by their incident count class; incidents themselves never leave the server.

    Every cell of the grid is drawn, empty ones unshaded, so the page is the same size whatever
    the number of incidents. Coordinates are kept to 6 decimals (about 0.1 m).
    """
    layer = folium.FeatureGroup(name=LAYER_HOTSPOTS, show=True)
    if not cells_bng.empty:
        # a plan's cells may straddle wards and carry no ward_code
        columns = [c for c in ("cell_id", "incident_count", "ward_code") if c in cells_bng]
        cells = cells_bng[[*columns, "geometry"]].to_crs(WGS84)
        cells["geometry"] = shapely.set_precision(cells.geometry.array, 1e-6)
        counts = cells["incident_count"].to_numpy()
        classes = [class_of(n, breaks) for n in counts]
        cells["colour"] = [
            HOTSPOT_COLOURS[c] if n else "#ffffff" for n, c in zip(counts, classes, strict=True)
        ]
        # quieter cells are fainter, so the wards and CSO colours show through where little happens
        cells["opacity"] = [
            HOTSPOT_OPACITIES[c] if n else 0.0 for n, c in zip(counts, classes, strict=True)
        ]
        cells["css"] = ["hotspot-cell" if n else "hotspot-cell hotspot-empty" for n in counts]
        folium.GeoJson(
            cells.to_json(drop_id=True),
            name=LAYER_HOTSPOTS,
            style_function=lambda feature: {
                "color": "#7f2704",
                "weight": 0.3 if feature["properties"]["incident_count"] else 0,
                "fillColor": feature["properties"]["colour"],
                "fillOpacity": feature["properties"]["opacity"],
                "className": feature["properties"]["css"],
            },
            tooltip=folium.GeoJsonTooltip(
                fields=["incident_count"], aliases=[f"Incidents in this {cell_size_m:.0f} m square"]
            ),
        ).add_to(layer)
    layer.add_to(fmap)


def add_significance_layer(
    fmap: folium.Map, cells_bng: gpd.GeoDataFrame, show: bool = True, name: str = LAYER_SIGNIFICANT
) -> None:
    """The cells Gi* found significantly hot or cold, filled by class (RdBu), others not drawn.

    ``cells_bng`` carries ``hotspot_analysis.analyse``'s columns (``cell_id``,
    ``hotspot_class``, ``incident_count``, ``gi_z``). Each cell has the class
    ``significance-cell`` and its class as ``hot-99`` ... ``cold-99`` for styling and tests.
    """
    layer = folium.FeatureGroup(name=name, show=show)
    significant = cells_bng[cells_bng["hotspot_class"].isin(list(SIGNIFICANCE_COLOURS))]
    if not significant.empty:
        cells = significant[["cell_id", "hotspot_class", "incident_count", "gi_z", "geometry"]]
        cells = cells.to_crs(WGS84)
        cells["geometry"] = shapely.set_precision(cells.geometry.array, 1e-6)
        cells["gi_z"] = cells["gi_z"].round(2)
        folium.GeoJson(
            cells.to_json(drop_id=True),
            name=name,
            style_function=lambda feature: {
                "color": "#444444",
                "weight": 0.6,
                "fillColor": SIGNIFICANCE_COLOURS[feature["properties"]["hotspot_class"]],
                "fillOpacity": 0.75,
                "className": "significance-cell "
                + feature["properties"]["hotspot_class"].replace(" ", "-").rstrip("%"),
            },
            tooltip=folium.GeoJsonTooltip(
                fields=["hotspot_class", "incident_count", "gi_z", "cell_id"],
                aliases=["Gi*", "Incidents", "z-score", "Cell"],
            ),
        ).add_to(layer)
    layer.add_to(fmap)


def significance_legend(small_numbers: str) -> list[str]:
    """The legend rows of ``add_significance_layer``: what each fill means, all text escaped."""
    parts = [
        f"<strong>{LAYER_SIGNIFICANT}</strong><div>Getis-Ord Gi* with a false discovery rate "
        f"correction; {text(small_numbers)}</div>"
    ]
    parts += [
        swatch(colour, f"{label.split()[0].title()} spot, {label.split()[1]} confidence")
        for label, colour in SIGNIFICANCE_COLOURS.items()
    ]
    parts.append(swatch("transparent", "Not significant (not drawn)", "#bbb"))
    return parts


def _popup(lines: list[tuple[str, str]], title: str) -> folium.Popup:
    body = "".join(
        f"<div><strong>{text(label)}:</strong> {text(value)}</div>"
        for label, value in lines
        if value
    )
    return folium.Popup(
        f"<div><h4 style='margin:0 0 4px'>{text(title)}</h4>{body}</div>", max_width=320
    )


def _asset_marker(
    row: object, glyph: str, css_class: str, lines: list[tuple[str, str]], z_index_offset: int = 0
) -> folium.Marker:
    """A marker drawn as an HTML icon (no image to break) with the asset's name and a popup."""
    return folium.Marker(
        location=(row.latitude, row.longitude),
        icon=folium.DivIcon(
            html=glyph, class_name=css_class, icon_size=(18, 18), icon_anchor=(9, 9)
        ),
        tooltip=text(row.name),
        popup=_popup(lines, row.name),
        z_index_offset=z_index_offset,
    )


def add_knife_bin_layer(fmap: folium.Map, bins: gpd.GeoDataFrame) -> None:
    """Knife amnesty bins, with name, address and what to do in the popup."""
    layer = folium.FeatureGroup(name=LAYER_BINS, show=True)
    for row in bins.itertuples():
        lines = [("Address", row.address), ("What to do", row.guidance or "")]
        # above a Youth Bus stop that may sit a few metres away
        _asset_marker(row, knife_bin_glyph(), "knife-bin", lines, z_index_offset=1000).add_to(layer)
    layer.add_to(fmap)


def add_youth_bus_layer(fmap: folium.Map, stops: gpd.GeoDataFrame, schedule: pd.DataFrame) -> None:
    """Youth Bus stops, with their weekly schedule in the popup."""
    layer = folium.FeatureGroup(name=LAYER_BUS, show=True)
    for row in stops.itertuples():
        slots = schedule[schedule["stop_id"] == row.asset_id]
        lines = [("Address", row.address)]
        lines += [(slot.when, slot.activity or "") for slot in slots.itertuples()]
        _asset_marker(row, bus_glyph(), "youth-bus-stop", lines).add_to(layer)
    layer.add_to(fmap)


def borough_map(
    *,
    wards: gpd.GeoDataFrame,
    assignments: pd.DataFrame,
    bins: gpd.GeoDataFrame,
    bus_stops: gpd.GeoDataFrame,
    schedule: pd.DataFrame,
    cells_bng: gpd.GeoDataFrame,
    hotspot_breaks: list[int],
    cell_size_m: float,
    style: MapStyle,
    synthetic: bool,
    plans: gpd.GeoDataFrame | None = None,
    open_actions: pd.DataFrame | None = None,
    significance_cells: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """The main map: five switchable layers (more with plans and Gi*), a legend, a layer control.

    Parameters
    ----------
    wards
        Current wards in EPSG:4326 (``code``, ``name``).
    assignments
        Current CSO per ward (``ward_code``, ``cso_id``, ``cso_name``).
    bins, bus_stops
        Assets in EPSG:4326 (``asset_id``, ``name``, ``address``, ``guidance``, lon/lat).
    schedule
        The Youth Bus timetable (``stop_id``, ``when``, ``activity``).
    cells_bng
        Hotspot cells in EPSG:27700 from ``hotspots.count_incidents_by_cell``.
    hotspot_breaks
        Class upper bounds from ``hotspots.count_class_breaks``.
    cell_size_m
        Side of the cells, for the legend.
    style
        Asset prefix and tiles.
    synthetic
        Whether to say on the map that the data are synthetic.
    plans
        Problem-solving plans for ``add_plan_layer``; None leaves the layer and its legend out.
    open_actions
        The open actions of ``plans`` (see ``add_plans_in_view_panel``); None: no panel.
    significance_cells
        The same cells with Gi* classes (``hotspot_analysis.analyse``), drawn as a layer that
        starts switched off (it shares the counts' place); None leaves it out.
    """
    minx, miny, maxx, maxy = wards.total_bounds
    fmap = offline_map(((miny + maxy) / 2, (minx + maxx) / 2), style)
    colours = cso_colours(assignments)
    add_ward_layer(fmap, wards)
    add_cso_layer(fmap, wards, assignments, colours)
    add_hotspot_layer(fmap, cells_bng, hotspot_breaks, cell_size_m)
    if significance_cells is not None:
        add_significance_layer(fmap, significance_cells, show=False)
    if plans is not None:
        add_plan_layer(fmap, plans)
    add_knife_bin_layer(fmap, bins)
    add_youth_bus_layer(fmap, bus_stops, schedule)
    if plans is not None and open_actions is not None:
        add_plans_in_view_panel(fmap, plans, open_actions)
    folium.LayerControl(collapsed=False, position="topleft").add_to(fmap)
    statuses = PLAN_STATUSES if plans is not None else ()
    note = None if significance_cells is None else significance_cells.attrs.get("small_numbers", "")
    Legend(
        folded(legend_html(colours, hotspot_breaks, cell_size_m, synthetic, statuses, note))
    ).add_to(fmap)
    # the layer control sits top left, over the Thames, clear of the borough
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    return fmap


class _PlansInView(MacroElement):
    """A panel on the map listing the open actions of the plans in view, updated as it moves.

    It is filled in the browser on every pan and zoom, so the page never reruns for it. Text goes
    in with ``textContent`` only, so nothing a person typed can become markup.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
          var map = {{ this._parent.get_name() }};
          var plans = {{ this.plans_json }};
          var panel = L.control({position: "bottomleft"});
          panel.onAdd = function () {
            var div = L.DomUtil.create("div", "plans-in-view");
            div.setAttribute("role", "region");
            div.setAttribute("aria-label", "Open actions of the plans in view");
            div.style.cssText = "background:#fff;padding:4px 8px;font:12px/1.35 sans-serif;"
              + "border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);max-width:300px;"
              + "max-height:40vh;overflow:auto";
            var details = document.createElement("details");
            details.open = false;  /* folded: open, it would cover the west of the borough */
            var summary = document.createElement("summary");
            summary.style.cssText = "cursor:pointer;font-weight:bold";
            var body = document.createElement("div");
            details.appendChild(summary);
            details.appendChild(body);
            div.appendChild(details);
            function line(text, css, className) {
              var row = document.createElement("div");
              row.className = className;
              row.style.cssText = css;
              row.textContent = text;
              body.appendChild(row);
            }
            function render() {
              var view = map.getBounds();
              var shown = plans.filter(function (plan) {
                return view.intersects(L.latLngBounds(plan.bounds));
              });
              var count = shown.reduce(function (n, plan) { return n + plan.actions.length; }, 0);
              summary.textContent = "Open actions in view (" + count + ")";
              body.replaceChildren();
              if (!shown.length) {
                line("No open plans in view.", "color:#555", "piv-none");
              }
              shown.forEach(function (plan) {
                line(plan.title, "font-weight:bold;margin-top:4px", "piv-plan");
                plan.actions.forEach(function (action) {
                  var flag = action.attention ? action.flag.toUpperCase() + ": " : "";
                  line(flag + action.due + " " + action.description + " (" + action.agency + ")",
                       action.attention ? "color:#a50f15;font-weight:bold" : "",
                       action.attention ? "piv-action piv-attention" : "piv-action");
                });
              });
            }
            map.on("moveend", render);
            render();
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            return div;
          };
          panel.addTo(map);
        })();
        {% endmacro %}
        """
    )

    def __init__(self, plans: list[dict[str, Any]]) -> None:
        super().__init__()
        self.plans_json = script_json(plans)


def add_plans_in_view_panel(
    fmap: folium.Map, plans: gpd.GeoDataFrame, open_actions: pd.DataFrame
) -> None:
    """Beside the plans on the map: their open actions, listed for whatever is in view.

    Parameters
    ----------
    fmap
        The map.
    plans
        Plans in EPSG:4326 with ``plan_id`` and ``title`` (as for ``add_plan_layer``).
    open_actions
        Their open actions, worst flag first (``plans.actions`` columns: ``plan_id``, ``flag``,
        ``due_on``, ``description``, ``owner_agency``). Overdue and at-risk ones are marked in
        words and in bold red.
    """
    entries = []
    for plan in plans.itertuples():
        minx, miny, maxx, maxy = plan.geometry.bounds
        mine = open_actions[open_actions["plan_id"] == plan.plan_id]
        entries.append(
            {
                "title": str(plan.title),
                "bounds": [[miny, minx], [maxy, maxx]],
                "actions": [
                    {
                        "flag": str(action.flag),
                        "attention": needs_attention(action.flag),
                        "due": short_date(action.due_on),
                        "description": str(action.description),
                        "agency": str(action.owner_agency),
                    }
                    for action in mine.itertuples()
                ],
            }
        )
    _PlansInView(entries).add_to(fmap)


def map_html(fmap: folium.Map) -> str:
    """The whole HTML document of a map, as a browser would receive it."""
    return fmap.get_root().render()


def feature_json(frame: gpd.GeoDataFrame) -> str:
    """GeoJSON text of ``frame`` in WGS84 (used by tests and exports)."""
    return json.dumps(json.loads(frame.to_crs(WGS84).to_json()))


def import_preview_map(payload: object, style: MapStyle) -> folium.Map | None:
    """A map of what an import would load, before it is written; None when there is nothing to draw.

    Incidents are shown as 250 m cells counted on the server (never one marker each); ward
    boundaries as outlines with their names.
    """
    if isinstance(payload, gpd.GeoDataFrame) and not payload.empty:
        shapes = payload.to_crs(WGS84)
        minx, miny, maxx, maxy = shapes.total_bounds
        fmap = offline_map(((miny + maxy) / 2, (minx + maxx) / 2), style)
        labels = [column for column in ("code", "name") if column in shapes.columns]
        folium.GeoJson(
            _escaped(shapes[[*labels, "geometry"]], labels).to_json(),
            style_function=lambda _feature: {
                "color": WARD_OUTLINE,
                "weight": 2,
                "fillOpacity": 0.1,
            },
            tooltip=folium.GeoJsonTooltip(fields=labels) if labels else None,
        ).add_to(fmap)
        fmap.fit_bounds([[miny, minx], [maxy, maxx]])
        return fmap
    frame = getattr(payload, "incidents", payload)
    if isinstance(frame, pd.DataFrame) and {"x_bng", "y_bng"} <= set(frame.columns) and len(frame):
        cells = count_incidents_by_cell(frame["x_bng"].to_numpy(), frame["y_bng"].to_numpy())
        cells["ward_code"] = ""
        breaks = count_class_breaks(cells["incident_count"])
        minx, miny, maxx, maxy = cells.to_crs(WGS84).total_bounds
        fmap = offline_map(((miny + maxy) / 2, (minx + maxx) / 2), style)
        add_hotspot_layer(fmap, cells, breaks, 250.0)
        fmap.fit_bounds([[miny, minx], [maxy, maxx]])
        return fmap
    return None


# ---------------------------------------------------------------------------------------------
# Problem-solving plans: their areas on the maps, drawing a new one, and a plan's own map

PLAN_COLUMNS = (
    "plan_id",
    "title",
    "status",
    "sara_stage",
    "open_actions",
    "overdue_actions",
    "at_risk_actions",
)
BUFFER_COLOUR = "#444444"
BUFFER_DASHES = "1 5"
MIN_DRAWN_AREA_M2 = 100.0  # smaller than 10 m x 10 m is a slip of the mouse, not a plan area
CIRCLE_QUAD_SEGS = 16  # 64 vertices: a circle to within 0.2% of its area


class DrawnAreaInvalid(InvalidInput, ValueError):
    """The shape drawn on the map cannot be a plan area; the message says how to redraw it.

    A ``ValueError`` too, so callers that validate input with ``except ValueError`` catch it.
    """


def _check_plans(plans: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Reject plans the layer cannot draw, naming what is wrong; return them in EPSG:4326."""
    missing = [column for column in PLAN_COLUMNS if column not in plans.columns]
    if missing:
        raise ValueError(f"plans lack the column(s) {', '.join(missing)}; see add_plan_layer")
    if plans.crs is None:
        raise ValueError("plans have no CRS; set it (plan areas are stored in EPSG:4326)")
    unknown = sorted({str(status) for status in plans["status"]} - set(PLAN_STATUSES))
    if unknown:
        raise ValueError(
            f"plan status must be one of {', '.join(PLAN_STATUSES)}, got {', '.join(unknown)}"
        )
    return plans.to_crs(WGS84)


def _plan_pane(fmap: folium.Map) -> str:
    """Create the plans' pane once per map (see PLAN_PANE) and return its name."""
    exists = any(
        isinstance(child, folium.map.CustomPane) and child.name == PLAN_PANE
        for child in fmap._children.values()
    )
    if not exists:
        folium.map.CustomPane(PLAN_PANE, z_index=PLAN_PANE_Z_INDEX, pointer_events=False).add_to(
            fmap
        )
    return PLAN_PANE


def _plan_style(status: str, overdue: bool, css: str) -> dict[str, Any]:
    return {
        "color": PLAN_STATUS_COLOURS[status],
        # wide enough to read over the darkest hotspot cells; wider still with overdue actions
        "weight": 5.5 if overdue else 3.5,
        "dashArray": PLAN_STATUS_DASHES[status],
        "fill": True,
        "fillColor": PLAN_STATUS_COLOURS[status],
        "fillOpacity": 0.05 if status == "closed" else 0.12,
        "className": css,
    }


def add_plan_layer(fmap: folium.Map, plans: gpd.GeoDataFrame, tooltips: bool = True) -> None:
    """Problem-solving plan areas outlined by status, above every other area layer.

    Parameters
    ----------
    fmap
        The map to add the "Problem-solving plans" layer to.
    plans
        One row per plan in EPSG:4326: ``plan_id`` (int), ``title``, ``status`` (one of
        ``PLAN_STATUSES``), ``sara_stage`` (e.g. "response"), ``open_actions``,
        ``overdue_actions`` and ``at_risk_actions`` (ints), and the area's polygon.
    tooltips
        Whether hovering shows a plan's title and counts (off while drawing a new area).

    Notes
    -----
    Each path has the classes ``plan-area plan-<status>`` (and ``plan-has-overdue`` when actions
    are overdue, drawn thicker). The tooltip gives the escaped title, status, SARA stage and
    action counts. A click on a plan reaches the page as st_folium's ``last_active_drawing``, a
    GeoJSON feature whose properties hold ``plan_id``, as a ward click gives ``ward_code``.

    Raises
    ------
    ValueError
        A column is missing, the CRS is not set, or a status is not one of ``PLAN_STATUSES``.
    """
    plans = _check_plans(plans)
    pane = _plan_pane(fmap)
    layer = folium.FeatureGroup(name=LAYER_PLANS, show=True)
    if not plans.empty:
        overdue = plans["overdue_actions"].astype(int).to_numpy()
        statuses = [str(status) for status in plans["status"]]
        features = gpd.GeoDataFrame(
            {
                "plan_id": plans["plan_id"].astype(int).to_numpy(),
                "title": [text(title) for title in plans["title"]],
                "status": statuses,
                "status_label": [PLAN_STATUS_LABELS[status] for status in statuses],
                "sara_stage": [text(stage).capitalize() for stage in plans["sara_stage"]],
                "open_actions": plans["open_actions"].astype(int).to_numpy(),
                "overdue_actions": overdue,
                "at_risk_actions": plans["at_risk_actions"].astype(int).to_numpy(),
                # in words and bold, not in colour alone
                "overdue_label": [
                    f'<strong style="color:#a50026">{n} overdue</strong>' if n else "0"
                    for n in overdue
                ],
                "css": [
                    f"plan-area plan-{status}" + (" plan-has-overdue" if n else "")
                    for status, n in zip(statuses, overdue, strict=True)
                ],
            },
            geometry=plans.geometry.to_numpy(),
            crs=WGS84,
        )
        folium.GeoJson(
            features.to_json(),
            name=LAYER_PLANS,
            style_function=lambda feature: _plan_style(
                feature["properties"]["status"],
                feature["properties"]["overdue_actions"] > 0,
                feature["properties"]["css"],
            ),
            highlight_function=lambda _feature: {"weight": 7, "fillOpacity": 0.2},
            # while drawing, a tooltip under the pointer would hide the area being drawn
            tooltip=None
            if not tooltips
            else folium.GeoJsonTooltip(
                fields=[
                    "title",
                    "status_label",
                    "sara_stage",
                    "open_actions",
                    "overdue_label",
                    "at_risk_actions",
                ],
                aliases=[
                    "Plan",
                    "Status",
                    "SARA stage",
                    "Open actions",
                    "Overdue actions",
                    "At-risk actions",
                ],
            ),
            pane=pane,
        ).add_to(layer)
    layer.add_to(fmap)


def add_draw_control(fmap: folium.Map, style: MapStyle) -> Draw:
    """Leaflet.draw's toolbar, loaded from the app's own files, for drawing a plan area.

    Polygons, rectangles and circles can be drawn, edited and deleted; lines and markers cannot.
    What is drawn reaches the page through ``st_folium(..., returned_objects=
    ["last_active_drawing", "all_drawings"])``, and ``drawn_area`` turns that into a polygon.
    Drawn shapes have the class ``drawn-area``.

    Only add it when ``static_assets.drawing_available()``: streamlit-folium loads a map's
    scripts one after another and gives up on the first that fails, so a missing
    ``leaflet.draw.js`` would leave the whole map blank.
    """
    vendor = f"{style.static_url_prefix}/vendor/leaflet-draw"
    shape_options = {
        "color": PROPOSED_COLOUR,
        "weight": 4,  # as the proposed area: what is being decided stands out
        "fillOpacity": 0.1,
        "className": "drawn-area",
    }
    draw = Draw(
        position="topleft",
        show_geometry_on_click=False,  # True opens an alert() with the GeoJSON on every click
        draw_options={
            "polyline": False,
            "marker": False,
            "circlemarker": False,
            # a boundary that crosses itself encloses nothing sensible; refuse it while drawing
            "polygon": {
                "allowIntersection": False,
                "showArea": True,
                "metric": True,
                "shapeOptions": shape_options,
            },
            "rectangle": {"showArea": True, "metric": True, "shapeOptions": shape_options},
            "circle": {"metric": True, "shapeOptions": shape_options},
        },
        edit_options={"poly": {"allowIntersection": False}},
    )
    # folium's defaults are cdnjs addresses (leaflet.draw 1.0.2); the app serves npm's 1.0.4
    draw.default_js = [("leaflet_draw_js", f"{vendor}/leaflet.draw.js")]
    draw.default_css = [("leaflet_draw_css", f"{vendor}/leaflet.draw.css")]
    draw.add_to(fmap)
    _KeepCircleRadius().add_to(fmap)
    return draw


class _KeepCircleRadius(MacroElement):
    """Keep a drawn circle's ``properties.radius`` up to date when the circle is resized.

    streamlit-folium writes the radius into the circle's GeoJSON properties when it is drawn,
    and not again when it is edited, so ``all_drawings`` would keep the first radius (and, since
    nothing else changed, the edit would not even rerun the page). This handler is registered
    with the map script, before streamlit-folium's own, so it runs first.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.on("draw:edited", function (e) {
          e.layers.eachLayer(function (layer) {
            if (layer instanceof L.Circle) {
              layer.feature = layer.feature || {type: "Feature"};
              // a new object: the last value sent shares the old one, and is compared with this
              layer.feature.properties = Object.assign(
                {}, layer.feature.properties, {radius: layer.getRadius()}
              );
            }
          });
        });
        {% endmacro %}
        """
    )


def _as_geometry(area: BaseGeometry | Mapping[str, Any]) -> BaseGeometry:
    """A shapely geometry from a geometry, a GeoJSON geometry, Feature or FeatureCollection."""
    if isinstance(area, BaseGeometry):
        return area
    if area.get("type") == "FeatureCollection":
        return shapely.union_all([shape(feature["geometry"]) for feature in area["features"]])
    if area.get("type") == "Feature":
        return shape(area["geometry"])
    return shape(area)


def _bng(geometry: BaseGeometry) -> BaseGeometry:
    return gpd.GeoSeries([geometry], crs=WGS84).to_crs(BNG).iloc[0]


def _wgs84(geometry: BaseGeometry) -> BaseGeometry:
    return gpd.GeoSeries([geometry], crs=BNG).to_crs(WGS84).iloc[0]


def _area_layer(
    fmap: folium.Map,
    area_wgs84: BaseGeometry,
    *,
    name: str,
    style: dict[str, Any],
    properties: dict[str, str] | None = None,
    tooltip: folium.GeoJsonTooltip | None = None,
    pane: str | None = None,
) -> None:
    feature = {
        "type": "Feature",
        "properties": properties or {},
        "geometry": shapely.geometry.mapping(shapely.set_precision(area_wgs84, 1e-7)),
    }
    layer = folium.FeatureGroup(name=name, show=True)
    options = {"pane": pane} if pane else {}
    folium.GeoJson(
        {"type": "FeatureCollection", "features": [feature]},
        name=name,
        style_function=lambda _feature: style,
        tooltip=tooltip,
        **options,
    ).add_to(layer)
    layer.add_to(fmap)


def _fit(fmap: folium.Map, bounds: Sequence[float]) -> None:
    minx, miny, maxx, maxy = bounds
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])


def plan_area_map(
    *,
    wards: gpd.GeoDataFrame,
    style: MapStyle,
    plans: gpd.GeoDataFrame | None = None,
    cells_bng: gpd.GeoDataFrame | None = None,
    cell_size_m: float = 250.0,
    proposed_area: BaseGeometry | Mapping[str, Any] | None = None,
    drawing: bool = True,
) -> folium.Map:
    """A map for choosing or drawing a plan's area.

    Parameters
    ----------
    wards
        Current wards in EPSG:4326 (``code``, ``name``); a click on one returns its
        ``ward_code`` as st_folium's ``last_active_drawing``.
    style
        Asset prefix and tiles.
    plans
        Existing plans (see ``add_plan_layer``), so a new area can be set beside them.
    cells_bng
        Hotspot cells in EPSG:27700 (``cell_id``, ``incident_count``), shaded in the hotspot
        classes; a click on one returns its ``cell_id``.
    cell_size_m
        Side of the cells, for the tooltip and legend.
    proposed_area
        The area chosen so far (a ward, cells, a named place, an upload, or a drawing), in
        EPSG:4326, as a shapely geometry or GeoJSON; drawn solid black with the class
        ``proposed-area``, not clickable, and the map is fitted to it.
    drawing
        Whether to add the Leaflet.draw toolbar (``add_draw_control``); pass
        ``static_assets.drawing_available()``.
    """
    minx, miny, maxx, maxy = wards.total_bounds
    fmap = offline_map(((miny + maxy) / 2, (minx + maxx) / 2), style)
    add_ward_layer(fmap, wards)
    legend = [swatch("transparent", LAYER_WARDS, WARD_OUTLINE)]
    if cells_bng is not None:
        breaks = count_class_breaks(cells_bng["incident_count"])
        add_hotspot_layer(fmap, cells_bng, breaks, cell_size_m)
        legend += _hotspot_legend(breaks, cell_size_m)
    if plans is not None:
        add_plan_layer(fmap, plans, tooltips=not drawing)
        legend += _plan_legend(PLAN_STATUSES)
    bounds: Sequence[float] = wards.total_bounds
    if proposed_area is not None:
        area = _as_geometry(proposed_area)
        if not area.is_empty:
            _area_layer(
                fmap,
                area,
                name=LAYER_PROPOSED,
                style={
                    "color": PROPOSED_COLOUR,
                    "weight": 4,
                    "fillColor": PROPOSED_COLOUR,
                    "fillOpacity": 0.12,
                    "className": "proposed-area",
                    "interactive": False,  # wards and cells beneath stay clickable
                },
                pane=_plan_pane(fmap),
            )
            bounds = area.bounds
    legend.append(_outline_swatch(PROPOSED_COLOUR, "none", "Proposed or drawn area"))
    if drawing:
        add_draw_control(fmap, style)
    # folded: open, it would cover the plans in the north-east of the borough
    folium.LayerControl(collapsed=True, position="topright").add_to(fmap)
    Legend(folded("".join(legend))).add_to(fmap)
    _fit(fmap, bounds)
    return fmap


def buffer_ring(area_wgs84: BaseGeometry, buffer_m: float) -> BaseGeometry:
    """The band ``buffer_m`` metres wide around an area (EPSG:4326 in and out), measured in BNG.

    Where displacement would show: the area grown by ``buffer_m`` minus the area itself.
    ValueError: ``buffer_m`` is not positive.
    """
    if not buffer_m > 0:
        raise ValueError(f"buffer_m must be positive, got {buffer_m}")
    area_bng = _bng(area_wgs84)
    return _wgs84(area_bng.buffer(buffer_m).difference(area_bng))


def action_glyph() -> str:
    """The plan action's symbol, for markers and legends."""
    return (
        f'<span style="display:inline-block;width:12px;height:12px;background:{ACTION_COLOUR};'
        "border:2px solid #fff;transform:rotate(45deg);"
        f'box-shadow:0 0 0 1px {ACTION_COLOUR}"></span>'
    )


def add_action_layer(fmap: folium.Map, actions: pd.DataFrame) -> None:
    """A plan's actions that have a place, as diamonds (class ``action-point``).

    ``actions`` has ``action_id``, ``description``, ``status``, ``longitude`` and ``latitude``
    (WGS84; rows without both are left off the map). The popup and tooltip are escaped.
    """
    layer = folium.FeatureGroup(name=LAYER_ACTIONS, show=True)
    placed = actions.dropna(subset=["longitude", "latitude"])
    for row in placed.itertuples():
        status = str(getattr(row.status, "value", row.status))  # an ActionStatus or its value
        folium.Marker(
            location=(float(row.latitude), float(row.longitude)),
            icon=folium.DivIcon(
                html=action_glyph(),
                class_name="action-point",
                icon_size=(18, 18),
                icon_anchor=(9, 9),
            ),
            tooltip=text(row.description),
            popup=_popup(
                [("Action", str(row.description)), ("Status", status.replace("_", " "))],
                f"Action {row.action_id}",
            ),
        ).add_to(layer)
    layer.add_to(fmap)


def plan_detail_map(
    *,
    plan_area: BaseGeometry | Mapping[str, Any],
    title: str,
    style: MapStyle,
    status: str = "open",
    buffer_m: float | None = None,
    cells_bng: gpd.GeoDataFrame | None = None,
    cell_size_m: float = 250.0,
    bins: gpd.GeoDataFrame | None = None,
    bus_stops: gpd.GeoDataFrame | None = None,
    schedule: pd.DataFrame | None = None,
    actions: pd.DataFrame | None = None,
) -> folium.Map:
    """One plan's map: its area, the ring around it, incidents by cell, assets and actions.

    Parameters
    ----------
    plan_area
        The plan's area in EPSG:4326 (shapely geometry or GeoJSON); outlined in the status's
        colour and dashes with the classes ``plan-area plan-<status>``.
    title
        The plan's title, for the area's tooltip (escaped here).
    style
        Asset prefix and tiles.
    status
        One of ``PLAN_STATUSES``.
    buffer_m
        Width of the ring around the area where displacement would show (class
        ``plan-buffer``); None draws no ring.
    cells_bng
        Cells of the area in EPSG:27700 (``cell_id``, ``incident_count``), shaded in the
        hotspot classes of their own counts.
    cell_size_m
        Side of the cells, for the tooltip and legend.
    bins, bus_stops, schedule
        Knife amnesty bins, Youth Bus stops and their timetable, as for ``borough_map``.
    actions
        The plan's actions (see ``add_action_layer``).

    The map is fitted to the area, with the ring when there is one. ValueError: unknown status.
    """
    if status not in PLAN_STATUSES:
        raise ValueError(f"status must be one of {', '.join(PLAN_STATUSES)}, got {status!r}")
    area = _as_geometry(plan_area)
    minx, miny, maxx, maxy = area.bounds
    fmap = offline_map(((miny + maxy) / 2, (minx + maxx) / 2), style, zoom_start=15)
    legend = [
        _outline_swatch(
            PLAN_STATUS_COLOURS[status],
            PLAN_STATUS_DASHES[status],
            f"{LAYER_PLAN_AREA} ({PLAN_STATUS_LABELS[status].lower()})",
        )
    ]
    bounds: Sequence[float] = area.bounds
    if cells_bng is not None:
        breaks = count_class_breaks(cells_bng["incident_count"])
        add_hotspot_layer(fmap, cells_bng, breaks, cell_size_m)
        legend += _hotspot_legend(breaks, cell_size_m)
    if buffer_m is not None:
        ring = buffer_ring(area, buffer_m)
        _area_layer(
            fmap,
            ring,
            name=LAYER_BUFFER,
            style={
                "color": BUFFER_COLOUR,
                "weight": 2,
                "dashArray": BUFFER_DASHES,
                "fillColor": BUFFER_COLOUR,
                "fillOpacity": 0.06,
                "className": "plan-buffer",
            },
            properties={"ring": f"Within {buffer_m:.0f} m of the plan area"},
            tooltip=folium.GeoJsonTooltip(fields=["ring"], labels=False),
        )
        legend.append(
            _outline_swatch(
                BUFFER_COLOUR, BUFFER_DASHES, f"{LAYER_BUFFER}: {buffer_m:.0f} m around it", 0.06
            )
        )
        bounds = ring.bounds
    _area_layer(
        fmap,
        area,
        name=LAYER_PLAN_AREA,
        style={
            **_plan_style(status, overdue=False, css=f"plan-area plan-{status}"),
            "fillOpacity": 0.05,  # the cells beneath must stay readable
        },
        properties={"title": text(title), "status": PLAN_STATUS_LABELS[status]},
        tooltip=folium.GeoJsonTooltip(fields=["title", "status"], aliases=["Plan", "Status"]),
        pane=_plan_pane(fmap),
    )
    if bins is not None:
        add_knife_bin_layer(fmap, bins)
        legend.append(f"<div>{knife_bin_glyph()} Knife amnesty bin</div>")
    if bus_stops is not None:
        timetable = (
            schedule
            if schedule is not None
            else pd.DataFrame(columns=["stop_id", "when", "activity"])
        )
        add_youth_bus_layer(fmap, bus_stops, timetable)
        legend.append(f"<div>{bus_glyph()} Youth Bus stop</div>")
    if actions is not None:
        add_action_layer(fmap, actions)
        legend.append(f"<div>{action_glyph()} Action with a place</div>")
    # a small map: the layer switches fold away so they do not hide the area
    folium.LayerControl(collapsed=True, position="topright").add_to(fmap)
    Legend(folded("".join(legend))).add_to(fmap)
    _fit(fmap, bounds)
    return fmap


def _user_error(message: str) -> DrawnAreaInvalid:
    return DrawnAreaInvalid(
        f"{message} Delete it with the bin button and draw it again, or choose the area another "
        "way: pick a ward, hotspot cells or a named place, or upload GeoJSON."
    )


def drawn_area(st_folium_result: Mapping[str, Any] | None) -> Polygon | None:
    """The plan area last drawn with ``add_draw_control``, as a valid polygon in EPSG:4326.

    Parameters
    ----------
    st_folium_result
        What ``st_folium(..., returned_objects=["last_active_drawing", "all_drawings"])``
        returned (None before the map has answered).

    Returns
    -------
    Polygon or None
        The most recently drawn shape that is still on the map; None when nothing is drawn.

    Notes
    -----
    ``all_drawings`` holds only the drawn shapes, newest last, and follows edits and deletions;
    ``last_active_drawing`` is also set by a click on a ward, cell or plan, so it is used only
    when ``all_drawings`` was not asked for, and only if it has no properties but a radius.
    Leaflet.draw hands a circle back as a Point with ``properties.radius`` in metres; it is
    buffered in British National Grid metres (64 vertices) and projected back. A boundary that
    crosses itself is repaired with ``make_valid`` when that leaves one polygon.

    Raises
    ------
    DrawnAreaInvalid
        (an ``InvalidInput`` and a ``ValueError``) the shape is a line or a point, crosses itself
        into several pieces, lies outside Great Britain or is smaller than 100 m²; the message
        tells the user what to do.
    """
    if not st_folium_result:
        return None
    drawings = st_folium_result.get("all_drawings")
    if drawings is None:
        last = st_folium_result.get("last_active_drawing")
        looks_drawn = bool(last) and set(last.get("properties") or {}) <= {"radius"}
        drawings = [last] if looks_drawn else []
    if not drawings:
        return None
    feature = drawings[-1]
    properties = feature.get("properties") or {}
    try:
        geometry = _as_geometry(feature)
    except (shapely.errors.ShapelyError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise _user_error("The map sent a shape this app cannot read.") from error
    if geometry.geom_type == "Point":
        radius_m = properties.get("radius")
        if not isinstance(radius_m, int | float) or not radius_m > 0:
            raise _user_error("A point is not an area.")
        circle_bng = _bng(geometry).buffer(float(radius_m), quad_segs=CIRCLE_QUAD_SEGS)
        geometry = _wgs84(circle_bng)
    elif geometry.geom_type not in {"Polygon", "MultiPolygon"}:
        raise _user_error("A line is not an area: draw a polygon, a rectangle or a circle.")
    if not geometry.is_valid:
        repaired = shapely.make_valid(geometry)
        pieces = [
            part
            for part in getattr(repaired, "geoms", [repaired])
            if part.geom_type == "Polygon" and part.area > 0
        ]
        if len(pieces) != 1:
            raise _user_error("The boundary you drew crosses itself.")
        geometry = pieces[0]
    if geometry.geom_type != "Polygon":
        raise _user_error("That is several areas; a plan has one.")
    area_m2 = _bng(geometry).area
    if not math.isfinite(area_m2):
        raise _user_error("The area is outside Great Britain.")
    if area_m2 < MIN_DRAWN_AREA_M2:
        raise _user_error(f"The area is {area_m2:.0f} m², too small for a plan.")
    return geometry
