import math
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

from dashboard.geo import BNG, WGS84, bng_to_wgs84
from dashboard.plan_evidence import (
    WddResult,
    area_cells,
    assess_area,
    assets_within,
    compare_weeks,
    displacement_buffer,
    incidents_in_area,
    monthly_trend,
    overlapping_plans,
    wdd,
)

# a 300 m x 200 m plan area on 100 m grid lines, in Wandsworth
AREA = box(530000, 180000, 530300, 180200)


def incidents_frame(
    points: list[tuple[float, float]],
    days: list[str],
    precision: list[str] | None = None,
) -> pd.DataFrame:
    """Incidents shaped like dashboard.store.queries.incidents, plus date_precision if given."""
    count = len(points)
    frame = pd.DataFrame(
        {
            "x_bng": np.array([x for x, _ in points], dtype=float),
            "y_bng": np.array([y for _, y in points], dtype=float),
            "ward_code": pd.Categorical(["E05014010"] * count),
            "category": pd.Categorical(["robbery"] * count),
            "occurred_on": pd.to_datetime(pd.Series(days, dtype=object)).astype("datetime64[s]"),
            "knife": np.zeros(count, dtype=bool),
            "domestic_abuse": np.zeros(count, dtype=bool),
            "under_25": pd.array([pd.NA] * count, dtype="boolean"),
        }
    )
    if precision is not None:
        frame["date_precision"] = precision
    return frame


def at(point: tuple[float, float], day: str, times: int, precision: str = "day") -> list:
    return [(point, day, precision)] * times


