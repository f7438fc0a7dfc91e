import math
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from jinja2.utils import htmlsafe_json_dumps
from shapely.geometry import Point, box

from dashboard.errors import InvalidInput
from dashboard.geo import BNG, WGS84
from dashboard.hotspots import borough_grid, count_class_breaks, count_on_grid
from dashboard.maps import (
    CSO_PALETTE,
    HOTSPOT_COLOURS,
    LAYER_BINS,
    LAYER_BUS,
    LAYER_CSO,
    LAYER_HOTSPOTS,
    LAYER_PLANS,
    LAYER_SIGNIFICANT,
    LAYER_WARDS,
    PLAN_STATUS_COLOURS,
    SIGNIFICANCE_COLOURS,
    DrawnAreaInvalid,
    MapStyle,
    borough_map,
    buffer_ring,
    drawn_area,
    legend_html,
    map_html,
    plan_area_map,
    plan_detail_map,
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


def render(
    parts: dict,
    x_bng: np.ndarray,
    y_bng: np.ndarray,
    style: MapStyle | None = None,
    plans: gpd.GeoDataFrame | None = None,
) -> str:
    grid = borough_grid(parts["wards"].to_crs(BNG), cell_size_m=250)
    cells = count_on_grid(grid, x_bng, y_bng, cell_size_m=250)
    fmap = borough_map(
        **parts,
        cells_bng=cells,
        hotspot_breaks=count_class_breaks(cells["incident_count"]),
        cell_size_m=250,
        style=style or MapStyle(static_url_prefix="/app/static"),
        synthetic=True,
        plans=plans,
    )
    return map_html(fmap)


def loaded_addresses(html: str) -> set[str]:
    """Remote addresses the page would load (scripts, stylesheets, images)."""
    return set(re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", html))


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


# --- problem-solving plans -------------------------------------------------------------------

ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
# GeoJSON properties reach the page through Jinja's tojson, which also writes & < > as \\u00XX
ESCAPED_IN_GEOJSON = htmlsafe_json_dumps(ESCAPED).strip('"')


def some_plans(title: str = "Stairwell robberies", status: str = "open") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "plan_id": [7, 8],
            "title": [title, "Park after dark"],
            "status": [status, "closed"],
            "sara_stage": ["response", "assessment"],
            "open_actions": [3, 0],
            "overdue_actions": [2, 0],
            "at_risk_actions": [1, 0],
        },
        geometry=[box(-0.195, 51.462, -0.185, 51.468), box(-0.195, 51.452, -0.19, 51.455)],
        crs=WGS84,
    )


def test_plans_are_a_named_layer_outlined_by_status_with_a_legend():
    html = render(small_borough(), np.array([525000.0]), np.array([175000.0]), plans=some_plans())

    assert f'"{LAYER_PLANS}"' in html
    assert '"className": "plan-area plan-open plan-has-overdue"' in html
    assert '"className": "plan-area plan-closed"' in html
    assert PLAN_STATUS_COLOURS["open"] in html
    assert PLAN_STATUS_COLOURS["closed"] in html
    assert "2 overdue" in html  # in words in the tooltip, not in colour alone
    assert "Monitoring" in html  # the legend names every status
    # plans sit in their own pane above the other areas, so a click there hits the plan
    assert '"pane": "plans"' in html
    assert ".createPane(" in html
    assert loaded_addresses(html) == set()


def test_plan_colours_are_not_hotspot_or_cso_colours():
    used = {colour.lower() for colour in (*HOTSPOT_COLOURS, *CSO_PALETTE)}

    assert not {colour.lower() for colour in PLAN_STATUS_COLOURS.values()} & used
    assert len(set(PLAN_STATUS_COLOURS.values())) == 3


def test_without_plans_the_main_map_has_no_plans_layer_or_legend():
    html = render(small_borough(), np.array([525000.0]), np.array([175000.0]))

    assert LAYER_PLANS not in html
    assert "plan-area" not in html


