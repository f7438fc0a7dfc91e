import re

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Point, box

from dashboard.geo import BNG
from dashboard.hotspots import borough_grid, count_class_breaks, count_on_grid
from dashboard.maps import (
    CSO_PALETTE,
    LAYER_BINS,
    LAYER_BUS,
    LAYER_CSO,
    LAYER_HOTSPOTS,
    LAYER_WARDS,
    MapStyle,
    borough_map,
    map_html,
)

PAYLOAD = '<script>alert("x")</script>'


def small_borough(cso_name: str = "Priya Okafor", bin_name: str = "Library bin") -> dict:
    wards = gpd.GeoDataFrame(
        {
            "code": ["E05000001", "E05000002"],
            "name": ["North", "South"],
            "population": [1000, 2000],
        },
        geometry=[box(-0.20, 51.46, -0.18, 51.47), box(-0.20, 51.45, -0.18, 51.46)],
        crs="EPSG:4326",
    )
    assignments = pd.DataFrame(
        {
            "ward_code": ["E05000001", "E05000002"],
            "cso_id": [1, 2],
            "cso_name": [cso_name, "Tom Reyes"],
        }
    )
    bins = gpd.GeoDataFrame(
        {
            "asset_id": [1],
            "name": [bin_name],
            "address": ["1 High Street"],
            "guidance": ["Wrap blades first"],
            "longitude": [-0.19],
            "latitude": [51.465],
        },
        geometry=[Point(-0.19, 51.465)],
        crs="EPSG:4326",
    )
    stops = bins.assign(asset_id=[2], name=["Estate stop"])
    schedule = pd.DataFrame(
        {"stop_id": [2], "when": ["Tuesday 16:00-19:30"], "activity": ["music"]}
    )
    return {
        "wards": wards,
        "assignments": assignments,
        "bins": bins,
        "bus_stops": stops,
        "schedule": schedule,
    }


def render(parts: dict, x_bng: np.ndarray, y_bng: np.ndarray, style: MapStyle | None = None) -> str:
    grid = borough_grid(parts["wards"].to_crs(BNG), cell_size_m=250)
    cells = count_on_grid(grid, x_bng, y_bng, cell_size_m=250)
    fmap = borough_map(
        **parts,
        cells_bng=cells,
        hotspot_breaks=count_class_breaks(cells["incident_count"]),
        cell_size_m=250,
        style=style or MapStyle(static_url_prefix="/app/static"),
        synthetic=True,
    )
    return map_html(fmap)


def test_the_map_has_five_named_layers_and_loads_leaflet_from_the_app():
    html = render(small_borough(), np.array([525000.0]), np.array([175000.0]))

    for layer in (LAYER_WARDS, LAYER_CSO, LAYER_BINS, LAYER_BUS, LAYER_HOTSPOTS):
        assert f'"{layer}"' in html
    assert '<script src="/app/static/vendor/leaflet/leaflet.js"></script>' in html
    assert "/app/static/vendor/jquery/jquery.min.js" in html
    assert "Demo data: incidents, CSOs and schedules are synthetic." in html


def test_with_tiles_off_the_page_names_no_other_host():
    html = render(small_borough(), np.array([525000.0]), np.array([175000.0]))

    # only links inside popups and the ONS attribution are allowed, and they are not loaded
    addresses = set(re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", html))
    assert addresses == set()
    assert "cdn" not in html.lower()


def test_configured_tiles_and_their_attribution_are_used():
    style = MapStyle("/app/static", "https://tiles.example.org/{z}/{x}/{y}.png", "Example Tiles")

    html = render(small_borough(), np.array([525000.0]), np.array([175000.0]), style)

    assert "https://tiles.example.org/{z}/{x}/{y}.png" in html
    assert "Example Tiles" in html


def test_cso_colours_come_from_the_colour_blind_safe_palette():
    html = render(small_borough(), np.array([525000.0]), np.array([175000.0]))

    assert CSO_PALETTE[0] in html
    assert CSO_PALETTE[1] in html


def test_typed_text_is_escaped_in_tooltips_popups_and_legend():
    html = render(
        small_borough(cso_name=PAYLOAD, bin_name=f"Bin {PAYLOAD}"),
        np.array([525000.0]),
        np.array([175000.0]),
    )

    assert PAYLOAD not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_the_page_does_not_grow_with_the_number_of_incidents():
    rng = np.random.default_rng(7)
    west, south, east, north = small_borough()["wards"].to_crs(BNG).total_bounds

    def incidents(count: int) -> tuple[np.ndarray, np.ndarray]:
        return rng.uniform(west, east, count), rng.uniform(south, north, count)

    few, many = (
        render(small_borough(), *incidents(10)),
        render(small_borough(), *incidents(100_000)),
    )

    # 10 incidents leave most cells empty, 100,000 fill them all: the page is the same size
    assert abs(len(many) - len(few)) / len(few) < 0.03  # only digits and colours differ
    assert many.count('"incident_count"') == few.count('"incident_count"')
