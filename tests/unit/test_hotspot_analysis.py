"""The Hotspots page's analysis: which incidents a question covers, and what the grid says."""

from __future__ import annotations

import math
from datetime import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from dashboard import hotspot_stats
from dashboard.errors import InvalidInput
from dashboard.geo import BNG, WGS84, bng_to_wgs84, wgs84_to_bng
from dashboard.hotspot_analysis import (
    HotspotOptions,
    When,
    analyse,
    assets_against_need,
    concentration_table,
    density_raster,
    hotspot_table,
    repeat_places,
    select_when,
    sort_by_strength,
    weekday_hour_counts,
)
from dashboard.hotspots import borough_grid
from dashboard.patrol import Shift

CELL_M = 250.0
X0, Y0 = 527_000.0, 173_000.0  # a multiple of the cell size, near Wandsworth
WARD_A, WARD_B = "E05000001", "E05000002"
WARD_NAMES = {WARD_A: "Alpha", WARD_B: "Beta"}
EN_DASH = "\N{EN DASH}"


def cell_id(col: int, row: int) -> str:
    return f"{X0 + col * CELL_M:.0f}_{Y0 + row * CELL_M:.0f}"


def centre(col: int, row: int) -> tuple[float, float]:
    return X0 + (col + 0.5) * CELL_M, Y0 + (row + 0.5) * CELL_M


def incidents(
    points: list[tuple[float, float]],
    category: str = "robbery",
    on: str = "2025-01-03",
) -> pd.DataFrame:
    """Incidents at ``points`` (BNG), all on one day with a time, as queries.incidents has them."""
    count = len(points)
    return pd.DataFrame(
        {
            "x_bng": [x for x, _ in points],
            "y_bng": [y for _, y in points],
            "category": [category] * count,
            "occurred_on": pd.Series([pd.Timestamp(on)] * count, dtype="datetime64[s]"),
            "occurred_at": pd.Series(
                [pd.Timestamp(on) + pd.Timedelta(hours=20)] * count, dtype="datetime64[s]"
            ),
            "date_precision": pd.Series(["day"] * count, dtype="category"),
        }
    )


def cluster(
    col: int, row: int, middle: int, ring: int, fewer: dict[tuple[int, int], int] | None = None
) -> list[tuple[float, float]]:
    """``middle`` incidents at the centre of cell (col, row), ``ring`` in each of its 8 neighbours.

    ``fewer`` overrides the count of a neighbour given as (column step, row step).
    """
    points = []
    for step_col in (-1, 0, 1):
        for step_row in (-1, 0, 1):
            if (step_col, step_row) == (0, 0):
                count = middle
            else:
                count = (fewer or {}).get((step_col, step_row), ring)
            points += [centre(col + step_col, row + step_row)] * count
    return points


def ward_grid() -> gpd.GeoDataFrame:
    """The fixed grid of one 3 km x 3 km ward: 12 x 12 cells of 250 m."""
    ward = gpd.GeoDataFrame(
        {"code": [WARD_A]}, geometry=[box(X0, Y0, X0 + 3000, Y0 + 3000)], crs=BNG
    )
    return borough_grid(ward, cell_size_m=CELL_M)


def square_grid(columns: int, rows: int, east_ward_from: int | None = None) -> gpd.GeoDataFrame:
    """250 m squares built directly; columns from ``east_ward_from`` on are in ward B."""
    cells = [
        {
            "cell_id": cell_id(col, row),
            "ward_code": WARD_B if east_ward_from is not None and col >= east_ward_from else WARD_A,
            "geometry": box(
                X0 + col * CELL_M,
                Y0 + row * CELL_M,
                X0 + (col + 1) * CELL_M,
                Y0 + (row + 1) * CELL_M,
            ),
        }
        for col in range(columns)
        for row in range(rows)
    ]
    return gpd.GeoDataFrame(cells, geometry="geometry", crs=BNG)


# The main case: 20 incidents in cell (5, 5), 10 in each neighbour but only 3 in the north-east
# one, and one incident in each of six cells far from it: 99 incidents on 144 cells.
NORTH_EAST = (6, 6)
CLUSTER_POINTS = cluster(5, 5, 20, 10, fewer={(1, 1): 3})
SPRINKLE = [centre(col, row) for col, row in [(0, 0), (11, 11), (0, 11), (11, 0), (2, 9), (9, 2)]]
HOT_CELLS = {cell_id(5 + dc, 5 + dr) for dc in (-1, 0, 1) for dr in (-1, 0, 1)} - {
    cell_id(*NORTH_EAST)
}