def build(rows: list) -> pd.DataFrame:
    return incidents_frame([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


# ---------------------------------------------------------------------------------------------
# incidents_in_area


def test_incidents_inside_or_on_the_edge_are_kept_with_their_index():
    incidents = incidents_frame(
        [
            (530150, 180100),  # inside
            (530300, 180100),  # on the east edge
            (530000, 180000),  # on the south-west corner
            (530301, 180100),  # 1 m east of the area
            (529000, 180100),  # far west
        ],
        ["2025-01-01"] * 5,
    )

    found = incidents_in_area(incidents, AREA)

    assert found.index.tolist() == [0, 1, 2]
    assert list(found.columns) == list(incidents.columns)


def test_a_point_in_the_bounding_box_but_outside_a_triangle_is_left_out():
    triangle = Polygon([(530000, 180000), (530300, 180000), (530000, 180300)])
    incidents = incidents_frame([(530050, 180050), (530250, 180250)], ["2025-01-01"] * 2)

    assert incidents_in_area(incidents, triangle).index.tolist() == [0]


def test_a_multipolygon_area_keeps_points_in_each_part_and_not_between_them():
    two_blocks = MultiPolygon(
        [box(530000, 180000, 530100, 180100), box(531000, 180000, 531100, 180100)]
    )
    incidents = incidents_frame(
        [(530050, 180050), (530500, 180050), (531050, 180050)], ["2025-01-01"] * 3
    )

    assert incidents_in_area(incidents, two_blocks).index.tolist() == [0, 2]


def test_matches_an_exact_point_in_polygon_test_on_many_random_points():
    rng = np.random.default_rng(7)
    ring = Point(530150, 180100).buffer(300).difference(Point(530150, 180100).buffer(100))
    x, y = rng.uniform(529700, 530600, 5000), rng.uniform(179700, 180500, 5000)
    incidents = incidents_frame(list(zip(x, y, strict=True)), ["2025-01-01"] * 5000)

    found = incidents_in_area(incidents, ring)

    expected = np.flatnonzero(shapely.intersects(ring, shapely.points(x, y)))
    assert found.index.to_numpy().tolist() == expected.tolist()
    assert 0 < len(found) < 5000


def test_no_incidents_gives_an_empty_frame_with_the_same_columns():
    empty = incidents_frame([], [])

    found = incidents_in_area(empty, AREA)

    assert found.empty
    assert list(found.columns) == list(empty.columns)


@pytest.mark.parametrize(
    ("area", "message"),
    [
        (box(-0.2, 51.4, -0.1, 51.5), "longitude/latitude degrees"),
        (Point(530000, 180000), "must be a shapely Polygon"),
        (Polygon(), "is empty"),
        (
            Polygon([(530000, 180000), (530100, 180100), (530100, 180000), (530000, 180100)]),
            "not a valid polygon",
        ),
    ],
)
def test_an_area_that_cannot_be_used_is_refused_with_the_reason(area, message):
    with pytest.raises(ValueError, match=message):
        incidents_in_area(incidents_frame([], []), area)


# ---------------------------------------------------------------------------------------------
# area_cells


def test_every_cell_of_the_area_is_listed_with_empty_ones_at_zero():
    incidents = incidents_frame(
        [(530010, 180010), (530020, 180020), (530250, 180150)], ["2025-01-01"] * 3
    )

    cells = area_cells(incidents, AREA, cell_size_m=100)

    assert cells.crs.to_epsg() == 27700
    assert dict(zip(cells["cell_id"], cells["incident_count"], strict=True)) == {
        "530000_180000": 2,
        "530200_180100": 1,
        "530000_180100": 0,
        "530100_180000": 0,
        "530100_180100": 0,
        "530200_180000": 0,
    }
    assert cells["cell_id"].tolist()[:2] == ["530000_180000", "530200_180100"]  # busiest first
    assert cells.geometry.area.tolist() == pytest.approx([10_000] * 6)


def test_cells_are_clipped_to_an_area_off_the_grid_lines():
    off_grid = box(530050, 180050, 530250, 180150)

    cells = area_cells(incidents_frame([], []), off_grid, cell_size_m=100)

    areas = dict(zip(cells["cell_id"], cells.geometry.area, strict=True))
    assert areas == pytest.approx(
        {
            "530000_180000": 2500,
            "530100_180000": 5000,
            "530200_180000": 2500,
            "530000_180100": 2500,
            "530100_180100": 5000,
            "530200_180100": 2500,
        }
    )
    assert cells.geometry.area.sum() == pytest.approx(off_grid.area)
    assert (cells["incident_count"] == 0).all()


def test_a_cell_touching_a_triangle_only_at_a_corner_is_left_out():
    # the hypotenuse runs through the corners (530100, 180100) and (530200, 180000)
    triangle = Polygon([(530000, 180000), (530200, 180000), (530000, 180200)])

    cells = area_cells(incidents_frame([], []), triangle, cell_size_m=100)

    assert sorted(cells["cell_id"]) == ["530000_180000", "530000_180100", "530100_180000"]
    assert cells.geometry.area.sum() == pytest.approx(triangle.area)


def test_incidents_on_the_area_edge_go_to_the_cell_inside_it():
    incidents = incidents_frame(
        [
            (530150, 180200),  # north edge, a grid line: floored into a cell north of the area
            (530300, 180050),  # east edge
            (530300, 180200),  # north-east corner
            (530100, 180100),  # an inner grid corner: the cell north-east of it, as in hotspots
        ],
        ["2025-01-01"] * 4,
    )

    cells = area_cells(incidents, AREA, cell_size_m=100)

    counts = dict(zip(cells["cell_id"], cells["incident_count"], strict=True))
    assert counts["530100_180100"] == 2
    assert counts["530200_180000"] == 1
    assert counts["530200_180100"] == 1
    assert cells["incident_count"].sum() == 4


def test_incidents_outside_the_area_are_not_counted_even_in_a_clipped_cell():
    triangle = Polygon([(530000, 180000), (530100, 180000), (530000, 180100)])
    incidents = incidents_frame([(530010, 180010), (530090, 180090)], ["2025-01-01"] * 2)

    cells = area_cells(incidents, triangle, cell_size_m=100)

    assert cells["incident_count"].tolist() == [1]


@pytest.mark.parametrize(("cell_size_m", "message"), [(0, "positive"), (0.1, "cells of 0.1 m")])
def test_a_cell_size_that_cannot_work_is_refused(cell_size_m, message):
    with pytest.raises(ValueError, match=message):
        area_cells(incidents_frame([], []), AREA, cell_size_m=cell_size_m)


# ---------------------------------------------------------------------------------------------
# monthly_trend


def test_every_month_in_the_range_is_present_with_zeros_filled():
    incidents = incidents_frame(
        [(530100, 180100)] * 6,
        ["2024-12-31", "2025-01-01", "2025-01-31", "2025-03-01", "2025-03-15", "2025-04-01"],
        ["day", "day", "day", "month", "day", "day"],
    )

    trend = monthly_trend(incidents, date(2025, 1, 15), date(2025, 3, 3))

    assert trend["month"].tolist() == [date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)]
    # month-only dates sit on the 1st of their month, so they count in the right month here
    assert trend["incident_count"].tolist() == [2, 0, 2]


def test_a_trend_of_no_incidents_is_all_zeros():
    trend = monthly_trend(incidents_frame([], []), date(2024, 11, 1), date(2025, 2, 1))

    assert trend["month"].tolist() == [
        date(2024, 11, 1),
        date(2024, 12, 1),
        date(2025, 1, 1),
        date(2025, 2, 1),
    ]
    assert trend["incident_count"].tolist() == [0, 0, 0, 0]


def test_a_range_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="before first_month"):
        monthly_trend(incidents_frame([], []), date(2025, 3, 1), date(2025, 2, 28))


