"""The Hotspots page's map (Gi* classes or a density surface) and the Patrol plan page's map.

Built from the layers of ``dashboard.maps`` and, like them, with every piece of text escaped
and nothing fetched from outside the app: the density surface is a PNG drawn here and sent as
a data URL.
"""

from __future__ import annotations

import base64
import io

import folium
import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import shapely

from dashboard import maps
from dashboard.geo import WGS84
from dashboard.hotspot_analysis import DensityRaster, HotspotAnalysis
from dashboard.patrol_plan import PatrolPlan

matplotlib.use("Agg")  # no display on a server
from matplotlib import colormaps
from matplotlib import pyplot as plt

LAYER_DENSITY = "Kernel density"
LAYER_ROUTE = "Patrol route"
LAYER_CANDIDATES = "Cells you can add"
DENSITY_CMAP = "YlOrRd"  # sequential and colour-blind safe, as the count classes
ROUTE_COLOUR = "#000000"
STOP_FILL = "#ffffff"


def _density_png(raster: DensityRaster) -> tuple[bytes, float]:
    """The surface as an RGBA PNG (transparent where zero or outside), and its top value."""
    values = raster.values
    finite = values[np.isfinite(values) & (values > 0)]
    top = float(np.quantile(finite, 0.995)) if finite.size else 1.0
    scaled = np.clip(np.nan_to_num(values, nan=0.0) / top, 0.0, 1.0)
    rgba = colormaps[DENSITY_CMAP](scaled)
    # fade in from nothing, so quiet streets stay readable under the surface
    rgba[..., 3] = np.where(np.isfinite(values), np.sqrt(scaled) * 0.85, 0.0)
    buffer = io.BytesIO()
    plt.imsave(buffer, rgba, format="png")
    return buffer.getvalue(), top


def _density_legend(top: float, bandwidth_m: float, harm: bool) -> list[str]:
    what = "harm" if harm else "incidents"
    ramp = ", ".join(_hex(share) for share in (0.1, 0.4, 0.7, 1.0))
    return [
        f"<strong>{LAYER_DENSITY}</strong>",
        f"<div>Quartic kernel, {bandwidth_m:.0f} m radius; {what} per km²</div>",
        f'<div style="height:10px;background:linear-gradient(to right,{ramp})"></div>',
        f"<div style='display:flex;justify-content:space-between'><span>0</span>"
        f"<span>{top:,.0f}+</span></div>",
    ]


def _hex(share: float) -> str:
    red, green, blue, _ = colormaps[DENSITY_CMAP](share, bytes=True)
    return f"#{red:02x}{green:02x}{blue:02x}"


def add_density_layer(fmap: folium.Map, raster: DensityRaster, show: bool = True) -> float:
    """The density surface as an image over the map; returns the value at the top of the scale."""
    png, top = _density_png(raster)
    south, west, north, east = raster.bounds_wgs84
    layer = folium.FeatureGroup(name=LAYER_DENSITY, show=show)
    folium.raster_layers.ImageOverlay(
        image="data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        bounds=[[south, west], [north, east]],
        name=LAYER_DENSITY,
        interactive=False,
        className="density-surface",
    ).add_to(layer)
    layer.add_to(fmap)
    return top


def _fit_to(fmap: folium.Map, frame: gpd.GeoDataFrame) -> None:
    minx, miny, maxx, maxy = frame.to_crs(WGS84).total_bounds
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])