@pytest.fixture(scope="module")
def grid() -> gpd.GeoDataFrame:
    return ward_grid()


@pytest.fixture(scope="module")
def clustered(grid):
    return analyse(incidents(CLUSTER_POINTS + SPRINKLE), grid)


def by_cell(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("cell_id")


# --- When ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"starts_at": time(18)}, "Give both ends of the time band, or neither"),
        ({"ends_at": time(2)}, "Give both ends of the time band, or neither"),
        (
            {"starts_at": time(18), "ends_at": time(18)},
            r"starts and ends at 18:00; give an end time \(an end before the start runs past",
        ),
        ({"weekdays": (4, 7)}, r"from 0 \(Monday\) to 6 \(Sunday\); got \(4, 7\)"),
        ({"weekdays": (-1,)}, r"got \(-1,\)"),
    ],
)
def test_a_when_that_makes_no_sense_is_refused_with_what_to_change(arguments, message):
    with pytest.raises(InvalidInput, match=message):
        When(**arguments)


def test_weekdays_are_sorted_deduplicated_and_all_seven_mean_every_day():
    assert When((5, 4, 4)).weekdays == (4, 5)
    every_day = When(tuple(range(7)))
    assert every_day.weekdays == ()
    assert every_day == When()
    assert hash(every_day) == hash(When())
    assert When((6, 5, 4, 3, 2, 1, 0), time(18), time(22)).weekdays == ()


@pytest.mark.parametrize(
    ("when", "label"),
    [
        (When(), "Every day, all day"),
        (When(tuple(range(7))), "Every day, all day"),
        (When((4, 5)), "Friday and Saturday, all day"),
        (When((0, 1, 2, 3, 4)), "Monday to Friday, all day"),
        (When((4,), time(18), time(22)), f"Friday 18:00{EN_DASH}22:00"),
        (When((4,), time(22), time(2)), f"Friday 22:00{EN_DASH}02:00 (ends next day)"),
        (When((), time(18), time(22)), f"Every day 18:00{EN_DASH}22:00"),
    ],
)
def test_a_when_reads_as_people_say_it(when, label):
    assert when.label == label


def test_only_a_weekday_or_a_time_band_filters():
    assert not When().filters
    assert not When(tuple(range(7))).filters
    assert When((4,)).filters
    assert When((), time(18), time(22)).filters
    assert not When((4,)).has_time_band
    assert When((), time(18), time(22)).has_time_band


def test_the_shift_of_a_when_is_the_same_window_and_none_without_a_time_band():
    assert When().shift() is None
    assert When((4, 5)).shift() is None
    assert When((4,), time(22), time(2)).shift(6) == Shift((4,), time(22), time(2), 6)
    # every day as a shift names all seven days
    assert When((), time(18), time(22)).shift() == Shift(tuple(range(7)), time(18), time(22), 12)


# --- select_when ---------------------------------------------------------------------------------


def dated(rows: list[tuple[str, str | None, str]]) -> pd.DataFrame:
    """Incidents from (occurred_on, occurred_at or None, date_precision), all at one place."""
    return pd.DataFrame(
        {
            "x_bng": [X0] * len(rows),
            "y_bng": [Y0] * len(rows),
            "category": ["robbery"] * len(rows),
            "occurred_on": pd.Series(
                [pd.Timestamp(on) for on, _, _ in rows], dtype="datetime64[s]"
            ),
            "occurred_at": pd.Series(
                [pd.Timestamp(at) if at else pd.NaT for _, at, _ in rows], dtype="datetime64[s]"
            ),
            "date_precision": pd.Series([p for _, _, p in rows], dtype="category"),
            "label": [at or f"{on} {p}" for on, at, p in rows],
        }
    )