# ---------------------------------------------------------------------------------------------
# compare_weeks

PLACE = (530100, 180100)


def test_twelve_weeks_before_the_plan_against_the_latest_twelve_weeks():
    # plan from Mon 2 Jun 2025, data to 31 Oct: before 10 Mar-1 Jun, latest 9 Aug-31 Oct
    incidents = incidents_frame(
        [PLACE] * 10,
        [
            "2025-03-09",  # the day before the before window
            "2025-03-10",
            "2025-04-20",
            "2025-05-05",
            "2025-06-01",  # the day before the plan
            "2025-06-02",  # the plan's first day, in neither window
            "2025-08-08",
            "2025-08-09",
            "2025-10-31",
            "2025-11-01",  # after the data (cannot happen, but is not counted)
        ],
    )  # no date_precision column: every date is to the day

    comparison = compare_weeks(incidents, date(2025, 6, 2), date(2025, 10, 31))

    assert (comparison.before_start, comparison.before_end) == (date(2025, 3, 10), date(2025, 6, 1))
    assert (comparison.latest_start, comparison.latest_end) == (
        date(2025, 8, 9),
        date(2025, 10, 31),
    )
    assert (comparison.before_count, comparison.latest_count) == (4, 2)
    assert comparison.change == -2
    assert comparison.change_pct == pytest.approx(-50.0)
    assert comparison.overlap is False
    assert comparison.month_precision_left_out == 0
    assert "2 incidents in the latest 12 weeks of data" in comparison.note
    assert "down 2 (50% fewer)" in comparison.note
    assert "cannot show that the plan caused the change" in comparison.note
    assert "month" not in comparison.note


def test_month_only_incidents_whose_month_touches_a_window_are_left_out_and_counted():
    incidents = incidents_frame(
        [PLACE] * 5,
        ["2025-03-01", "2025-07-01", "2025-10-01", "2025-04-20", "2025-09-01"],
        ["month", "month", "month", "day", "day"],
    )

    comparison = compare_weeks(incidents, date(2025, 6, 2), date(2025, 10, 31))

    # March overlaps the before window (from 10 Mar) and October the latest; July neither
    assert comparison.month_precision_left_out == 2
    assert (comparison.before_count, comparison.latest_count) == (1, 1)
    assert "2 incidents dated only to the month" in comparison.note


