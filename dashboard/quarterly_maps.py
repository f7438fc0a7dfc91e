"""The Quarterly page's maps: wards by rate per 1,000 residents, and hotspots over time.

Built from ``dashboard.maps``'s pieces; every piece of text is escaped, nothing comes from a CDN.
"""

from __future__ import annotations

import folium
import geopandas as gpd
import pandas as pd
import shapely

from dashboard import maps
from dashboard.emerging_hotspots import PATTERN_COLOURS, PATTERNS
from dashboard.geo import WGS84
from dashboard.quarterly import RateClasses

LAYER_RATES = "Rate per 1,000 residents"
LAYER_PATTERNS = "Hotspots over time"
NO_RATE = "#ffffff"


def _framed(wards: gpd.GeoDataFrame, style: maps.MapStyle) -> folium.Map:
    minx, miny, maxx, maxy = wards.total_bounds
    fmap = maps.offline_map(((miny + maxy) / 2, (minx + maxx) / 2), style)
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    return fmap


def ward_rate_map(
    ward_map: gpd.GeoDataFrame, classes: RateClasses, style: maps.MapStyle, what: str
) -> folium.Map:
    """Wards filled by their rate class (YlOrRd), with name, count and rate on hover.

    ``ward_map`` is ``QuarterlyReport.ward_map`` (EPSG:4326: ``code``, ``name``, ``count``,
    ``rate_per_1000``, ``rate_class``); a ward without a rate (no population, or a hidden small
    count) is white and says why. The legend names the classification and each range.
    """
    fmap = _framed(ward_map, style)
    shown = ward_map[["code", "name", "count", "rate_per_1000", "rate_class", "geometry"]].copy()
    shown["name"] = shown["name"].map(maps.text)
    shown["count"] = shown["count"].astype(str)
    shown["rate"] = [
        "no rate" if pd.isna(rate) else f"{rate:.1f}" for rate in shown["rate_per_1000"]
    ]
    shown["colour"] = [
        NO_RATE if pd.isna(cls) else maps.HOTSPOT_COLOURS[min(int(cls), 5) - 1]
        for cls in shown["rate_class"]
    ]
    shown = shown.drop(columns=["rate_per_1000", "rate_class"])
    shown["geometry"] = shapely.set_precision(shown.geometry.array, 1e-6)
    layer = folium.FeatureGroup(name=LAYER_RATES, show=True)
    folium.GeoJson(
        shown.to_json(drop_id=True),
        name=LAYER_RATES,
        style_function=lambda feature: {
            "color": maps.WARD_OUTLINE,
            "weight": 1.5,
            "fillColor": feature["properties"]["colour"],
            "fillOpacity": 0.75,
            "className": "rate-ward",
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["name", "count", "rate"], aliases=["Ward", what, "Per 1,000 residents"]
        ),
    ).add_to(layer)
    layer.add_to(fmap)
    legend = [f"<strong>{maps.text(what)} per 1,000 residents</strong>"]
    legend.append(f"<div>{maps.text(classes.label)}</div>")
    legend += [
        maps.swatch(maps.HOTSPOT_COLOURS[index], label)
        for index, label in enumerate(classes.legend)
    ]
    legend.append(maps.swatch(NO_RATE, "No rate (no population, or a hidden small count)"))
    maps.Legend("".join(legend)).add_to(fmap)
    return fmap


def pattern_map(
    wards: gpd.GeoDataFrame, cells_bng: gpd.GeoDataFrame, style: maps.MapStyle
) -> folium.Map:
    """Ward outlines and the cells that were ever hot, filled by their pattern over time."""
    fmap = _framed(wards, style)
    maps.add_ward_layer(fmap, wards)
    layer = folium.FeatureGroup(name=LAYER_PATTERNS, show=True)
    if len(cells_bng):
        cells = cells_bng[["cell_id", "pattern", "hot_periods", "trend", "geometry"]].to_crs(WGS84)
        cells["geometry"] = shapely.set_precision(cells.geometry.array, 1e-6)
        folium.GeoJson(
            cells.to_json(drop_id=True),
            name=LAYER_PATTERNS,
            style_function=lambda feature: {
                "color": "#333333",
                "weight": 0.6,
                "fillColor": PATTERN_COLOURS[feature["properties"]["pattern"]],
                "fillOpacity": 0.85,
                "className": "pattern-cell " + feature["properties"]["pattern"],
            },
            tooltip=folium.GeoJsonTooltip(
                fields=["pattern", "hot_periods", "trend", "cell_id"],
                aliases=["Pattern", "Quarters hot", "Trend", "Cell"],
            ),
        ).add_to(layer)
    layer.add_to(fmap)
    legend = [f"<strong>{LAYER_PATTERNS}</strong>"]
    legend += [
        maps.swatch(PATTERN_COLOURS[pattern], pattern.capitalize())
        for pattern in PATTERNS
        if pattern != "never hot"
    ]
    maps.Legend("".join(legend)).add_to(fmap)
    folium.LayerControl(collapsed=True, position="topleft").add_to(fmap)
    return fmap