def test_the_open_actions_of_plans_in_view_are_listed_on_the_map_as_text_only():
    from datetime import date

    from dashboard.maps import add_plans_in_view_panel, offline_map

    actions = pd.DataFrame(
        {
            "plan_id": [7, 7],
            "flag": ["Overdue", "On track"],
            "due_on": [date(2026, 11, 6), date(2027, 1, 8)],
            "description": [PAYLOAD, "Lighting survey"],
            "owner_agency": ["Metropolitan Police", "Housing"],
        }
    )
    fmap = offline_map((51.46, -0.19), MapStyle())

    add_plans_in_view_panel(fmap, some_plans(PAYLOAD), actions)

    html = map_html(fmap)
    assert "Open actions in view (" in html
    assert '"due": "6 Nov 2026"' in html
    assert '"attention": true' in html  # overdue: bold red and in words
    assert '"bounds": [[51.462, -0.195], [51.468, -0.185]]' in html  # filtered on every move
    assert PAYLOAD not in html  # JSON for a script: < and > are \u003c and \u003e
    assert "innerHTML" not in html.split("plans-in-view")[1].split("panel.addTo")[0]


def test_a_plan_title_typed_with_markup_is_escaped():
    html = render(
        small_borough(), np.array([525000.0]), np.array([175000.0]), plans=some_plans(PAYLOAD)
    )

    assert PAYLOAD not in html
    assert htmlsafe_json_dumps(PAYLOAD).strip('"') not in html  # not even JSON-encoded
    assert ESCAPED_IN_GEOJSON in html


def test_the_legend_keeps_its_old_call_and_adds_plans_on_request():
    before = legend_html({"Priya Okafor": CSO_PALETTE[0]}, [1, 3], 250, False)
    with_plans = legend_html({"Priya Okafor": CSO_PALETTE[0]}, [1, 3], 250, False, ("open",))

    assert LAYER_PLANS not in before
    assert LAYER_PLANS in with_plans
    assert with_plans.startswith(before)
    assert "Open" in with_plans
    assert "Closed" not in with_plans


@pytest.mark.parametrize(
    ("plans", "message"),
    [
        (some_plans().drop(columns="overdue_actions"), "lack the column.*overdue_actions"),
        (some_plans(status="paused"), "status must be one of open, monitoring, closed.*paused"),
        (some_plans().set_crs(None, allow_override=True), "no CRS"),
    ],
)
def test_plans_the_layer_cannot_draw_are_refused_naming_the_problem(plans, message):
    with pytest.raises(ValueError, match=message):
        render(small_borough(), np.array([525000.0]), np.array([175000.0]), plans=plans)


def test_the_plan_area_map_loads_leaflet_draw_from_the_app_not_a_cdn():
    html = map_html(
        plan_area_map(
            wards=small_borough()["wards"], style=MapStyle("/app/static"), plans=some_plans()
        )
    )

    assert '<script src="/app/static/vendor/leaflet-draw/leaflet.draw.js"></script>' in html
    assert (
        '<link rel="stylesheet" href="/app/static/vendor/leaflet-draw/leaflet.draw.css"/>' in html
    )
    assert loaded_addresses(html) == set()
    assert "cdn" not in html.lower()
    # areas only: no lines or markers, and no alert() when a drawn shape is clicked
    for tool in ("polyline", "marker", "circlemarker"):
        assert f'"{tool}": false' in html
    assert "alert(coords)" not in html
    assert '"className": "drawn-area"' in html


def test_the_plan_area_map_can_leave_drawing_out_when_leaflet_draw_is_missing():
    html = map_html(
        plan_area_map(wards=small_borough()["wards"], style=MapStyle("/app/static"), drawing=False)
    )

    assert "leaflet.draw" not in html
    assert '"className": "ward"' in html


def test_the_plan_area_map_shows_cells_plans_and_the_proposed_area():
    wards = small_borough()["wards"]
    cells = count_on_grid(
        borough_grid(wards.to_crs(BNG), 250), np.array([525000.0]), np.array([175000.0]), 250
    )
    proposed = {
        "type": "Feature",
        "properties": {},
        "geometry": box(-0.19, 51.46, -0.185, 51.465).__geo_interface__,
    }

    html = map_html(
        plan_area_map(
            wards=wards,
            style=MapStyle("/app/static"),
            plans=some_plans(),
            cells_bng=cells,
            proposed_area=proposed,
        )
    )

    assert '"className": "proposed-area"' in html
    assert '"interactive": false' in html  # the wards and cells beneath stay clickable
    assert '"className": "hotspot-cell' in html
    assert '"className": "plan-area plan-open plan-has-overdue"' in html
    assert '"className": "ward"' in html