def hotspot_page_map(
    *,
    wards: gpd.GeoDataFrame,
    analysis: HotspotAnalysis,
    raster: DensityRaster | None,
    bins: gpd.GeoDataFrame,
    bus_stops: gpd.GeoDataFrame,
    schedule: pd.DataFrame,
    style: maps.MapStyle,
    synthetic: bool,
    focus_wards: tuple[str, ...] = (),
) -> folium.Map:
    """Wards, the Gi* classes (or, given ``raster``, the density surface instead) and assets.

    The map fits the ``focus_wards`` (all wards when empty). Both views are layers in the layer
    control, with a legend that says what they show.
    """
    focus = wards[wards["code"].isin(focus_wards)] if focus_wards else wards
    minx, miny, maxx, maxy = focus.total_bounds
    fmap = maps.offline_map(((miny + maxy) / 2, (minx + maxx) / 2), style)
    maps.add_ward_layer(fmap, wards)
    legend: list[str] = [maps.swatch("transparent", maps.LAYER_WARDS, maps.WARD_OUTLINE)]
    if raster is None:
        maps.add_significance_layer(fmap, analysis.cells)
        legend += maps.significance_legend(analysis.small_numbers)
    else:
        top = add_density_layer(fmap, raster)
        legend += _density_legend(top, raster.bandwidth_m, analysis.value_column == "harm")
    maps.add_knife_bin_layer(fmap, bins)
    maps.add_youth_bus_layer(fmap, bus_stops, schedule)
    legend += [
        f"<div>{maps.knife_bin_glyph()} Knife amnesty bin</div>",
        f"<div>{maps.bus_glyph()} Youth Bus stop</div>",
    ]
    if synthetic:
        legend.append("<em>Demo data: incidents are synthetic.</em>")
    folium.LayerControl(collapsed=True, position="topleft").add_to(fmap)
    maps.Legend(maps.folded("".join(legend))).add_to(fmap)
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    return fmap


def _stop_icon(order: int) -> folium.DivIcon:
    return folium.DivIcon(
        html=(
            f'<div style="width:26px;height:26px;border-radius:50%;background:{STOP_FILL};'
            f"border:3px solid {ROUTE_COLOUR};font:bold 13px/20px sans-serif;text-align:center;"
            f'color:{ROUTE_COLOUR}" aria-label="Stop {order}">{order}</div>'
        ),
        class_name="patrol-stop",
        icon_size=(26, 26),
        icon_anchor=(13, 13),
    )