# 2025-01-03 is a Friday
WEEK = dated(
    [
        ("2025-01-03", "2025-01-03 19:30", "day"),  # Friday evening
        ("2025-01-03", "2025-01-03 23:00", "day"),  # Friday late
        ("2025-01-04", "2025-01-04 01:00", "day"),  # Saturday small hours
        ("2025-01-04", "2025-01-04 14:00", "day"),  # Saturday afternoon
        ("2025-01-06", "2025-01-06 09:00", "day"),  # Monday morning
        ("2025-01-10", None, "day"),  # a Friday, no time of day
        ("2025-01-13", None, "day"),  # a Monday, no time of day
        ("2025-01-01", None, "month"),  # police.uk: January only
        ("2025-02-01", None, "month"),  # the 1st is a Saturday, but only the month is known
        ("2025-03-01", None, "month"),  # likewise
    ]
)


def test_no_filter_keeps_every_incident_and_says_nothing():
    selection = select_when(WEEK, When())

    assert len(selection.incidents) == 10
    assert selection.total == 10
    assert selection.left_out == 0
    assert selection.note == ""


def test_a_weekday_filter_keeps_those_days_and_leaves_out_month_only_dates():
    selection = select_when(WEEK, When((4, 5)))

    assert selection.incidents["label"].tolist() == [
        "2025-01-03 19:30",
        "2025-01-03 23:00",
        "2025-01-04 01:00",
        "2025-01-04 14:00",
        "2025-01-10 day",  # the day is known, and no time is needed for a weekday
    ]
    assert selection.left_out_month_only == 3  # two fall on a Saturday the 1st: not kept
    assert selection.left_out_no_time == 0
    assert selection.total == 10
    assert "police.uk" in selection.note
    assert selection.note.startswith("3 of 10 incidents are left out")
    assert "3 are dated to the month only" in selection.note
    assert "without a time of day" not in selection.note


def test_a_time_band_also_leaves_out_days_without_a_time_and_says_so_in_one_sentence():
    selection = select_when(WEEK, When((), time(18), time(23, 30)))

    assert selection.incidents["label"].tolist() == ["2025-01-03 19:30", "2025-01-03 23:00"]
    assert selection.left_out_month_only == 3
    assert selection.left_out_no_time == 2
    assert selection.left_out == 5
    assert selection.note == (
        "5 of 10 incidents are left out because the day and time filters cannot apply to them: "
        "3 are dated to the month only (police.uk publishes no day or time of day) and 2 were "
        "recorded without a time of day. Clear the day and time filters to count them."
    )


def test_a_day_without_a_time_on_another_weekday_is_not_counted_as_unplaceable():
    selection = select_when(WEEK, When((4,), time(18), time(23, 30)))

    assert selection.incidents["label"].tolist() == ["2025-01-03 19:30", "2025-01-03 23:00"]
    # only the Friday without a time could be in a Friday band; the Monday one is not
    assert selection.left_out_no_time == 1


def test_a_band_across_midnight_takes_the_small_hours_of_the_next_day_and_not_its_end():
    night = dated(
        [
            ("2025-01-03", "2025-01-03 22:00", "day"),  # Friday: the start is inside
            ("2025-01-04", "2025-01-04 01:00", "day"),  # Saturday 01:00: Friday night
            ("2025-01-04", "2025-01-04 02:00", "day"),  # Saturday 02:00: the end is outside
            ("2025-01-03", "2025-01-03 01:00", "day"),  # Friday 01:00 is Thursday night
            ("2025-01-03", "2025-01-03 02:00", "day"),
            ("2025-01-04", "2025-01-04 22:30", "day"),  # Saturday night is not asked for
        ]
    )

    selection = select_when(night, When((4,), time(22), time(2)))

    assert selection.incidents["label"].tolist() == ["2025-01-03 22:00", "2025-01-04 01:00"]
    assert selection.note == ""


def test_select_when_names_the_missing_columns():
    with pytest.raises(ValueError, match="incidents lacks the columns date_precision"):
        select_when(WEEK.drop(columns="date_precision"), When((4,)))


# --- analyse -------------------------------------------------------------------------------------


def test_the_middle_of_a_dense_cluster_is_hot_99_and_the_strongest(clustered):
    cells = by_cell(clustered.cells)

    assert cells.loc[cell_id(5, 5), "hotspot_class"] == "hot 99%"
    assert cells.loc[cell_id(5, 5), "incident_count"] == 20
    assert cells["gi_z"].idxmax() == cell_id(5, 5)
    assert set(clustered.hot_cells["cell_id"]) == HOT_CELLS
    assert clustered.incidents_used == 99
    assert clustered.value_column == "incident_count"
    assert clustered.harm_index is None