# Branca compiles each map element's rendered output as a Jinja template again; typed into a
# name, the first would be evaluated to "jinjaran" and the others would stop the map drawing
JINJA_PAYLOADS = (
    "{{ dict(jinja=1)|first ~ dict(ran=1)|first }}",
    "{% broken tag",
    "{# an open comment",
)


@pytest.mark.parametrize("payload", JINJA_PAYLOADS)
def test_typed_text_that_looks_like_a_template_is_shown_not_run(payload):
    parts = small_borough(cso_name=f"CSO {payload}", bin_name=f"Bin {payload}")
    parts["wards"].loc[0, "name"] = f"Ward {payload}"
    parts["bus_stops"].loc[:, "address"] = f"Stop {payload}"
    parts["schedule"].loc[:, "activity"] = f"Music {payload}"
    actions = pd.DataFrame(
        {
            "plan_id": [7],
            "flag": ["Overdue"],
            "due_on": [pd.Timestamp("2026-11-06").date()],
            "description": [f"Action {payload}"],
            "owner_agency": [f"Agency {payload}"],
        }
    )
    grid = borough_grid(parts["wards"].to_crs(BNG), cell_size_m=250)
    cells = count_on_grid(grid, np.array([525000.0]), np.array([175000.0]), cell_size_m=250)

    html = map_html(
        borough_map(
            **parts,
            cells_bng=cells,
            hotspot_breaks=count_class_breaks(cells["incident_count"]),
            cell_size_m=250,
            style=MapStyle(
                "/app/static", "https://tiles.example.org/{z}/{x}/{y}.png", f"Tiles {payload}"
            ),
            synthetic=True,
            plans=some_plans(f"Plan {payload}"),
            open_actions=actions,
        )
    )

    assert "jinjaran" not in html
    assert payload not in html  # not once as it was typed
    # HTML shows a character reference as the brace it stands for; in a script's JSON (the
    # legend, GeoJSON tooltips) its "&" is \u0026, which JavaScript reads back as "&"
    as_html = payload[:2].replace("{", "&#123;")
    as_html_in_json = as_html.replace("&", "\\u0026")
    for label in ("Bin", "Stop", "Music"):  # popups and marker tooltips
        assert f"{label} {as_html}" in html, label
    for label in ("CSO", "Ward", "Plan", "Tiles"):  # the legend, GeoJSON tooltips, attribution
        assert f"{label} {as_html_in_json}" in html, label
    for label in ("Action", "Agency", "Plan"):  # the open-actions panel sets textContent
        assert f"{label} \\u007b{payload[1]}" in html, label


def plan_cells() -> gpd.GeoDataFrame:
    """Ten 100 m cells in a row with 1 to 10 incidents: two in each of the 5 hotspot classes."""
    west = np.arange(526000, 527000, 100)
    return gpd.GeoDataFrame(
        {"cell_id": [f"{x}_175000" for x in west], "incident_count": list(range(1, 11))},
        geometry=[box(x, 175000, x + 100, 175100) for x in west],
        crs=BNG,
    )


def test_the_plan_map_shows_area_ring_cells_assets_and_escaped_actions():
    parts = small_borough()
    actions = pd.DataFrame(
        {
            "action_id": [1, 2],
            "description": [f"Fix lights {PAYLOAD}", "Letter drop (no place)"],
            "status": ["open", "done"],
            "longitude": [-0.19, None],
            "latitude": [51.465, None],
        }
    )

    html = map_html(
        plan_detail_map(
            plan_area=box(-0.195, 51.462, -0.185, 51.468),
            title=f"Stairwells {PAYLOAD}",
            style=MapStyle("/app/static"),
            status="monitoring",
            buffer_m=200,
            cells_bng=plan_cells(),
            cell_size_m=100,
            bins=parts["bins"],
            bus_stops=parts["bus_stops"],
            schedule=parts["schedule"],
            actions=actions,
        )
    )

    assert '"className": "plan-area plan-monitoring"' in html
    assert '"className": "plan-buffer"' in html
    assert "Within 200 m of the plan area" in html
    assert html.count('"action-point"') == 1  # the action with no place is left off
    assert "knife-bin" in html
    assert "youth-bus-stop" in html
    assert all(colour in html for colour in HOTSPOT_COLOURS)
    assert PAYLOAD not in html
    assert ESCAPED_IN_GEOJSON in html  # the area's tooltip
    assert ESCAPED in html  # the action's popup
    assert loaded_addresses(html) == set()