def test_a_plan_younger_than_twelve_weeks_overlaps_and_says_so():
    incidents = incidents_frame([PLACE] * 2, ["2025-09-15", "2025-10-10"])

    comparison = compare_weeks(incidents, date(2025, 10, 1), date(2025, 10, 31))

    assert comparison.overlap is True
    assert comparison.latest_start == date(2025, 8, 9)
    assert (comparison.before_count, comparison.latest_count) == (1, 2)
    assert "includes 53 days before the plan started" in comparison.note


def test_no_incidents_before_gives_no_percentage():
    comparison = compare_weeks(
        incidents_frame([PLACE] * 3, ["2025-10-01"] * 3), date(2025, 6, 2), date(2025, 10, 31)
    )

    assert (comparison.before_count, comparison.latest_count, comparison.change) == (0, 3, 3)
    assert comparison.change_pct is None
    assert "up 3 (no percentage: there were none before)" in comparison.note


def test_a_plan_that_started_after_the_latest_data_has_nothing_to_compare_yet():
    incidents = incidents_frame([PLACE] * 2, ["2025-10-20", "2025-09-01"], ["day", "month"])

    comparison = compare_weeks(incidents, date(2025, 12, 1), date(2025, 10, 31))

    assert comparison.latest_count is None
    assert comparison.change is None
    assert comparison.change_pct is None
    assert comparison.overlap is False
    assert comparison.before_count == 1
    assert comparison.month_precision_left_out == 1
    assert "no data since the plan started on 1 Dec 2025" in comparison.note
    assert "the last 30 days have no data yet" in comparison.note


def test_weeks_must_be_positive():
    with pytest.raises(ValueError, match="weeks must be a positive whole number"):
        compare_weeks(incidents_frame([], []), date(2025, 6, 2), date(2025, 10, 31), weeks=0)


# ---------------------------------------------------------------------------------------------
# assets_within


def assets_frame(rows: list[tuple[str, str, tuple[float, float]]], kind: bool = True):
    longitude, latitude = bng_to_wgs84(
        np.array([xy[0] for *_, xy in rows]), np.array([xy[1] for *_, xy in rows])
    )
    data = {
        "asset_id": [asset_id for asset_id, _, _ in rows],
        "name": [name for _, name, _ in rows],
        "address": [f"{i} High Street" for i in range(len(rows))],
    }
    if kind:
        data["kind"] = ["knife_bin"] * len(rows)
    return gpd.GeoDataFrame(data, geometry=gpd.points_from_xy(longitude, latitude), crs=WGS84)


def test_assets_inside_and_near_the_area_nearest_first():
    assets = assets_frame(
        [
            ("A4", "120 m east", (530420, 180100)),
            ("A2", "40 m north", (530150, 180240)),
            ("A1", "in the middle", (530150, 180100)),
            ("A3", "on the edge", (530300, 180050)),
        ]
    )

    near = assets_within(assets, AREA, distance_m=100)

    assert list(near.columns) == ["asset_id", "name", "address", "kind", "distance_m"]
    assert near["asset_id"].tolist() == ["A1", "A3", "A2"]
    assert near["distance_m"].tolist() == [0, 0, 40]


def test_distance_zero_keeps_only_assets_in_the_area_and_kind_is_optional():
    assets = assets_frame(
        [("A1", "inside", (530150, 180100)), ("A2", "outside", (530150, 180240))], kind=False
    )

    near = assets_within(assets, AREA, distance_m=0)

    assert list(near.columns) == ["asset_id", "name", "address", "distance_m"]
    assert near["asset_id"].tolist() == ["A1"]


def test_no_assets_gives_an_empty_frame():
    empty = gpd.GeoDataFrame({"asset_id": [], "name": [], "address": []}, geometry=[], crs=WGS84)

    near = assets_within(empty, AREA, distance_m=100)

    assert near.empty
    assert list(near.columns) == ["asset_id", "name", "address", "distance_m"]


