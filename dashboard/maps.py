"""Folium maps: the layers, their legend, tiles from settings and Leaflet from the app's own files.

Folium writes tooltip and popup text into the page as raw HTML, so every piece of text is
escaped here, where the HTML is built.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass

import folium
import geopandas as gpd
import pandas as pd
import shapely
from branca.element import MacroElement
from jinja2 import Template

from dashboard.geo import WGS84
from dashboard.hotspots import class_labels, class_of, count_class_breaks, count_incidents_by_cell

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
WARD_OUTLINE = "#333333"
ONS_ATTRIBUTION = (
    "Boundaries: Office for National Statistics, OGL v3.0, &copy; Crown copyright 2022"
)

LAYER_WARDS = "Ward boundaries"
LAYER_CSO = "CSO ward assignments"
LAYER_BINS = "Knife amnesty bins"
LAYER_BUS = "Youth Bus stops"
LAYER_HOTSPOTS = "Incident hotspots"


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
            tiles=style.tiles_url, attr=style.tiles_attribution, name="Base map", control=False
        ).add_to(fmap)
    _MapSetup(f"{vendor}/leaflet/images/", ONS_ATTRIBUTION).add_to(fmap)
    return fmap


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


class _Legend(MacroElement):
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


def _swatch(colour: str, label: str, border: str = "#555") -> str:
    return (
        f'<div><span style="display:inline-block;width:12px;height:12px;background:{colour};'
        f'border:1px solid {border};margin-right:4px;vertical-align:middle"></span>'
        f"{html.escape(label)}</div>"
    )


def legend_html(
    cso_colours: dict[str, str], hotspot_breaks: list[int], cell_size_m: float, synthetic: bool
) -> str:
    """The legend's HTML: what each layer's symbols and colours mean, all text escaped.

    The page shows it in full beside the map; on the map it is folded behind a "Legend" toggle,
    so it never hides a bin or a bus stop.
    """
    parts = [
        _swatch("transparent", LAYER_WARDS, WARD_OUTLINE),
        f"<strong>{LAYER_CSO}</strong>",
        "<div style='display:grid;grid-template-columns:1fr 1fr;column-gap:6px'>",
    ]
    parts += [_swatch(colour, name) for name, colour in cso_colours.items()]
    parts.append("</div>")
    parts.append(f"<div>{_knife_bin_glyph()} Knife amnesty bin</div>")
    parts.append(f"<div>{_bus_glyph()} Youth Bus stop</div>")
    parts.append(
        f"<strong>{LAYER_HOTSPOTS}</strong><div>Incidents per {cell_size_m:.0f} m square; "
        "classes are quantiles of the non-empty cells</div>"
    )
    parts += [
        _swatch(HOTSPOT_COLOURS[index], f"{label} incidents")
        for index, label in enumerate(class_labels(hotspot_breaks))
    ]
    if synthetic:
        parts.append("<em>Demo data: incidents, CSOs and schedules are synthetic.</em>")
    return "".join(parts)


def _folded(body_html: str) -> str:
    return (
        "<details><summary style='cursor:pointer;font-weight:bold'>Legend</summary>"
        f"{body_html}</details>"
    )


def _knife_bin_glyph() -> str:
    return (
        '<span style="display:inline-block;width:14px;height:14px;background:#1a1a1a;'
        'border:2px solid #fff;border-radius:3px;box-shadow:0 0 0 1px #1a1a1a"></span>'
    )


def _bus_glyph() -> str:
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
        escaped[column] = [
            html.escape(str(value)) if pd.notna(value) else "" for value in frame[column]
        ]
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
    merged["cso_name"] = merged["cso_name"].fillna("No CSO assigned")
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
        cells = cells_bng[["cell_id", "incident_count", "ward_code", "geometry"]].to_crs(WGS84)
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


def _popup(lines: list[tuple[str, str]], title: str) -> folium.Popup:
    body = "".join(
        f"<div><strong>{html.escape(label)}:</strong> {html.escape(text)}</div>"
        for label, text in lines
        if text
    )
    return folium.Popup(
        f"<div><h4 style='margin:0 0 4px'>{html.escape(title)}</h4>{body}</div>", max_width=320
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
        tooltip=html.escape(row.name),
        popup=_popup(lines, row.name),
        z_index_offset=z_index_offset,
    )


def add_knife_bin_layer(fmap: folium.Map, bins: gpd.GeoDataFrame) -> None:
    """Knife amnesty bins, with name, address and what to do in the popup."""
    layer = folium.FeatureGroup(name=LAYER_BINS, show=True)
    for row in bins.itertuples():
        lines = [("Address", row.address), ("What to do", row.guidance or "")]
        # above a Youth Bus stop that may sit a few metres away
        _asset_marker(row, _knife_bin_glyph(), "knife-bin", lines, z_index_offset=1000).add_to(
            layer
        )
    layer.add_to(fmap)


def add_youth_bus_layer(fmap: folium.Map, stops: gpd.GeoDataFrame, schedule: pd.DataFrame) -> None:
    """Youth Bus stops, with their weekly schedule in the popup."""
    layer = folium.FeatureGroup(name=LAYER_BUS, show=True)
    for row in stops.itertuples():
        slots = schedule[schedule["stop_id"] == row.asset_id]
        lines = [("Address", row.address)]
        lines += [(slot.when, slot.activity or "") for slot in slots.itertuples()]
        _asset_marker(row, _bus_glyph(), "youth-bus-stop", lines).add_to(layer)
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
) -> folium.Map:
    """The main map: five switchable layers, a legend and a layer control.

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
    """
    minx, miny, maxx, maxy = wards.total_bounds
    fmap = offline_map(((miny + maxy) / 2, (minx + maxx) / 2), style)
    colours = cso_colours(assignments)
    add_ward_layer(fmap, wards)
    add_cso_layer(fmap, wards, assignments, colours)
    add_hotspot_layer(fmap, cells_bng, hotspot_breaks, cell_size_m)
    add_knife_bin_layer(fmap, bins)
    add_youth_bus_layer(fmap, bus_stops, schedule)
    folium.LayerControl(collapsed=False, position="topleft").add_to(fmap)
    _Legend(_folded(legend_html(colours, hotspot_breaks, cell_size_m, synthetic))).add_to(fmap)
    # the layer control sits top left, over the Thames, clear of the borough
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    return fmap


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