def test_hot_cells_come_strongest_first(clustered):
    hot = clustered.hot_cells

    assert hot["cell_id"].iloc[0] == cell_id(5, 5)
    z = hot["gi_z"].to_numpy()
    assert (np.diff(z) <= 0).all()
    assert hot["hotspot_class"].eq("hot 99%").all()


def test_a_cell_with_fewer_than_min_count_incidents_is_never_hot_even_inside_the_cluster(
    grid, clustered
):
    north_east = by_cell(clustered.cells).loc[cell_id(*NORTH_EAST)]
    assert north_east["incident_count"] == 3
    assert north_east["gi_z"] > 0
    assert north_east["gi_p"] < 0.001  # significant by Gi*, held back by the small-numbers rule
    assert north_east["hotspot_class"] == "not significant"

    relaxed = analyse(incidents(CLUSTER_POINTS + SPRINKLE), grid, HotspotOptions(min_count=3))

    assert by_cell(relaxed.cells).loc[cell_id(*NORTH_EAST), "hotspot_class"] == "hot 99%"
    assert "fewer than 3 incidents" in relaxed.small_numbers


def test_every_cell_has_one_class_and_the_counts_add_up(clustered):
    assert len(clustered.cells) == 144
    assert clustered.class_counts == {
        "hot 99%": 8,
        "hot 95%": 0,
        "hot 90%": 0,
        "not significant": 136,
        "cold 90%": 0,
        "cold 95%": 0,
        "cold 99%": 0,
    }
    assert sum(clustered.class_counts.values()) == len(clustered.cells)
    assert clustered.cells["incident_count"].sum() == 99


def test_x_and_y_are_the_cell_centres(clustered):
    corners = clustered.cells["cell_id"].str.split("_", expand=True).astype(float)

    np.testing.assert_allclose(clustered.cells["x_bng"], corners[0] + 125)
    np.testing.assert_allclose(clustered.cells["y_bng"], corners[1] + 125)
    assert clustered.cells.crs.to_epsg() == 27700


def test_the_method_names_the_neighbourhood_the_correction_and_the_small_numbers_rule(clustered):
    assert clustered.weights == (
        "distance band 375 m (the 8 neighbouring 250 m cells), binary, Gi* including the cell "
        "itself"
    )
    assert clustered.method.startswith("Getis-Ord Gi* on incident counts in 144 cells;")
    assert "neighbours: distance band 375 m" in clustered.method
    assert "Benjamini-Hochberg false discovery rate over all 144 cells" in clustered.method
    assert "cells with fewer than 5 incidents are never labelled hot" in clustered.method


def test_knn8_changes_the_neighbourhood_the_method_describes(grid):
    analysis = analyse(
        incidents(CLUSTER_POINTS + SPRINKLE), grid, HotspotOptions(neighbourhood="knn8")
    )

    assert (
        analysis.weights
        == "the 8 nearest cells (by centroid), binary, Gi* including the cell itself"
    )
    assert "neighbours: the 8 nearest cells" in analysis.method


def test_harm_weighting_without_an_index_is_refused(grid):
    with pytest.raises(InvalidInput, match="Harm weighting needs a harm index"):
        analyse(incidents(CLUSTER_POINTS), grid, HotspotOptions(harm_weighted=True))


# Two equal clusters: knives (gbh) round cell (3, 3), fists (abh) round cell (8, 8)
GBH = incidents(cluster(3, 3, 10, 6), category="gbh")
ABH = incidents(cluster(8, 8, 10, 6), category="abh")


@pytest.fixture(scope="module")
def harmful(grid):
    return analyse(
        pd.concat([GBH, ABH], ignore_index=True),
        grid,
        HotspotOptions(harm_weighted=True),
        harm_index=hotspot_stats.load_harm_index(),
    )


def test_counted_equally_the_two_clusters_are_equally_hot(grid):
    analysis = analyse(pd.concat([GBH, ABH], ignore_index=True), grid)
    cells = by_cell(analysis.cells)

    assert cells.loc[cell_id(3, 3), "gi_z"] == pytest.approx(cells.loc[cell_id(8, 8), "gi_z"])
    assert cells.loc[cell_id(8, 8), "hotspot_class"] == "hot 99%"


