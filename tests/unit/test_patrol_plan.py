"""One patrol plan from a CSO's question: the request, its link, and the plan built from it."""

from __future__ import annotations

from datetime import date, time

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from dashboard import patrol
from dashboard.errors import InvalidInput
from dashboard.geo import BNG, WGS84
from dashboard.patrol_plan import (
    MAX_LINK_CELLS,
    PatrolRequest,
    build,
    find_cso,
    from_query_params,
    parse_clock,
    parse_weekdays,
    wards_of_cso,
)

CELL_M = 250.0
X0, Y0 = 527_000.0, 173_000.0
WARD_A, WARD_B = "E05000001", "E05000002"
KNOWN_WARDS = {WARD_A, WARD_B}
EN_DASH = "\N{EN DASH}"
FRIDAY = date(2026, 1, 2)  # a Friday


def request(**changes) -> PatrolRequest:
    """Ward A, Friday 18:00-22:00, the defaults otherwise."""
    arguments = {
        "ward_codes": (WARD_A,),
        "weekdays": (4,),
        "starts_at": time(18),
        "ends_at": time(22),
    }
    return PatrolRequest(**{**arguments, **changes})


# --- PatrolRequest -------------------------------------------------------------------------------


def test_a_date_fixes_the_weekday():
    assert request(weekdays=(0, 1), on_date=FRIDAY).weekdays == (4,)
    assert request(weekdays=(), on_date=date(2026, 1, 4)).weekdays == (6,)  # a Sunday


def test_ward_codes_are_sorted_and_deduplicated_so_equal_requests_hash_equal():
    mixed = request(ward_codes=(WARD_B, WARD_A, WARD_B))

    assert mixed.ward_codes == (WARD_A, WARD_B)
    assert mixed == request(ward_codes=(WARD_A, WARD_B))
    assert hash(mixed) == hash(request(ward_codes=(WARD_A, WARD_B)))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ward_codes": ()}, r"Pick at least one ward \(or a CSO"),
        ({"min_class": "hot 80%"}, "weakest class must be one of hot 99%, hot 95%, hot 90%"),
        ({"min_class": "cold 99%"}, "weakest class must be one of"),
        ({"stop_count": 0}, "Stops must be 1 to 50, got 0"),
        ({"stop_count": 51}, "Stops must be 1 to 50, got 51"),
        ({"removed": ("abc",)}, r"'abc' is not a grid cell id \(easting_northing\)"),
        ({"added": ("527000-173000",)}, r"'527000-173000' is not a grid cell id"),
        ({"added": ("527000_173000_1",)}, "is not a grid cell id"),
        ({"ends_at": time(18)}, "The shift starts and ends at 18:00; give an end time"),
        ({"weekdays": ()}, "A shift needs at least one weekday"),
        ({"weekdays": (7,)}, r"Weekday 7 is not 0 \(Monday\) to 6 \(Sunday\)"),
        ({"look_back_months": 0}, "look_back_months must be a whole number from 1 to 120"),
    ],
)
def test_a_request_that_makes_no_sense_is_refused_with_what_to_change(changes, message):
    with pytest.raises(InvalidInput, match=message):
        request(**changes)


@pytest.mark.parametrize(
    ("changes", "label"),
    [
        ({}, f"Friday 18:00{EN_DASH}22:00"),
        (
            {"weekdays": (4, 5), "starts_at": time(22), "ends_at": time(2)},
            f"Friday and Saturday 22:00{EN_DASH}02:00 (ends next day)",
        ),
        ({"on_date": FRIDAY}, f"Fri 02 Jan 2026 18:00{EN_DASH}22:00"),
        (
            {"on_date": date(2026, 1, 3), "starts_at": time(22), "ends_at": time(2)},
            f"Sat 03 Jan 2026 22:00{EN_DASH}02:00 (ends next day)",
        ),
    ],
)
def test_the_label_says_the_days_or_the_date_and_the_hours(changes, label):
    assert request(**changes).label == label


def test_the_request_gives_its_shift_and_its_hotspot_filter():
    asked = request(weekdays=(4, 5), starts_at=time(22), ends_at=time(2), look_back_months=6)

    assert asked.shift == patrol.Shift((4, 5), time(22), time(2), 6)
    assert asked.when.weekdays == (4, 5)
    assert (asked.when.starts_at, asked.when.ends_at) == (time(22), time(2))