def test_a_negative_distance_is_refused():
    with pytest.raises(ValueError, match="distance_m must be 0"):
        assets_within(assets_frame([("A1", "x", (530150, 180100))]), AREA, distance_m=-1)


def test_assets_without_a_crs_are_refused():
    assets = assets_frame([("A1", "x", (530150, 180100))]).set_crs(None, allow_override=True)

    with pytest.raises(ValueError, match="no CRS"):
        assets_within(assets, AREA, distance_m=100)


# ---------------------------------------------------------------------------------------------
# overlapping_plans


def test_overlapping_plans_with_the_share_of_this_area_each_covers():
    plans = gpd.GeoDataFrame(
        {
            "plan_id": [1, 2, 3, 4, 5, 6],
            "title": ["This plan", "East half", "A sliver", "Next door", "Far away", "Bow tie"],
            "status": ["active", "active", "closed", "active", "active", "draft"],
        },
        geometry=[
            AREA,
            box(530150, 179900, 530500, 180300),  # covers x 530150-530300: half
            box(530000, 180000, 530010, 180200),  # 10 m x 200 m: 2,000 m2 of 60,000
            box(530300, 180000, 530400, 180200),  # shares the east edge only
            box(540000, 190000, 540100, 190100),
            # crosses itself; repaired to two triangles, one of them (2,500 m2) in the area
            Polygon([(529950, 180000), (530050, 180100), (530050, 180000), (529950, 180100)]),
        ],
        crs=BNG,
    )

    found = overlapping_plans(plans, AREA, exclude_plan_id=1)

    # 30,000 of 60,000 m2; 2,500 (the bow tie's eastern half); 2,000
    assert found["plan_id"].tolist() == [2, 6, 3]
    assert found["overlap_pct"].tolist() == [50.0, 4.2, 3.3]
    assert list(found.columns) == ["plan_id", "title", "status", "overlap_pct"]


def test_without_an_exclusion_a_plan_overlaps_itself_completely():
    plans = gpd.GeoDataFrame(
        {"plan_id": [1], "title": ["This plan"], "status": ["active"]}, geometry=[AREA], crs=BNG
    )

    assert overlapping_plans(plans, AREA)["overlap_pct"].tolist() == [100.0]


def test_plans_in_degrees_are_refused():
    plans = gpd.GeoDataFrame(
        {"plan_id": [1], "title": ["t"], "status": ["active"]},
        geometry=[box(-0.2, 51.4, -0.1, 51.5)],
        crs=WGS84,
    )

    with pytest.raises(ValueError, match="must be in EPSG:27700"):
        overlapping_plans(plans, AREA, exclude_plan_id=None)


# ---------------------------------------------------------------------------------------------
# displacement_buffer and wdd


def test_the_displacement_buffer_is_a_ring_around_the_area():
    ring = displacement_buffer(AREA, 100)

    assert ring.intersection(AREA).area == pytest.approx(0)
    # the rounded buffer of a 300 x 200 rectangle: the area, four 100 m strips, a circle
    assert ring.area == pytest.approx(2 * 100 * (300 + 200) + math.pi * 100**2, rel=0.01)
    assert ring.contains(Point(530350, 180100))  # 50 m east of the area
    assert not ring.intersects(Point(530450, 180100))  # 150 m east
    assert not ring.intersects(Point(530380, 180280))  # 113 m from the north-east corner


def test_a_buffer_must_be_positive():
    with pytest.raises(ValueError, match="buffer_m must be positive"):
        displacement_buffer(AREA, 0)