def test_the_buffer_ring_is_the_band_around_the_area_in_metres():
    square_bng = box(526000, 175000, 526100, 175100)
    square_wgs84 = gpd.GeoSeries([square_bng], crs=BNG).to_crs(WGS84).iloc[0]

    ring = buffer_ring(square_wgs84, 50)

    ring_m2 = gpd.GeoSeries([ring], crs=WGS84).to_crs(BNG).area.iloc[0]
    # 4 strips of 100 x 50 m and four quarter circles of radius 50 m
    assert ring_m2 == pytest.approx(4 * 100 * 50 + math.pi * 50**2, rel=0.01)
    assert not ring.contains(square_wgs84.centroid)


# --- what st_folium hands back after drawing ---------------------------------------------------

# as Leaflet's toGeoJSON writes them (6 decimals), in the borough
POLYGON = {
    "type": "Feature",
    "properties": {},
    "geometry": {
        "type": "Polygon",
        "coordinates": [
            [
                [-0.197, 51.462],
                [-0.186, 51.4625],
                [-0.185, 51.468],
                [-0.196, 51.4675],
                [-0.197, 51.462],
            ]
        ],
    },
}
CIRCLE = {
    "type": "Feature",
    "properties": {"radius": 150.0},
    "geometry": {"type": "Point", "coordinates": [-0.190013, 51.465005]},
}
WARD_CLICK = {
    "type": "Feature",
    "properties": {"ward_code": "E05000001", "name": "North"},
    "geometry": box(-0.20, 51.46, -0.18, 51.47).__geo_interface__,
}


def area_m2(geometry) -> float:
    return gpd.GeoSeries([geometry], crs=WGS84).to_crs(BNG).area.iloc[0]


def test_a_drawn_polygon_comes_back_as_that_polygon():
    area = drawn_area({"last_active_drawing": POLYGON, "all_drawings": [POLYGON]})

    assert area.geom_type == "Polygon"
    assert list(area.exterior.coords) == [tuple(xy) for xy in POLYGON["geometry"]["coordinates"][0]]
    assert area_m2(area) == pytest.approx(463_700, rel=0.005)


def test_a_circle_comes_back_as_a_polygon_of_its_radius_in_metres():
    area = drawn_area({"last_active_drawing": CIRCLE, "all_drawings": [CIRCLE]})

    assert area.geom_type == "Polygon"
    assert len(area.exterior.coords) - 1 == 64
    assert area_m2(area) == pytest.approx(math.pi * 150**2, rel=0.005)
    centre_bng = gpd.GeoSeries([Point(CIRCLE["geometry"]["coordinates"])], crs=WGS84).to_crs(BNG)
    assert gpd.GeoSeries([area], crs=WGS84).to_crs(BNG).centroid.distance(centre_bng).iloc[
        0
    ] == pytest.approx(0, abs=0.5)


@pytest.mark.parametrize(
    "result",
    [
        None,
        {},
        {"last_active_drawing": None, "all_drawings": None},
        {"last_active_drawing": None, "all_drawings": []},
        # a ward click also sets last_active_drawing, but nothing was drawn
        {"last_active_drawing": WARD_CLICK, "all_drawings": []},
        {"last_active_drawing": WARD_CLICK},
    ],
)
def test_nothing_drawn_is_none(result):
    assert drawn_area(result) is None


def test_the_newest_drawing_still_on_the_map_wins_over_a_later_click():
    area = drawn_area({"last_active_drawing": WARD_CLICK, "all_drawings": [CIRCLE, POLYGON]})

    assert area_m2(area) == pytest.approx(463_700, rel=0.005)