def test_taking_out_an_added_stop_forgets_it_and_a_proposed_one_is_remembered_as_removed():
    asked = request(added=("528000_174000", "528250_174000"))

    assert asked.without_stop("528000_174000").added == ("528250_174000",)
    assert asked.without_stop("528000_174000").removed == ()
    assert asked.without_stop("527500_173500").removed == ("527500_173500",)
    assert asked.without_stop("527500_173500").added == asked.added


def test_putting_back_a_removed_stop_undoes_the_removal_and_a_new_one_is_added():
    asked = request(removed=("527500_173500", "529000_175000"))

    back = asked.with_stop("527500_173500")

    assert back.removed == ("529000_175000",)
    assert back.added == ()
    assert asked.with_stop("528250_175500").added == ("528250_175500",)
    assert asked.with_stop("528250_175500").removed == asked.removed


# --- links ---------------------------------------------------------------------------------------


def test_a_weekly_request_becomes_these_query_parameters():
    asked = request(weekdays=(4, 5), starts_at=time(18), ends_at=time(2))

    assert asked.query_params() == {
        "wards": WARD_A,
        "from": "18:00",
        "to": "02:00",
        "months": "12",
        "stops": "6",
        "min": "95",
        "dwell": "12",
        "every": "120",
        "days": "FRI,SAT",
    }


def test_a_dated_request_carries_the_date_instead_of_days_and_its_changes():
    asked = request(
        on_date=FRIDAY, cso_id=6, removed=("527500_173500",), added=("528250_175500", "1_2")
    )

    params = asked.query_params()

    assert params["date"] == "2026-01-02"
    assert "days" not in params
    assert params["cso"] == "6"
    assert params["drop"] == "527500_173500"
    assert params["add"] == "528250_175500,1_2"


@pytest.mark.parametrize(
    "asked",
    [
        request(),
        request(weekdays=(4, 5), starts_at=time(22), ends_at=time(2)),
        request(weekdays=tuple(range(7)), dwell_min=12.5, revisit_every_min=90.0),
        request(
            ward_codes=(WARD_B, WARD_A),
            on_date=FRIDAY,
            cso_id=6,
            look_back_months=24,
            stop_count=4,
            min_class="hot 99%",
            dwell_min=15.0,
        ),
        request(min_class="hot 90%", removed=("527500_173500",), added=("528250_175500", "1_2")),
    ],
)
def test_a_request_survives_the_round_trip_through_a_link(asked):
    assert from_query_params(asked.query_params(), KNOWN_WARDS) == asked


def test_a_short_link_takes_the_defaults():
    asked = from_query_params(
        {"wards": WARD_A, "days": "fri", "from": "18:00", "to": "22:00"}, KNOWN_WARDS
    )

    assert asked == request()
    assert asked.cso_id is None
    assert asked.stop_count == 6
    assert asked.min_class == "hot 95%"


def test_a_link_keeps_at_most_fifty_removed_cells():
    cells = ",".join(f"{527000 + 250 * n}_173000" for n in range(MAX_LINK_CELLS + 10))

    asked = from_query_params(
        {"wards": WARD_A, "days": "FRI", "from": "18:00", "to": "22:00", "drop": cells},
        KNOWN_WARDS,
    )

    assert len(asked.removed) == MAX_LINK_CELLS
    assert asked.removed[-1] == f"{527000 + 250 * (MAX_LINK_CELLS - 1)}_173000"


GOOD_LINK = {"wards": WARD_A, "days": "FRI", "from": "18:00", "to": "22:00"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"wards": f"{WARD_A},E05999999,E05999998"},
            "The link names wards this borough does not have: E05999998, E05999999",
        ),
        ({"wards": ""}, "Pick at least one ward"),
        ({"date": "2026-02-30"}, "The link's date '2026-02-30' is not a date"),
        ({"from": "25:00"}, "The start time must be a time like 18:00, got '25:00'"),
        ({"to": "6pm"}, "The end time must be a time like 18:00, got '6pm'"),
        ({"stops": "six"}, "The link's stops='six' is not a number"),
        ({"months": "1.5"}, "The link's months='1.5' is not a number"),
        ({"dwell": "long"}, "The link's dwell='long' is not a number"),
        ({"days": "FRX"}, r"'FRX' is not a weekday; use MON, TUE, \.\.\. SUN"),
        ({"days": ""}, "Give at least one weekday, e.g. FRI"),
        ({"min": "80"}, "The weakest class must be one of"),
        ({"drop": "here"}, "'here' is not a grid cell id"),
    ],
)
def test_a_broken_link_says_what_is_wrong_with_it(changes, message):
    with pytest.raises(InvalidInput, match=message):
        from_query_params({**GOOD_LINK, **changes}, KNOWN_WARDS)


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("FRI", (4,)),
        ("fri,sat", (4, 5)),
        ("Friday", (4,)),
        ("friday,Sunday", (4, 6)),
        ("4", (4,)),
        ("0,6", (0, 6)),
        (" sat , FRI,fri ", (4, 5)),
    ],
)
def test_weekdays_are_read_as_codes_names_or_numbers(text, days):
    assert parse_weekdays(text) == days


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Give at least one weekday, e.g. FRI"),
        (" , ", "Give at least one weekday, e.g. FRI"),
        ("FRX", r"'FRX' is not a weekday; use MON, TUE, \.\.\. SUN"),
        ("Frid", "'Frid' is not a weekday"),
        ("7", "'7' is not a weekday"),
        ("fri,funday", "'funday' is not a weekday"),
    ],
)
def test_a_weekday_that_cannot_be_read_is_refused(text, message):
    with pytest.raises(InvalidInput, match=message):
        parse_weekdays(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("8:30", time(8, 30)), ("18:00", time(18)), (" 07:05 ", time(7, 5)), ("0:00", time(0))],
)
def test_clock_times_are_read_with_or_without_a_leading_zero(text, expected):
    assert parse_clock(text, "The start time") == expected


