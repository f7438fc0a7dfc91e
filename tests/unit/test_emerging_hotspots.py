import re
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau
from shapely.geometry import box

from dashboard.emerging_hotspots import (
    PATTERN_COLOURS,
    PATTERNS,
    RULES,
    classify_trends,
    gi_by_period,
    pattern_summary,
    rules_text,
)
from dashboard.geo import BNG
from dashboard.hotspots import borough_grid

WEST, SOUTH, CELL_M = 530_000, 180_000, 250
QUARTERS = [
    ("2023/24 Q3", date(2023, 10, 1), date(2023, 12, 31)),
    ("2023/24 Q4", date(2024, 1, 1), date(2024, 3, 31)),
    ("2024/25 Q1", date(2024, 4, 1), date(2024, 6, 30)),
    ("2024/25 Q2", date(2024, 7, 1), date(2024, 9, 30)),
    ("2024/25 Q3", date(2024, 10, 1), date(2024, 12, 31)),
    ("2024/25 Q4", date(2025, 1, 1), date(2025, 3, 31)),
    ("2025/26 Q1", date(2025, 4, 1), date(2025, 6, 30)),
    ("2025/26 Q2", date(2025, 7, 1), date(2025, 9, 30)),
]

# Each cluster is a 3 x 3 block of cells around its centre (col, row), every cell of the block
# with the same count in a quarter: Gi* looks at a cell and its 8 neighbours, so a hotspot is a
# cluster, not one busy cell. The blocks are a cell apart on a 12 x 12 grid.
CLUSTERS = {
    "intensifying": ((1, 1), [14, 16, 18, 20, 22, 24, 26, 28]),
    "persistent": ((5, 1), [16, 17, 15, 16, 17, 15, 16, 16]),
    "diminishing": ((9, 1), [28, 26, 24, 22, 20, 18, 16, 14]),
    "new": ((1, 5), [0, 0, 0, 0, 0, 0, 0, 16]),
    "cooling": ((5, 5), [16, 16, 16, 16, 16, 0, 0, 0]),
    "sporadic": ((9, 5), [0, 0, 16, 0, 0, 16, 0, 16]),
}
# a ring of 8 busy cells in the last quarter only, with 2 incidents in the middle cell: the
# middle's neighbourhood is busy, so Gi* finds it significant, but 2 incidents are not a hotspot
RING_CENTRE, RING_COUNT, RING_CENTRE_COUNT = (1, 9), 16, 2


def cell_id(col: int, row: int) -> str:
    return f"{WEST + col * CELL_M}_{SOUTH + row * CELL_M}"


def square_grid(cells: int = 12) -> gpd.GeoDataFrame:
    ward = gpd.GeoDataFrame(
        {"code": ["E05000001"]},
        geometry=[box(WEST, SOUTH, WEST + cells * CELL_M, SOUTH + cells * CELL_M)],
        crs=BNG,
    )
    return borough_grid(ward, cell_size_m=CELL_M)


def incidents_in(col: int, row: int, counts: list[int]) -> list[tuple[float, float, pd.Timestamp]]:
    """``counts[i]`` incidents in the cell in quarter i, spread from its first to its last day."""
    rows = []
    for (_, first, last), count in zip(QUARTERS, counts, strict=True):
        span_days = (last - first).days
        for k in range(count):
            day = pd.Timestamp(first) + pd.Timedelta(days=round(k * span_days / max(count - 1, 1)))
            # spread inside the cell, never on its edges
            x = WEST + col * CELL_M + 10 + (k * 37) % 230
            y = SOUTH + row * CELL_M + 10 + (k * 53) % 230
            rows.append((x, y, day))
    return rows


def constructed_incidents() -> pd.DataFrame:
    rows = []
    for (col, row), counts in CLUSTERS.values():
        for dc in (-1, 0, 1):
            for dr in (-1, 0, 1):
                rows += incidents_in(col + dc, row + dr, counts)
    col, row = RING_CENTRE
    for dc in (-1, 0, 1):
        for dr in (-1, 0, 1):
            count = RING_CENTRE_COUNT if dc == dr == 0 else RING_COUNT
            rows += incidents_in(col + dc, row + dr, [0] * 7 + [count])
    frame = pd.DataFrame(rows, columns=["x_bng", "y_bng", "occurred_on"])
    frame["occurred_on"] = frame["occurred_on"].astype("datetime64[s]")
    return frame


@pytest.fixture(scope="module")
def grid() -> gpd.GeoDataFrame:
    return square_grid()