def test_wdd_worked_example_by_hand_is_not_significant():
    # T0=40, T1=25, D0=20, D1=22, C0=1000, C1=950
    # kT = 40/1000 = 0.04, kD = 20/1000 = 0.02
    # WDD = (25-40) - 0.04*(950-1000) + (22-20) - 0.02*(950-1000) = -15 + 2 + 2 + 1 = -10.0
    # Var = 40+25+20+22 + (0.04+0.02)^2 * (1000+950) = 107 + 0.0036*1950 = 107 + 7.02 = 114.02
    # se = sqrt(114.02) = 10.6780, z = -10/10.6780 = -0.93650
    # p = erfc(0.93650/sqrt(2)) = erfc(0.66220) = 0.34901 (two-sided normal)
    result = wdd(40, 25, 20, 22, 1000, 950)

    assert result.k_target == pytest.approx(0.04)
    assert result.k_buffer == pytest.approx(0.02)
    assert result.wdd == pytest.approx(-10.0)
    assert result.variance == pytest.approx(114.02)
    assert result.se == pytest.approx(10.67801, abs=1e-5)
    assert result.z == pytest.approx(-0.93650, abs=1e-5)
    assert result.p == pytest.approx(0.34901, abs=1e-5)
    assert result.too_small is False
    assert result.verdict.startswith("10.0 fewer incidents than the borough's trend predicts")
    assert "not significant: z = -0.94, p = 0.349" in result.verdict
    assert "needs |z| ≥ 1.96" in result.verdict


def test_wdd_with_equal_size_areas_is_the_papers_plain_formula():
    # T0 = D0 = C0 = 50, so kT = kD = 1: WDD = dT - dC + dD - dC (Wheeler & Ratcliffe 2018)
    t0, t1, d0, d1, c0, c1 = 50, 30, 50, 55, 50, 45
    paper_wdd = (t1 - t0) - (c1 - c0) + (d1 - d0) - (c1 - c0)  # -20 + 5 + 5 + 5 = -5
    # the paper's variance with Ct = Cd = C counts the control twice, as if independent:
    # T0+T1+D0+D1 + 2(C0+C1); one control used twice also adds the covariance 2(C0+C1)
    paper_variance_shared_control = t0 + t1 + d0 + d1 + 2 * (c0 + c1) + 2 * (c0 + c1)

    result = wdd(t0, t1, d0, d1, c0, c1, min_target_count=0)

    assert (result.k_target, result.k_buffer) == (1.0, 1.0)
    assert result.wdd == pytest.approx(paper_wdd) == pytest.approx(-5.0)
    assert result.variance == pytest.approx(paper_variance_shared_control) == pytest.approx(565)


def test_wdd_a_significant_reduction():
    # kT = 0.1, kD = 0.05, the borough flat: WDD = -50 + 0 = -50
    # Var = 100+50+50+50 + 0.15^2 * 2000 = 250 + 45 = 295; z = -50/17.1756 = -2.9111
    # p = erfc(2.9111/sqrt(2)) = 0.0036
    result = wdd(100, 50, 50, 50, 1000, 1000)

    assert result.wdd == pytest.approx(-50.0)
    assert result.variance == pytest.approx(295.0)
    assert result.z == pytest.approx(-2.91111, abs=1e-5)
    assert result.p == pytest.approx(0.00360, abs=1e-5)
    assert result.too_small is False
    assert "(a reduction, net of any displacement)" in result.verdict
    assert "This is significant at the 95% level: z = -2.91, p = 0.004" in result.verdict


def test_wdd_an_increase_reads_as_more_incidents():
    result = wdd(100, 160, 50, 50, 1000, 1000)

    assert result.wdd == pytest.approx(60.0)
    assert result.verdict.startswith("60.0 more incidents than the borough's trend predicts")


def test_wdd_exactly_on_the_borough_trend_shows_no_effect():
    # the borough up 10%, the area and ring up 10% too: WDD = 10 - 0.1*100 + 5 - 0.05*100 = 0
    result = wdd(100, 110, 50, 55, 1000, 1100)

    assert result.wdd == pytest.approx(0.0)
    assert result.p == pytest.approx(1.0)
    assert result.verdict.startswith("Exactly as many incidents as the borough's trend predicts")
    assert "no sign of an effect either way" in result.verdict