@pytest.mark.parametrize("text", ["24:00", "18", "18:60", "", "18.00", "-1:00"])
def test_a_clock_time_that_cannot_be_read_names_the_field(text):
    with pytest.raises(InvalidInput, match=f"The end time must be a time like 18:00, got '{text}'"):
        parse_clock(text, "The end time")


# --- CSOs ----------------------------------------------------------------------------------------

CSOS = pd.DataFrame({"cso_id": [6, 7], "cso_name": ["Samir Ferreira", "Ada Okafor"]})


def test_a_csos_wards_are_the_wards_assigned_to_them_sorted():
    assignments = pd.DataFrame({"cso_id": [6, 6, 7], "ward_code": ["E05000003", WARD_A, WARD_B]})

    assert wards_of_cso(assignments, 6) == (WARD_A, "E05000003")
    assert wards_of_cso(assignments, 7) == (WARD_B,)
    assert wards_of_cso(assignments, 8) == ()


@pytest.mark.parametrize(
    "name_or_id", ["6", " 6 ", "Samir Ferreira", "samir ferreira", "SAMIR FERREIRA "]
)
def test_a_cso_is_found_by_id_or_by_name_in_any_case(name_or_id):
    found = find_cso(CSOS, name_or_id)

    assert found["cso_id"] == 6
    assert found["cso_name"] == "Samir Ferreira"


@pytest.mark.parametrize("name_or_id", ["Bob", "9"])
def test_an_unknown_cso_lists_the_csos(name_or_id):
    with pytest.raises(
        InvalidInput,
        match=rf"No CSO matches '{name_or_id}'; the CSOs are: "
        r"Samir Ferreira \(6\), Ada Okafor \(7\)",
    ):
        find_cso(CSOS, name_or_id)


def test_two_csos_with_one_name_are_not_guessed_between():
    twins = pd.concat(
        [CSOS, pd.DataFrame({"cso_id": [8], "cso_name": ["Ada Okafor"]})], ignore_index=True
    )

    with pytest.raises(InvalidInput, match="More than one CSO matches 'ada okafor'"):
        find_cso(twins, "ada okafor")
    assert find_cso(twins, "8")["cso_id"] == 8  # the id still picks one


# --- build ---------------------------------------------------------------------------------------


def cell_id(col: int, row: int) -> str:
    return f"{X0 + col * CELL_M:.0f}_{Y0 + row * CELL_M:.0f}"


def centre(col: int, row: int) -> tuple[float, float]:
    return X0 + (col + 0.5) * CELL_M, Y0 + (row + 0.5) * CELL_M


def two_ward_grid() -> gpd.GeoDataFrame:
    """24 x 12 cells of 250 m: columns 0-11 are ward A, 12-23 ward B."""
    cells = [
        {
            "cell_id": cell_id(col, row),
            "ward_code": WARD_A if col < 12 else WARD_B,
            "geometry": box(
                X0 + col * CELL_M,
                Y0 + row * CELL_M,
                X0 + (col + 1) * CELL_M,
                Y0 + (row + 1) * CELL_M,
            ),
        }
        for col in range(24)
        for row in range(12)
    ]
    return gpd.GeoDataFrame(cells, geometry="geometry", crs=BNG)