@pytest.fixture(scope="module")
def by_period(grid: gpd.GeoDataFrame) -> pd.DataFrame:
    return gi_by_period(constructed_incidents(), grid, QUARTERS, cell_size_m=CELL_M)


@pytest.fixture(scope="module")
def classified(by_period: pd.DataFrame) -> pd.DataFrame:
    return classify_trends(by_period)


def row_of(frame: pd.DataFrame, cell: str) -> pd.Series:
    return frame.set_index("cell_id").loc[cell]


def hand_built(series: dict[str, tuple[list[int], list[str]]]) -> pd.DataFrame:
    """A by_period frame from each cell's counts and classes, oldest period first."""
    rows = [
        {"cell_id": cell, "period_index": index, "incident_count": count, "hotspot_class": label}
        for cell, (counts, classes) in series.items()
        for index, (count, label) in enumerate(zip(counts, classes, strict=True))
    ]
    return pd.DataFrame(rows)


HOT, QUIET = "hot 99%", "not significant"


# --- the constructed eight quarters -------------------------------------------------------------


@pytest.mark.parametrize("pattern", list(CLUSTERS))
def test_each_constructed_cluster_lands_in_its_pattern(classified, pattern):
    (col, row), _ = CLUSTERS[pattern]

    assert row_of(classified, cell_id(col, row))["pattern"] == pattern


def test_hot_periods_and_trends_of_the_constructed_clusters(classified):
    def centre(name: str) -> pd.Series:
        return row_of(classified, cell_id(*CLUSTERS[name][0]))

    assert centre("intensifying")[["hot_periods", "hot_in_last", "trend"]].tolist() == [
        8,
        True,
        "up",
    ]
    assert centre("diminishing")[["hot_periods", "hot_in_last", "trend"]].tolist() == [
        8,
        True,
        "down",
    ]
    assert centre("persistent")["trend"] == "none"
    assert centre("cooling")[["hot_periods", "hot_in_last"]].tolist() == [5, False]
    assert centre("sporadic")[["hot_periods", "hot_in_last"]].tolist() == [3, True]
    assert centre("new")[["hot_periods", "hot_in_last"]].tolist() == [1, True]


def test_sporadic_is_hot_in_exactly_quarters_2_5_and_7(by_period):
    cell = cell_id(*CLUSTERS["sporadic"][0])
    rows = by_period[by_period["cell_id"] == cell].sort_values("period_index")

    hot = rows["hotspot_class"].str.startswith("hot ").to_numpy()

    assert np.flatnonzero(hot).tolist() == [2, 5, 7]


def test_a_far_corner_with_no_incidents_is_never_hot(classified):
    assert row_of(classified, cell_id(11, 11))["pattern"] == "never hot"


def test_trend_p_is_kendalls_tau_of_the_cells_counts(classified):
    counts = CLUSTERS["persistent"][1]  # has ties, so this is the tau-b, tie-corrected variance
    expected = kendalltau(np.arange(8), counts)

    row = row_of(classified, cell_id(*CLUSTERS["persistent"][0]))

    assert row["trend_tau"] == pytest.approx(expected.statistic)
    assert row["trend_p"] == pytest.approx(expected.pvalue)
    assert row["trend_p"] > 0.05


def test_a_steady_rise_has_tau_1_and_the_exact_p_of_one_ordering_in_8_factorial(classified):
    row = row_of(classified, cell_id(*CLUSTERS["intensifying"][0]))

    # exact two-sided Mann-Kendall p without ties: 2 orderings of 8! are this extreme
    assert row["trend_tau"] == pytest.approx(1.0)
    assert row["trend_p"] == pytest.approx(2 / 40_320)


def test_counts_per_quarter_of_the_constructed_series(by_period):
    cell = cell_id(*CLUSTERS["cooling"][0])

    rows = by_period[by_period["cell_id"] == cell].sort_values("period_index")

    assert rows["incident_count"].tolist() == [16, 16, 16, 16, 16, 0, 0, 0]
    assert rows["period"].tolist() == [label for label, _, _ in QUARTERS]


def test_gi_by_period_is_one_row_per_cell_and_quarter(by_period, grid):
    assert list(by_period.columns) == [
        "cell_id",
        "period",
        "period_index",
        "incident_count",
        "gi_z",
        "hotspot_class",
    ]
    assert len(by_period) == 144 * 8
    assert set(by_period["cell_id"]) == set(grid["cell_id"])
    assert sorted(by_period["period_index"].unique()) == list(range(8))
    assert by_period.attrs["periods"] == [label for label, _, _ in QUARTERS]