def patrol_map(
    *,
    wards: gpd.GeoDataFrame,
    plan: PatrolPlan,
    style: maps.MapStyle,
    synthetic: bool,
) -> folium.Map:
    """The CSO's wards, the cells they may visit, the route with numbered stops, and what is near.

    Every cell with incidents in the wards is drawn (hot ones by Gi* class, the others as grey
    outlines) and is clickable: its ``cell_id`` and ``is_stop`` come back to the page, which
    offers to add or remove it. The numbered stop markers let clicks through to their cell.
    """
    request = plan.request
    own = wards[wards["code"].isin(request.ward_codes)]
    minx, miny, maxx, maxy = own.total_bounds
    fmap = maps.offline_map(((miny + maxy) / 2, (minx + maxx) / 2), style, zoom_start=14)
    maps.add_ward_layer(fmap, wards)

    stops = set(plan.route.cell_ids)
    cells = plan.candidates[["cell_id", "hotspot_class", "incident_count", "geometry"]].copy()
    if len(cells):
        cells = cells.to_crs(WGS84)
        cells["geometry"] = shapely.set_precision(cells.geometry.array, 1e-6)
        cells["is_stop"] = cells["cell_id"].isin(stops)
        cells["action"] = np.where(cells["is_stop"], "Click to remove this stop", "Click to add")
        layer = folium.FeatureGroup(name=LAYER_CANDIDATES, show=True)
        folium.GeoJson(
            cells.to_json(drop_id=True),
            name=LAYER_CANDIDATES,
            style_function=lambda feature: {
                "color": ROUTE_COLOUR if feature["properties"]["is_stop"] else "#666666",
                "weight": 2.5 if feature["properties"]["is_stop"] else 0.8,
                "fillColor": maps.SIGNIFICANCE_COLOURS.get(
                    feature["properties"]["hotspot_class"], "#d9d9d9"
                ),
                "fillOpacity": 0.7,
                "className": "patrol-cell"
                + (" is-stop" if feature["properties"]["is_stop"] else ""),
            },
            highlight_function=lambda _feature: {"weight": 4},
            tooltip=folium.GeoJsonTooltip(
                fields=["hotspot_class", "incident_count", "cell_id", "action"],
                aliases=["Gi*", "Incidents in the window", "Cell", ""],
            ),
        ).add_to(layer)
        layer.add_to(fmap)

    route_layer = folium.FeatureGroup(name=LAYER_ROUTE, show=True)
    path = [(latitude, longitude) for longitude, latitude in plan.route.path_lonlat()]
    if len(path) > 1:
        folium.PolyLine(
            path, color=ROUTE_COLOUR, weight=3, dash_array="8 6", class_name="patrol-route"
        ).add_to(route_layer)
    for row in plan.route.stops.itertuples():
        folium.Marker(
            location=(float(row.latitude), float(row.longitude)),
            icon=_stop_icon(int(row.order)),
            interactive=False,  # a click goes to the cell beneath, which knows its id
        ).add_to(route_layer)
    route_layer.add_to(fmap)

    near = plan.assets
    maps.add_knife_bin_layer(fmap, _near_assets(near, "knife_bin"))
    bus_stops = _near_assets(near, "youth_bus_stop")
    maps.add_youth_bus_layer(
        fmap,
        bus_stops,
        pd.DataFrame(
            {
                "stop_id": bus_stops["asset_id"],
                "when": bus_stops["when"],
                "activity": bus_stops["activity"],
            }
        ),
    )
    if len(plan.actions):
        maps.add_action_layer(fmap, plan.actions)
    legend = [
        maps.swatch("transparent", maps.LAYER_WARDS, maps.WARD_OUTLINE),
        f"<strong>{LAYER_ROUTE}</strong>",
        "<div>Numbered circles: stops in visiting order; dashed line: the walk</div>",
        *maps.significance_legend(plan.analysis.small_numbers)[1:-1],
        maps.swatch("#d9d9d9", "Incidents, not significant", "#666666"),
        f"<div>{maps.knife_bin_glyph()} Knife amnesty bin near the route</div>",
        f"<div>{maps.bus_glyph()} Youth Bus stop, there during the shift</div>",
        f"<div>{maps.action_glyph()} Open plan action near the route</div>",
    ]
    if synthetic:
        legend.append("<em>Demo data: incidents are synthetic.</em>")
    maps.Legend(maps.folded("".join(legend))).add_to(fmap)
    folium.LayerControl(collapsed=True, position="topleft").add_to(fmap)
    fit = plan.route.stops if len(plan.route.stops) else None
    if fit is not None:
        south, north = fit["latitude"].min(), fit["latitude"].max()
        west, east = fit["longitude"].min(), fit["longitude"].max()
        pad = 0.003  # about 300 m, so the end stops are not on the frame's edge
        fmap.fit_bounds([[south - pad, west - pad], [north + pad, east + pad]])
    else:
        fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    return fmap


def _near_assets(near: pd.DataFrame, kind: str) -> gpd.GeoDataFrame:
    """The assets of one kind from ``patrol.assets_in_window``, shaped for the asset layers."""
    chosen = near[near["kind"] == kind] if len(near) else near
    return gpd.GeoDataFrame(
        {
            "asset_id": chosen.get("asset_id", pd.Series(dtype=object)),
            "name": chosen.get("name", pd.Series(dtype=object)).astype(str),
            "address": chosen.get("address", pd.Series(dtype=object)).fillna("").astype(str),
            "guidance": "",
            "when": chosen.get("when", pd.Series(dtype=object)),
            "activity": chosen.get("activity", pd.Series(dtype=object)),
            "longitude": chosen.get("longitude", pd.Series(dtype=float)),
            "latitude": chosen.get("latitude", pd.Series(dtype=float)),
        },
        geometry=gpd.points_from_xy(
            chosen.get("longitude", pd.Series(dtype=float)),
            chosen.get("latitude", pd.Series(dtype=float)),
        ),
        crs=WGS84,
    )