def timed(points: list[tuple[float, float]], weekday_offset: int, hour: int) -> pd.DataFrame:
    """Incidents at ``points``, one a week from Friday 3 Jan 2025 (+ ``weekday_offset`` days).

    Each is at ``hour`` plus 0-119 minutes: inside Friday 18:00-22:00 for hour 19 and offset 0.
    """
    count = len(points)
    days = pd.Timestamp("2025-01-03") + pd.to_timedelta(
        [7 * (n % 30) + weekday_offset for n in range(count)], unit="D"
    )
    at = days + pd.to_timedelta([hour * 60 + (n * 7) % 120 for n in range(count)], unit="min")
    return pd.DataFrame(
        {
            "x_bng": [x for x, _ in points],
            "y_bng": [y for _, y in points],
            "category": "robbery",
            "occurred_on": pd.Series(days, dtype="datetime64[s]"),
            "occurred_at": pd.Series(at, dtype="datetime64[s]"),
            "date_precision": "day",
        }
    )


def cluster(col: int, row: int, middle: int, ring: int) -> list[tuple[float, float]]:
    points = []
    for step_col in (-1, 0, 1):
        for step_row in (-1, 0, 1):
            count = middle if (step_col, step_row) == (0, 0) else ring
            points += [centre(col + step_col, row + step_row)] * count
    return points


A_FIRST, A_SECOND, B_ONLY, MONDAY = (2, 2), (8, 8), (17, 5), (8, 2)
LONE = (5, 10)  # a single Friday incident in ward A: not significant, but a CSO may add it
MONTH_ONLY = 7


def month_only(count: int) -> pd.DataFrame:
    x, y = centre(*A_FIRST)
    return pd.DataFrame(
        {
            "x_bng": [x] * count,
            "y_bng": [y] * count,
            "category": "robbery",
            "occurred_on": pd.Series([pd.Timestamp("2025-02-01")] * count, dtype="datetime64[s]"),
            "occurred_at": pd.Series([pd.NaT] * count, dtype="datetime64[s]"),
            "date_precision": "month",
        }
    )


@pytest.fixture(scope="module")
def grid() -> gpd.GeoDataFrame:
    return two_ward_grid()


@pytest.fixture(scope="module")
def week() -> pd.DataFrame:
    """Friday evening clusters in ward A (two) and ward B (one), a Monday morning one in A."""
    frame = pd.concat(
        [
            timed(cluster(*A_FIRST, 20, 10), 0, 19),
            timed(cluster(*A_SECOND, 16, 10), 0, 19),
            timed(cluster(*B_ONLY, 20, 10), 0, 19),
            timed(cluster(*MONDAY, 20, 10), 3, 10),
            timed([centre(*LONE)], 0, 20),
            month_only(MONTH_ONLY),
        ],
        ignore_index=True,
    )
    frame["date_precision"] = frame["date_precision"].astype("category")
    return frame


def test_only_the_wards_hot_cells_in_the_shift_become_stops(week, grid):
    plan = build(request(), week, grid)

    assert plan.route.cell_ids == [cell_id(*A_FIRST), cell_id(*A_SECOND)]
    assert plan.route.stops["hotspot_class"].tolist() == ["hot 99%", "hot 99%"]
    assert plan.route.stops["incident_count"].tolist() == [20, 16]
    cells = plan.analysis.cells.set_index("cell_id")
    # ward B's cluster is just as hot, but not in the CSO's wards
    assert cells.loc[cell_id(*B_ONLY), "hotspot_class"] == "hot 99%"
    # the Monday morning cluster is outside the shift: not even counted
    assert cells.loc[cell_id(*MONDAY), "incident_count"] == 0
    assert plan.request == request()
    assert plan.route.shift == request().shift


def test_the_plan_says_why_there_are_fewer_stops_than_asked(week, grid):
    plan = build(request(), week, grid)

    assert plan.warnings[0] == (
        "Only 2 stops: 18 cells are significant (hot 95% or stronger), and 16 of them sit next "
        "to a chosen stop, which covers it. Non-significant cells are never added to make up "
        "the number."
    )


def test_another_ward_and_another_shift_give_their_own_stops(week, grid):
    assert build(request(ward_codes=(WARD_B,)), week, grid).route.cell_ids == [cell_id(*B_ONLY)]

    monday = build(request(weekdays=(0,), starts_at=time(9), ends_at=time(13)), week, grid)

    assert monday.route.cell_ids == [cell_id(*MONDAY)]