def test_weighted_by_harm_a_cell_of_gbh_outranks_as_many_abh(harmful):
    index = hotspot_stats.load_harm_index()
    cells = by_cell(harmful.cells)

    assert harmful.value_column == "harm"
    assert harmful.harm_index == index
    assert cells.loc[cell_id(3, 3), "harm"] == pytest.approx(10 * index.weights["gbh"])
    assert cells.loc[cell_id(8, 8), "harm"] == pytest.approx(10 * index.weights["abh"])
    assert cells.loc[cell_id(3, 3), "incident_count"] == cells.loc[cell_id(8, 8), "incident_count"]
    assert cells.loc[cell_id(3, 3), "gi_z"] > cells.loc[cell_id(8, 8), "gi_z"]
    assert cells.loc[cell_id(3, 3), "hotspot_class"] == "hot 99%"
    ranked = sort_by_strength(harmful.cells)["cell_id"].tolist()
    assert ranked.index(cell_id(3, 3)) < ranked.index(cell_id(8, 8))
    assert harmful.hot_cells["cell_id"].iloc[0] == cell_id(3, 3)
    assert harmful.method.startswith(f"Getis-Ord Gi* on harm ({index.unit}, indicative weights)")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"neighbourhood": "rook"}, "Neighbourhood must be one of queen, knn8; got 'rook'"),
        ({"min_count": -1}, "small-numbers threshold must be 0 or more, got -1"),
        ({"bandwidth_m": 0}, "kernel bandwidth must be positive, got 0"),
        ({"bandwidth_m": -400.0}, "kernel bandwidth must be positive, got -400.0"),
    ],
)
def test_options_that_make_no_sense_are_refused(arguments, message):
    with pytest.raises(InvalidInput, match=message):
        HotspotOptions(**arguments)


# --- sort_by_strength and hotspot_table ----------------------------------------------------------


def test_sort_by_strength_puts_class_first_then_z_then_count_then_cell_id():
    cells = pd.DataFrame(
        {
            "cell_id": ["a", "b", "c", "d", "e", "f", "g"],
            "hotspot_class": [
                "not significant",
                "hot 95%",
                "hot 99%",
                "hot 99%",
                "cold 99%",
                "hot 99%",
                "hot 99%",
            ],
            "gi_z": [3.5, 2.5, 3.1, 3.1, -4.0, 2.9, 3.1],
            "incident_count": [1, 9, 6, 8, 0, 30, 8],
        }
    )

    ranked = sort_by_strength(cells)

    # 99% by z (3.1 x3, then 2.9), the 3.1 ties by count (8, 8, 6), the 8s by cell id (d, g)
    assert ranked["cell_id"].tolist() == ["d", "g", "c", "f", "b", "a", "e"]
    assert list(ranked.columns) == list(cells.columns)


TABLE_COLUMNS = [
    "Cell",
    "Class",
    "Ward",
    "Incidents",
    "Gi* z",
    "p (two-sided)",
    "Latitude",
    "Longitude",
]


def test_the_hotspot_table_lists_the_significant_cells_strongest_first(clustered):
    table = hotspot_table(clustered, WARD_NAMES)

    assert list(table.columns) == TABLE_COLUMNS
    assert set(table["Cell"]) == HOT_CELLS
    assert table["Cell"].iloc[0] == cell_id(5, 5)
    assert table["Class"].eq("hot 99%").all()
    assert table["Ward"].eq("Alpha").all()
    assert table["Incidents"].iloc[0] == 20
    longitude, latitude = bng_to_wgs84(np.array([centre(5, 5)[0]]), np.array([centre(5, 5)[1]]))
    assert table["Latitude"].iloc[0] == round(float(latitude[0]), 5)
    assert table["Longitude"].iloc[0] == round(float(longitude[0]), 5)
    assert table["Gi* z"].iloc[0] == round(by_cell(clustered.cells).loc[cell_id(5, 5), "gi_z"], 2)