def test_pattern_summary_counts_every_cell_once_in_pattern_order(classified):
    summary = pattern_summary(classified)

    assert list(summary) == list(PATTERNS)
    assert sum(summary.values()) == 144
    assert summary == classified["pattern"].value_counts().reindex(PATTERNS, fill_value=0).to_dict()
    assert all(summary[name] >= 1 for name in CLUSTERS)


# --- small numbers --------------------------------------------------------------------------


def test_two_incidents_in_a_busy_neighbourhood_are_not_a_new_hotspot(grid, by_period, classified):
    centre = cell_id(*RING_CENTRE)
    last = row_of(by_period[by_period["period_index"] == 7], centre)
    assert last["incident_count"] == RING_CENTRE_COUNT
    assert row_of(classified, centre)["pattern"] == "never hot"

    # without the small-numbers rule the same cell would be called a new hotspot, so it is the
    # rule (not a lack of significance) that keeps it off the map
    unruled = classify_trends(
        gi_by_period(constructed_incidents(), grid, QUARTERS, cell_size_m=CELL_M, min_count=0)
    )
    assert row_of(unruled, centre)["pattern"] == "new"


# --- counting by hand -----------------------------------------------------------------------


def test_counts_per_period_by_hand_with_first_and_last_days_inclusive(grid):
    periods = QUARTERS[3::-1]  # newest first: they are put in date order
    at = cell_id(0, 0)
    east = cell_id(1, 0)
    incidents = pd.DataFrame(
        {
            "x_bng": [530_010, 530_240, 530_100, 530_100, 530_250, 530_100, 529_990, 530_100],
            "y_bng": [180_010, 180_240, 180_100, 180_100, 180_000, 180_100, 180_100, 180_100],
            "occurred_on": pd.to_datetime(
                [
                    "2023-10-01",  # first day of 2023/24 Q3
                    "2023-12-31",  # last day of 2023/24 Q3
                    "2024-01-01",  # first day of 2023/24 Q4
                    "2023-09-30",  # before every period: not counted
                    "2024-01-15",  # on the west edge of the next cell east: counted there
                    "2024-09-30",  # last day of 2024/25 Q2
                    "2024-02-01",  # 10 m west of the grid: not counted
                    None,  # no date: not counted
                ]
            ),
        }
    )

    counted = gi_by_period(incidents, grid, periods, cell_size_m=CELL_M)

    def per_period(cell: str) -> list[int]:
        rows = counted[counted["cell_id"] == cell].sort_values("period_index")
        return rows["incident_count"].tolist()

    assert per_period(at) == [2, 1, 0, 1]
    assert per_period(east) == [0, 1, 0, 0]
    assert counted["incident_count"].sum() == 5
    assert counted.drop_duplicates("period_index")["period"].tolist() == [
        "2023/24 Q3",
        "2023/24 Q4",
        "2024/25 Q1",
        "2024/25 Q2",
    ]


def test_an_incident_late_on_the_last_day_counts_in_that_period(grid):
    incidents = pd.DataFrame(
        {
            "x_bng": [530_100.0, 530_100.0],
            "y_bng": [180_100.0, 180_100.0],
            "occurred_on": pd.to_datetime(["2023-12-31 23:30", "2024-01-01 00:00"]),
        }
    )

    counted = gi_by_period(incidents, grid, QUARTERS[:4], cell_size_m=CELL_M)

    rows = counted[counted["cell_id"] == cell_id(0, 0)].sort_values("period_index")
    assert rows["incident_count"].tolist() == [1, 1, 0, 0]


# --- the rules on hand-built series ---------------------------------------------------------


@pytest.mark.parametrize(
    ("classes", "pattern"),
    [
        ([QUIET] * 7 + [HOT], "new"),
        ([QUIET] * 2 + [HOT] * 6, "persistent"),  # 6 of 8 is most (75%)
        ([HOT, QUIET, HOT, QUIET, HOT, QUIET, HOT, HOT], "sporadic"),  # 5 of 8 is not
        ([HOT] * 7 + [QUIET], "cooling"),
        ([HOT] + [QUIET] * 7, "cooling"),
        ([QUIET] * 7 + ["hot 90%"], "new"),  # hot at 90% counts
        ([QUIET] * 7 + ["cold 99%"], "never hot"),
        ([QUIET] * 7 + ["hot 80%"], "never hot"),  # weaker than 90% does not
    ],
)
def test_pattern_rules_on_flat_counts(classes, pattern):
    frame = hand_built({"a": ([9] * 8, classes), "b": ([0] * 8, [QUIET] * 8)})

    assert row_of(classify_trends(frame), "a")["pattern"] == pattern