def test_wdd_too_few_incidents_in_the_area_says_so_plainly():
    result = wdd(8, 5, 6, 7, 1000, 950)

    assert result.too_small is True
    assert result.verdict == (
        "Too few incidents to conclude anything (13 in the plan area over both periods; "
        "at least 20 are needed)."
    )
    assert result.wdd is not None  # the workings are still shown


def test_wdd_cannot_scale_a_control_with_nothing_before():
    result = wdd(30, 10, 5, 5, 0, 12)

    assert result.too_small is True
    assert (result.k_target, result.wdd, result.z, result.p) == (None, None, None, None)
    assert "the rest of the borough had no incidents in the before period" in result.verdict


@pytest.mark.parametrize(("count", "message"), [(-1, "must not be negative"), (2.5, "whole")])
def test_wdd_counts_must_be_whole_and_not_negative(count, message):
    with pytest.raises(ValueError, match=message):
        wdd(40, count, 20, 22, 1000, 950)


# ---------------------------------------------------------------------------------------------
# assess_area: a 2 km borough, a 200 m target in its middle, a 100 m ring, the rest as control

BOROUGH = box(530000, 180000, 532000, 182000)
TARGET = box(530900, 180900, 531100, 181100)
IN_TARGET = (531000, 181000)
ON_TARGET_EDGE = (531100, 181000)  # in the target, not the ring, though the ring touches it
IN_RING = (531150, 181000)
ON_RING_EDGE = (531200, 181000)  # exactly 100 m from the target
BEYOND_RING_CORNER = (531180, 181180)  # 113 m from the target's corner: control
IN_CONTROL = (530100, 180100)
OUTSIDE_BOROUGH = (540000, 190000)


def layout_incidents() -> pd.DataFrame:
    # before = 30 Jan-28 Feb 2025, after = 1-30 Mar 2025 (plan from 1 Mar, data to 30 Mar)
    return build(
        at(IN_TARGET, "2025-02-10", 30)
        + at(ON_TARGET_EDGE, "2025-01-30", 1)  # T0 = 31
        + at(IN_TARGET, "2025-03-15", 12)
        + at(ON_TARGET_EDGE, "2025-03-30", 1)  # T1 = 13
        + at(IN_RING, "2025-02-28", 8)  # D0 = 8
        + at(IN_RING, "2025-03-01", 10)
        + at(ON_RING_EDGE, "2025-03-02", 1)  # D1 = 11
        + at(IN_CONTROL, "2025-02-01", 399)
        + at(BEYOND_RING_CORNER, "2025-02-02", 1)  # C0 = 400
        + at(IN_CONTROL, "2025-03-20", 380)  # C1 = 380
        + at(IN_TARGET, "2025-01-29", 5)  # a day before the before period
        + at(IN_TARGET, "2025-03-31", 5)  # a day after the latest data
        + at(OUTSIDE_BOROUGH, "2025-02-10", 7)
        + at(IN_TARGET, "2025-02-01", 3, "month")  # February: left out
        + at(IN_TARGET, "2025-01-01", 2, "month")  # January overlaps 30-31 Jan: left out
        + at(IN_TARGET, "2024-12-01", 1, "month")  # December: outside both periods
        + at(OUTSIDE_BOROUGH, "2025-02-01", 1, "month")  # not in any of the three places
    )