def test_the_candidates_are_the_wards_cells_with_incidents_hot_first(week, grid):
    candidates = build(request(), week, grid).candidates

    assert len(candidates) == 19  # two 3 x 3 clusters and the lone incident
    assert candidates["ward_code"].eq(WARD_A).all()
    assert candidates["cell_id"].iloc[0] == cell_id(*A_FIRST)
    assert candidates["cell_id"].iloc[-1] == cell_id(*LONE)
    assert candidates["hotspot_class"].iloc[-1] == "not significant"
    assert (candidates["incident_count"] > 0).all()


def test_a_removed_stop_is_dropped(week, grid):
    plan = build(request().without_stop(cell_id(*A_FIRST)), week, grid)

    assert plan.route.cell_ids == [cell_id(*A_SECOND)]


def test_an_added_cell_joins_at_the_end_of_the_ranking_even_when_not_significant(week, grid):
    plan = build(request().with_stop(cell_id(*LONE)), week, grid)

    stops = plan.route.stops.set_index("cell_id")
    assert set(plan.route.cell_ids) == {cell_id(*A_FIRST), cell_id(*A_SECOND), cell_id(*LONE)}
    assert stops.loc[cell_id(*LONE), "rank"] == 3
    assert stops.loc[cell_id(*LONE), "reason"] == "not significant, 1 incident"
    assert stops.loc[cell_id(*A_FIRST), "rank"] == 1


def test_an_added_cell_may_be_in_another_ward_and_a_proposed_one_is_not_added_twice(week, grid):
    plan = build(request(added=(cell_id(*B_ONLY), cell_id(*A_FIRST))), week, grid)

    assert sorted(plan.route.cell_ids) == sorted(
        [cell_id(*A_FIRST), cell_id(*A_SECOND), cell_id(*B_ONLY)]
    )
    assert plan.route.stops.set_index("cell_id").loc[cell_id(*B_ONLY), "rank"] == 3


def test_an_added_cell_off_the_grid_is_skipped_with_a_note(week, grid):
    plan = build(request(added=("200_200", cell_id(*LONE), "100_100")), week, grid)

    assert cell_id(*LONE) in plan.route.cell_ids
    assert len(plan.route.cell_ids) == 3
    assert "Cells 100_100, 200_200 are not on the borough's grid and were skipped." in (
        plan.warnings
    )


def test_the_when_note_counts_the_month_only_incidents_left_out(week, grid):
    plan = build(request(), week, grid)

    assert plan.when_note == (
        f"{MONTH_ONLY} of {len(week)} incidents are left out because the day and time filters "
        f"cannot apply to them: {MONTH_ONLY} are dated to the month only (police.uk publishes no "
        "day or time of day). Clear the day and time filters to count them."
    )
    # the three Friday clusters and the lone incident; not the Monday cluster nor the month-only
    assert plan.analysis.incidents_used == 100 + 96 + 100 + 1


def test_a_shift_without_hotspots_gives_an_empty_route_and_says_why(week, grid):
    plan = build(request(weekdays=(0,), starts_at=time(6), ends_at=time(8)), week, grid)

    assert plan.route.stops.empty
    assert plan.warnings == (
        "No cell is a significant hotspot (hot 95% or stronger) for this shift, so no stops are "
        "proposed.",
        "No stops: add a hotspot cell to plan a route.",
    )
    assert list(plan.assets.columns) == patrol.ASSET_COLUMNS
    assert plan.assets.empty
    assert list(plan.actions.columns) == patrol.NEAR_ACTION_COLUMNS
    assert plan.actions.empty


def test_without_assets_or_actions_the_plan_has_empty_tables_with_their_columns(week, grid):
    plan = build(request(), week, grid)

    assert len(plan.route.stops) == 2
    assert list(plan.assets.columns) == patrol.ASSET_COLUMNS
    assert plan.assets.empty
    assert list(plan.actions.columns) == patrol.NEAR_ACTION_COLUMNS
    assert plan.actions.empty


def test_a_knife_bin_by_a_stop_is_in_the_plan(week, grid):
    x, y = centre(*A_FIRST)
    bins = gpd.GeoDataFrame(
        {"asset_id": [11, 12], "name": ["By the stop", "Far away"], "address": ["", ""]},
        # 50 m west of the first stop, behind the walk to the second (north-east)
        geometry=gpd.points_from_xy([x - 50, x + 5000], [y, y + 5000]),
        crs=BNG,
    ).to_crs(WGS84)

    plan = build(request(), week, grid, bins_wgs84=bins)

    assert plan.assets["name"].tolist() == ["By the stop"]
    assert plan.assets["kind"].tolist() == ["knife_bin"]
    assert plan.assets["nearest_cell_id"].tolist() == [cell_id(*A_FIRST)]
    assert plan.assets["distance_m"].iloc[0] == pytest.approx(50, abs=0.01)