def test_all_equal_counts_have_no_trend_and_stay_persistent():
    frame = hand_built({"a": ([12] * 8, [HOT] * 8)})

    row = row_of(classify_trends(frame), "a")

    assert np.isnan(row["trend_tau"])
    assert row["trend_p"] == 1.0
    assert (row["trend"], row["pattern"]) == ("none", "persistent")


def test_a_falling_hotspot_that_is_no_longer_hot_is_cooling_not_diminishing():
    frame = hand_built({"a": ([30, 28, 26, 24, 22, 20, 18, 16], [HOT] * 7 + [QUIET])})

    row = row_of(classify_trends(frame), "a")

    assert (row["trend"], row["pattern"]) == ("down", "cooling")


def test_alpha_decides_whether_a_weak_rise_is_intensifying():
    counts = [10, 11, 10, 12, 11, 13, 12, 13]  # p about 0.04
    p = kendalltau(np.arange(8), counts).pvalue
    assert 0.01 < p < 0.05
    frame = hand_built({"a": (counts, [HOT] * 8)})

    assert row_of(classify_trends(frame, alpha=0.05), "a")["pattern"] == "intensifying"
    assert row_of(classify_trends(frame, alpha=0.01), "a")["pattern"] == "persistent"


def test_most_share_sets_how_many_periods_are_most():
    frame = hand_built({"a": ([9] * 8, [QUIET] * 3 + [HOT] * 5)})

    assert row_of(classify_trends(frame), "a")["pattern"] == "sporadic"
    assert row_of(classify_trends(frame, most_share=0.6), "a")["pattern"] == "persistent"
    assert classify_trends(frame, most_share=0.6).attrs["periods_needed"] == 5


# --- refusals ---------------------------------------------------------------------------------


def test_fewer_than_four_periods_are_refused_by_both_steps(grid):
    incidents = constructed_incidents()
    with pytest.raises(ValueError, match="at least 4 periods for a trend test, got 3"):
        gi_by_period(incidents, grid, QUARTERS[:3], cell_size_m=CELL_M)

    frame = hand_built({"a": ([1, 2, 3], [HOT] * 3)})
    with pytest.raises(ValueError, match="at least 4 periods for a trend test, got 3"):
        classify_trends(frame)


def test_a_cell_with_one_period_of_data_is_refused():
    frame = hand_built({"a": ([1, 2, 3, 4], [HOT] * 4), "b": ([5], [HOT])})

    with pytest.raises(
        ValueError, match=r"1 cell\(s\) lack some of the 4 periods \(e.g. b has 1\)"
    ):
        classify_trends(frame)


def test_a_cell_twice_in_a_period_is_refused():
    frame = hand_built({"a": ([1, 2, 3, 4], [HOT] * 4)})
    frame = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)

    with pytest.raises(ValueError, match="repeated cell and period"):
        classify_trends(frame)


def test_overlapping_periods_are_refused(grid):
    periods = [*QUARTERS[:3], ("overlap", date(2024, 6, 30), date(2024, 9, 30))]

    with pytest.raises(ValueError, match="periods 2024/25 Q1 and overlap overlap"):
        gi_by_period(constructed_incidents(), grid, periods, cell_size_m=CELL_M)


def test_a_grid_of_another_cell_size_is_refused(grid):
    with pytest.raises(ValueError, match="not 100 m squares"):
        gi_by_period(constructed_incidents(), grid, QUARTERS, cell_size_m=100)


def test_dates_as_text_are_refused(grid):
    incidents = constructed_incidents().astype({"occurred_on": str})

    with pytest.raises(ValueError, match="occurred_on must be datetime64"):
        gi_by_period(incidents, grid, QUARTERS, cell_size_m=CELL_M)


def test_pattern_summary_refuses_an_unknown_pattern():
    with pytest.raises(ValueError, match="emerging"):
        pattern_summary(pd.DataFrame({"pattern": ["new", "emerging"]}))


# --- the words and colours the page shows --------------------------------------------------


def test_rules_name_every_pattern_once_as_a_bullet():
    bullets = re.findall(r"^- ([a-z ]+):", RULES, flags=re.MULTILINE)

    assert bullets == list(PATTERNS)


def test_rules_state_the_settings_used():
    assert "at least 75% of them (6 of 8)" in RULES
    assert "at least 5 incidents" in RULES
    assert "significant at 0.05" in RULES
    assert "at least 60% of them (5 of 8)" in rules_text(most_share=0.6)


def test_every_pattern_has_its_own_colour():
    assert set(PATTERN_COLOURS) == set(PATTERNS)
    assert len({colour.lower() for colour in PATTERN_COLOURS.values()}) == len(PATTERNS)