def test_without_all_drawings_a_drawn_last_active_drawing_is_used():
    area = drawn_area({"last_active_drawing": CIRCLE})

    assert area_m2(area) == pytest.approx(math.pi * 150**2, rel=0.005)


def test_a_boundary_crossing_itself_at_one_corner_is_repaired():
    # a ring that touches itself: valid once make_valid splits nothing away
    spike = {
        "type": "Feature",
        "properties": {},
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [
                    [-0.197, 51.462],
                    [-0.186, 51.462],
                    [-0.186, 51.468],
                    [-0.197, 51.468],
                    [-0.197, 51.465],
                    [-0.190, 51.465],
                    [-0.197, 51.465],
                    [-0.197, 51.462],
                ]
            ],
        },
    }

    area = drawn_area({"all_drawings": [spike]})

    assert area.is_valid
    assert area.geom_type == "Polygon"


@pytest.mark.parametrize(
    ("geometry", "properties", "message"),
    [
        (
            {
                "type": "Polygon",
                "coordinates": [
                    [
                        [-0.197, 51.462],
                        [-0.186, 51.468],
                        [-0.186, 51.462],
                        [-0.197, 51.468],
                        [-0.197, 51.462],
                    ]
                ],
            },
            {},
            "crosses itself",
        ),
        (
            {"type": "LineString", "coordinates": [[-0.197, 51.462], [-0.186, 51.468]]},
            {},
            "A line is not an area",
        ),
        ({"type": "Point", "coordinates": [-0.19, 51.465]}, {}, "A point is not an area"),
        ({"type": "Point", "coordinates": [-0.19, 51.465]}, {"radius": 3}, "too small"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1]]]}, {}, "cannot read"),
    ],
)
def test_shapes_that_cannot_be_a_plan_area_are_refused_saying_what_to_do(
    geometry, properties, message
):
    feature = {"type": "Feature", "properties": properties, "geometry": geometry}

    with pytest.raises(DrawnAreaInvalid, match=message) as raised:
        drawn_area({"all_drawings": [feature]})

    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, InvalidInput)
    assert "pick a ward, hotspot cells or a named place, or upload GeoJSON" in str(raised.value)


def test_the_gi_star_layer_draws_only_significant_cells_and_starts_switched_off():
    parts = small_borough()
    grid = borough_grid(parts["wards"].to_crs(BNG), cell_size_m=250)
    cells = count_on_grid(grid, np.array([]), np.array([]), cell_size_m=250)
    cells["gi_z"] = 0.0
    cells["hotspot_class"] = "not significant"
    cells.loc[0, ["hotspot_class", "gi_z", "incident_count"]] = ["hot 99%", 4.2, 30]
    cells.loc[1, ["hotspot_class", "gi_z"]] = ["cold 95%", -2.1]
    cells.attrs["small_numbers"] = "cells with fewer than 5 incidents are never labelled hot"

    html = map_html(
        borough_map(
            **parts,
            cells_bng=cells,
            hotspot_breaks=[1],
            cell_size_m=250,
            style=MapStyle(),
            synthetic=False,
            significance_cells=cells,
        )
    )

    assert f'"{LAYER_SIGNIFICANT}"' in html
    assert html.count("significance-cell ") == 2  # a style per drawn cell: hot and cold only
    assert html.count('"hotspot_class": "hot 99%"') == 1
    assert html.count('"hotspot_class": "cold 95%"') == 1
    assert '"hotspot_class": "not significant"' not in html  # never drawn
    assert SIGNIFICANCE_COLOURS["hot 99%"] in html
    assert "Hot spot, 99% confidence" in html
    assert "never labelled hot" in html
    # switched off at first (the counts already fill the same squares): in the layer control,
    # never added to the map
    layer = re.search(rf'"{re.escape(LAYER_SIGNIFICANT)}" : (feature_group_\w+)', html)[1]
    assert f"{layer}.addTo(" not in html
    shown = re.search(rf'"{re.escape(LAYER_HOTSPOTS)}" : (feature_group_\w+)', html)[1]
    assert f"{shown}.addTo(" in html