def test_the_hotspot_table_keeps_only_the_chosen_wards():
    # the same cluster on a grid built directly, with columns 6 and up in ward B
    analysis = analyse(incidents(CLUSTER_POINTS + SPRINKLE), square_grid(12, 12, east_ward_from=6))

    west = hotspot_table(analysis, WARD_NAMES, (WARD_A,))
    east = hotspot_table(analysis, WARD_NAMES, (WARD_B,))

    assert set(west["Cell"]) == {c for c in HOT_CELLS if not c.startswith("528500")}
    assert sorted(east["Cell"]) == [cell_id(6, 4), cell_id(6, 5)]
    assert east["Ward"].tolist() == ["Beta", "Beta"]
    assert len(hotspot_table(analysis, WARD_NAMES)) == 8


def test_the_harm_column_is_there_only_when_harm_is_weighed(clustered, harmful):
    assert "Harm" not in hotspot_table(clustered, WARD_NAMES).columns

    table = hotspot_table(harmful, WARD_NAMES)

    assert list(table.columns) == [*TABLE_COLUMNS[:4], "Harm", *TABLE_COLUMNS[4:]]
    assert table["Cell"].iloc[0] == cell_id(3, 3)
    assert table["Harm"].iloc[0] == 10_950.0  # 10 gbh at 1,095 days each


# --- weekday_hour_counts -------------------------------------------------------------------------


def test_weekday_hour_counts_put_each_timed_incident_in_its_day_and_hour():
    frame = pd.DataFrame(
        {
            "occurred_at": pd.Series(
                [
                    pd.Timestamp("2025-01-06 09:15"),  # Monday
                    pd.Timestamp("2025-01-13 09:45"),  # Monday, same hour
                    pd.Timestamp("2025-01-12 23:59"),  # Sunday
                    pd.Timestamp("2025-01-10 00:00"),  # Friday at midnight, a real time
                    pd.NaT,
                    pd.NaT,
                ],
                dtype="datetime64[s]",
            )
        }
    )

    table = weekday_hour_counts(frame)

    assert table.shape == (7, 24)
    assert table.index.tolist()[0] == "Monday"
    assert table.index.tolist()[-1] == "Sunday"
    assert table.columns.tolist()[:3] == ["00", "01", "02"]
    assert table.loc["Monday", "09"] == 2
    assert table.loc["Sunday", "23"] == 1
    assert table.loc["Friday", "00"] == 1
    assert int(table.to_numpy().sum()) == 4
    assert (table.dtypes == np.int64).all()
    assert table.attrs["without_time"] == 2


def test_weekday_hour_counts_of_untimed_incidents_is_an_empty_week():
    frame = pd.DataFrame({"occurred_at": pd.Series([pd.NaT, pd.NaT], dtype="datetime64[s]")})

    table = weekday_hour_counts(frame)

    assert table.shape == (7, 24)
    assert int(table.to_numpy().sum()) == 0
    assert table.attrs["without_time"] == 2


# --- repeat_places -------------------------------------------------------------------------------


def test_two_incidents_at_one_spot_make_one_repeat_place_with_its_cell_and_class(clustered):
    spot = centre(5, 5)
    frame = incidents([spot, spot, centre(0, 11)])
    frame["occurred_on"] = pd.Series(
        pd.to_datetime(["2025-01-03", "2025-02-14", "2025-03-01"]), dtype="datetime64[s]"
    )

    places = repeat_places(frame, clustered.cells, WARD_NAMES)

    assert list(places.columns) == [
        "Place",
        "Incidents",
        "First",
        "Last",
        "Ward",
        "Cell",
        "Cell class",
    ]
    assert len(places) == 1
    place = places.iloc[0]
    assert place["Incidents"] == 2
    assert place["Cell"] == cell_id(5, 5)
    assert place["Cell class"] == "hot 99%"
    assert place["Ward"] == "Alpha"
    assert str(place["First"]) == "2025-01-03"
    assert str(place["Last"]) == "2025-02-14"
    longitude, latitude = bng_to_wgs84(np.array([spot[0]]), np.array([spot[1]]))
    assert place["Place"] == f"{latitude[0]:.5f}, {longitude[0]:.5f}"


def test_no_repeats_give_an_empty_table_with_its_columns(clustered):
    places = repeat_places(incidents([centre(0, 0), centre(3, 3)]), clustered.cells, WARD_NAMES)

    assert places.empty
    assert list(places.columns) == [
        "Place",
        "Incidents",
        "First",
        "Last",
        "Ward",
        "Cell",
        "Cell class",
    ]