def test_assess_area_counts_each_incident_once_in_the_right_place_and_period():
    assessment = assess_area(
        layout_incidents(), TARGET, BOROUGH, date(2025, 3, 1), date(2025, 3, 30), buffer_m=100
    )

    assert (assessment.before_start, assessment.before_end) == (
        date(2025, 1, 30),
        date(2025, 2, 28),
    )
    assert (assessment.after_start, assessment.after_end) == (date(2025, 3, 1), date(2025, 3, 30))
    assert assessment.period_days == 30
    result = assessment.result
    assert isinstance(result, WddResult)
    counts = (
        result.target_before,
        result.target_after,
        result.buffer_before,
        result.buffer_after,
        result.control_before,
        result.control_after,
    )
    assert counts == (31, 13, 8, 11, 400, 380)
    # kT = 31/400 = 0.0775, kD = 8/400 = 0.02
    # WDD = -18 - 0.0775*(-20) + 3 - 0.02*(-20) = -18 + 1.55 + 3 + 0.4 = -13.05
    assert result.wdd == pytest.approx(-13.05)
    assert result == wdd(31, 13, 8, 11, 400, 380)
    assert assessment.month_precision_left_out == 5
    assert "5 incidents dated only to the month" in assessment.note
    assert "the 30 days since the plan started (1 Mar 2025 to 30 Mar 2025)" in assessment.note


def test_assess_area_returns_the_ring_and_control_it_used():
    assessment = assess_area(
        layout_incidents(), TARGET, BOROUGH, date(2025, 3, 1), date(2025, 3, 30), buffer_m=100
    )

    assert assessment.buffer_bng.equals(displacement_buffer(TARGET, 100))
    assert assessment.control_bng.area == pytest.approx(
        BOROUGH.area - TARGET.area - assessment.buffer_bng.area
    )
    assert not assessment.control_bng.intersects(Point(IN_RING))


def test_assess_area_clips_the_ring_to_the_borough():
    corner_target = box(530000, 180000, 530200, 180200)

    assessment = assess_area(
        incidents_frame([], [], []), corner_target, BOROUGH, date(2025, 3, 1), date(2025, 3, 30)
    )

    assert shapely.covered_by(assessment.buffer_bng, BOROUGH)
    assert assessment.result.too_small is True
    assert assessment.month_precision_left_out == 0


def test_assess_area_with_a_shorter_period_and_an_empty_control():
    assessment = assess_area(
        layout_incidents(),
        TARGET,
        BOROUGH,
        date(2025, 3, 1),
        date(2025, 3, 30),
        buffer_m=100,
        period_days=14,
    )

    assert (assessment.before_start, assessment.before_end) == (
        date(2025, 2, 15),
        date(2025, 2, 28),
    )
    assert (assessment.after_start, assessment.after_end) == (date(2025, 3, 1), date(2025, 3, 14))
    result = assessment.result
    assert (result.target_before, result.target_after) == (0, 0)
    assert (result.buffer_before, result.buffer_after) == (8, 11)
    assert (result.control_before, result.control_after) == (0, 0)
    assert result.too_small is True
    assert "no incidents in the before period" in result.verdict
    assert assessment.month_precision_left_out == 3  # February only; January is out of range


def test_assess_area_caps_the_period_at_the_latest_data_and_needs_no_date_precision():
    incidents = layout_incidents().drop(columns="date_precision")

    assessment = assess_area(
        incidents, TARGET, BOROUGH, date(2025, 3, 1), date(2025, 3, 30), 100, period_days=100
    )

    assert assessment.after_end == date(2025, 3, 30)
    assert assessment.period_days == 30
    # every row now counts as dated to the day: the 1 Feb "month" rows join T0
    assert assessment.result.target_before == 31 + 3
    assert assessment.month_precision_left_out == 0


def test_assess_area_before_any_data_since_the_plan_started():
    assessment = assess_area(
        layout_incidents(), TARGET, BOROUGH, date(2025, 4, 10), date(2025, 3, 30), buffer_m=100
    )

    assert assessment.result is None
    assert assessment.period_days == 0
    assert "no data since the plan started on 10 Apr 2025" in assessment.note
    assert not assessment.buffer_bng.is_empty


@pytest.mark.parametrize("period_days", [0, -3])
def test_assess_area_refuses_a_period_that_is_not_positive(period_days):
    with pytest.raises(ValueError, match="period_days must be a positive whole number"):
        assess_area(
            layout_incidents(),
            TARGET,
            BOROUGH,
            date(2025, 3, 1),
            date(2025, 3, 30),
            100,
            period_days,
        )