# --- concentration_table -------------------------------------------------------------------------


def test_the_concentration_table_gives_the_share_in_the_busiest_cells():
    # 100 cells: 50 incidents in one, 30 in another, 1 in each of 20 more
    singles = [centre(col, row) for col in range(4, 10) for row in range(0, 10, 3)][:20]
    points = [centre(0, 9)] * 50 + [centre(2, 9)] * 30 + singles
    analysis = analyse(incidents(points), square_grid(10, 10))

    table = concentration_table(analysis)

    assert table.to_dict("list") == {
        "Busiest cells": ["1%", "5%", "10%"],
        "Cells": [1, 5, 10],
        "Share of incidents": ["50%", "83%", "88%"],  # 50/100, (50+30+3)/100, (50+30+8)/100
    }


def test_the_concentration_of_harm_is_labelled_as_harm(harmful):
    table = concentration_table(harmful)

    # 144 cells: the busiest 2 hold a gbh centre (10,950) and a gbh ring cell (6,570) of 64,670
    assert table["Share of harm"].tolist()[0] == "27%"
    assert table["Cells"].tolist() == [2, 8, 15]


def test_no_incidents_have_no_share_to_give(grid):
    analysis = analyse(incidents([]), grid)

    table = concentration_table(analysis)

    assert table["Share of incidents"].tolist() == ["none", "none", "none"]
    assert table["Cells"].tolist() == [2, 8, 15]  # 1%, 5% and 10% of 144 cells, rounded up


# --- assets_against_need -------------------------------------------------------------------------


def assets(rows: list[tuple[str, str, float, float]]) -> gpd.GeoDataFrame:
    """Assets from (name, kind, easting, northing), handed over in WGS84 as the store does."""
    frame = gpd.GeoDataFrame(
        {"name": [name for name, *_ in rows], "kind": [kind for _, kind, *_ in rows]},
        geometry=gpd.points_from_xy([x for *_, x, _ in rows], [y for *_, y in rows]),
        crs=BNG,
    )
    return frame.to_crs(WGS84)


NEAR_X, NEAR_Y = centre(5, 5)[0], centre(5, 5)[1] + 100  # 100 m north of the hottest centre
FAR_X, FAR_Y = centre(0, 0)


def test_each_asset_counts_the_incidents_and_hot_cells_within_walking_distance(clustered):
    near_incidents = incidents(
        [
            (NEAR_X, NEAR_Y),
            (NEAR_X + 300, NEAR_Y),
            (NEAR_X, NEAR_Y - 399),
            (NEAR_X + 450, NEAR_Y),  # beyond 400 m
            (FAR_X + 10, FAR_Y + 10),
        ]
    )
    bins = assets(
        [("Far bin", "Knife bin", FAR_X, FAR_Y), ("Near bin", "Knife bin", NEAR_X, NEAR_Y)]
    )

    result = assets_against_need(clustered, near_incidents, bins, WARD_NAMES)

    assert result.distance_m == 400.0
    assert result.assets.to_dict("list") == {
        "Asset": ["Near bin", "Far bin"],
        "Kind": ["Knife bin", "Knife bin"],
        "Incidents near": [3, 1],
        # within 400 m of the near bin: the centre (100 m), north (150), south (350), east and
        # west (269) and north-west (292); the south corners are 430 m off, the north-east
        # cell is not hot
        "Hot cells near": [6, 0],
        "Hottest near": ["hot 99%", "none"],
    }


def test_hot_cells_out_of_reach_of_every_asset_are_listed_with_the_nearest_distance(clustered):
    bins = assets(
        [("Far bin", "Knife bin", FAR_X, FAR_Y), ("Near bin", "Knife bin", NEAR_X, NEAR_Y)]
    )

    uncovered = assets_against_need(clustered, incidents([]), bins, WARD_NAMES).uncovered

    assert list(uncovered.columns) == ["Cell", "Class", "Ward", "Incidents", "Nearest asset (m)"]
    rows = sorted(uncovered.itertuples(index=False, name=None))
    assert rows == [
        (cell_id(4, 4), "hot 99%", "Alpha", 10, 430),  # sqrt(250² + 350²) = 430.1 m
        (cell_id(6, 4), "hot 99%", "Alpha", 10, 430),
    ]


def test_without_assets_every_hot_cell_is_uncovered_with_no_distance(clustered):
    none = gpd.GeoDataFrame({"name": [], "kind": []}, geometry=[], crs=WGS84)

    result = assets_against_need(clustered, incidents(CLUSTER_POINTS), none, WARD_NAMES)

    assert result.assets.empty
    assert list(result.assets.columns) == [
        "Asset",
        "Kind",
        "Incidents near",
        "Hot cells near",
        "Hottest near",
    ]
    assert set(result.uncovered["Cell"]) == HOT_CELLS
    assert result.uncovered["Cell"].iloc[0] == cell_id(5, 5)  # strongest first
    assert result.uncovered["Nearest asset (m)"].tolist() == [None] * 8


@pytest.mark.parametrize("distance_m", [0, -50.0])
def test_a_walking_distance_that_is_not_positive_is_refused(clustered, distance_m):
    none = gpd.GeoDataFrame({"name": [], "kind": []}, geometry=[], crs=WGS84)

    with pytest.raises(InvalidInput, match=f"walking distance must be positive, got {distance_m}"):
        assets_against_need(clustered, incidents([]), none, WARD_NAMES, distance_m=distance_m)


# --- density_raster ------------------------------------------------------------------------------

MIDDLE_X, MIDDLE_Y = 528_500.0, 174_500.0
CIRCLE = gpd.GeoSeries([Point(MIDDLE_X, MIDDLE_Y).buffer(2000, 64)], crs=BNG).to_crs(WGS84).iloc[0]


def spread_incidents(count: int) -> pd.DataFrame:
    """``count`` incidents within 800 m of the middle: their kernels lie inside the circle."""
    rng = np.random.default_rng(7)
    x = MIDDLE_X + rng.uniform(-800, 800, count)
    y = MIDDLE_Y + rng.uniform(-800, 800, count)
    return incidents(list(zip(x.tolist(), y.tolist(), strict=True)))


def pixel_area_km2(raster) -> float:
    """The real size of a pixel, from the raster's bounds measured in BNG metres."""
    rows, columns = raster.values.shape
    south, west, north, east = raster.bounds_wgs84
    middle_lat, middle_lon = (south + north) / 2, (west + east) / 2
    x, y = wgs84_to_bng(
        np.array([west, east, middle_lon, middle_lon]),
        np.array([middle_lat, middle_lat, south, north]),
    )
    width = math.hypot(x[1] - x[0], y[1] - y[0]) / columns
    height = math.hypot(x[3] - x[2], y[3] - y[2]) / rows
    return width * height / 1_000_000


def test_the_density_surface_integrates_to_the_number_of_incidents():
    raster = density_raster(spread_incidents(40), CIRCLE, bandwidth_m=400, pixel_m=50)

    assert np.nansum(raster.values) * pixel_area_km2(raster) == pytest.approx(40, rel=0.03)
    assert raster.pixel_m == 50
    assert raster.bandwidth_m == 400


def test_pixels_are_about_pixel_m_square_and_nan_outside_the_area():
    raster = density_raster(spread_incidents(10), CIRCLE, bandwidth_m=400, pixel_m=50)
    rows, columns = raster.values.shape

    assert math.sqrt(pixel_area_km2(raster)) * 1000 == pytest.approx(50, rel=0.03)
    assert np.isnan(raster.values[0, 0])  # a corner of the bounding box, outside the circle
    assert np.isnan(raster.values[-1, -1])
    assert raster.values[rows // 2, columns // 2] > 0  # the middle, among the incidents
    # the circle fills pi / 4 of its bounding square
    assert np.isnan(raster.values).mean() == pytest.approx(1 - math.pi / 4, abs=0.01)


def test_the_raster_bounds_are_the_areas_bounds_south_west_north_east():
    raster = density_raster(spread_incidents(5), CIRCLE, pixel_m=100)
    west, south, east, north = CIRCLE.bounds

    assert raster.bounds_wgs84 == (south, west, north, east)


@pytest.mark.parametrize("pixel_m", [0, -10.0])
def test_a_pixel_size_that_is_not_positive_is_refused(pixel_m):
    with pytest.raises(InvalidInput, match=f"pixel size must be positive, got {pixel_m}"):
        density_raster(spread_incidents(5), CIRCLE, pixel_m=pixel_m)
