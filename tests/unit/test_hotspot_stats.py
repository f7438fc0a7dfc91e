import math
from datetime import date
from pathlib import Path

import esda
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from dashboard.errors import ConfigurationError
from dashboard.geo import BNG
from dashboard.hotspot_stats import (
    DEFAULT_HARM_INDEX_PATH,
    HOTSPOT_CLASSES,
    concentration,
    fdr_significant,
    getis_ord_gi_star,
    harm_on_grid,
    harm_weights,
    hotspot_class_labels,
    kernel_density,
    load_harm_index,
    lorenz,
    repeat_locations,
)
from dashboard.taxonomy import load_taxonomy


def lattice(values: list[list[float]], cell_size_m: float = 100.0) -> gpd.GeoDataFrame:
    """A square grid, row 0 at the south, with each value as incident_count."""
    rows = []
    for row, row_values in enumerate(values):
        for col, value in enumerate(row_values):
            west, south = col * cell_size_m, row * cell_size_m
            rows.append(
                {
                    "cell_id": f"{west:.0f}_{south:.0f}",
                    "incident_count": value,
                    "geometry": box(west, south, west + cell_size_m, south + cell_size_m),
                }
            )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=BNG)


def cell(result: gpd.GeoDataFrame, row: int, col: int, cell_size_m: float = 100.0) -> pd.Series:
    cell_id = f"{col * cell_size_m:.0f}_{row * cell_size_m:.0f}"
    return result.set_index("cell_id").loc[cell_id]


# 5 x 5 lattice: the centre 20, its 8 neighbours 10, the outer ring of 16 cells 0
HOT_CENTRE = [
    [0, 0, 0, 0, 0],
    [0, 10, 10, 10, 0],
    [0, 10, 20, 10, 0],
    [0, 10, 10, 10, 0],
    [0, 0, 0, 0, 0],
]


def test_gi_star_of_the_hot_centre_matches_the_formula_by_hand():
    # Gi* = (sum w x - mean * sum w) / (S sqrt((n sum w^2 - (sum w)^2) / (n - 1))), binary w
    # n = 25, sum x = 20 + 8 * 10 = 100, mean = 4
    # sum x^2 = 400 + 8 * 100 = 1200, S^2 = 1200 / 25 - 4^2 = 32, S = 4 sqrt(2)
    # centre: itself + 8 neighbours, sum w = sum w^2 = 9, sum w x = 100
    #   numerator 100 - 4 * 9 = 64; denominator 4 sqrt(2) sqrt((225 - 81) / 24) = 8 sqrt(3)
    #   Gi* = 8 / sqrt(3) = 4.6188
    # south-west corner: itself, east, north, north-east; sum w = 4, only the north-east is 10
    #   numerator 10 - 4 * 4 = -6; denominator 4 sqrt(2) sqrt((100 - 16) / 24) = 4 sqrt(7)
    #   Gi* = -6 / (4 sqrt(7)) = -0.5669
    result = getis_ord_gi_star(lattice(HOT_CENTRE), permutations=0)

    assert cell(result, 2, 2)["gi_z"] == pytest.approx(8 / math.sqrt(3))
    assert cell(result, 0, 0)["gi_z"] == pytest.approx(-6 / (4 * math.sqrt(7)))
    # two-sided: twice the upper tail of the normal beyond |z| (esda's p_norm is one tail)
    assert cell(result, 2, 2)["gi_p"] == pytest.approx(3.862e-6, rel=1e-3)
    assert cell(result, 0, 0)["gi_p"] == pytest.approx(0.5708, abs=1e-4)


def test_gi_star_reproduces_the_worked_example_in_esdas_g_local_docstring():
    # esda 2.9.0, esda/getisord.py, G_Local docstring (also esda/tests/test_getisord.py):
    # six points, DistanceBand(threshold=15), y = [2, 3, 3.2, 5, 8, 7], transform="B", star=True
    points = [(10, 10), (20, 10), (40, 10), (15, 20), (30, 20), (30, 30)]
    cells = gpd.GeoDataFrame(
        {"cell_id": [f"p{i}" for i in range(6)], "incident_count": [2, 3, 3.2, 5, 8, 7]},
        geometry=[box(x - 0.5, y - 0.5, x + 0.5, y + 0.5) for x, y in points],
        crs=BNG,
    )

    result = getis_ord_gi_star(cells, distance_m=15, permutations=0)

    np.testing.assert_allclose(
        result["gi_z"],
        [-1.39727626, -0.28917762, 0.65064964, -0.28917762, 1.23452088, 2.02424331],
        rtol=1e-7,
    )
    assert result.attrs["weights"] == (
        "distance band 15 m between cell centroids, binary, Gi* including the cell itself"
    )


def test_default_weights_are_the_8_neighbours_and_say_so():
    result = getis_ord_gi_star(lattice(HOT_CENTRE, cell_size_m=250), permutations=0)

    assert result.attrs["weights"] == (
        "distance band 375 m (the 8 neighbouring 250 m cells), binary, "
        "Gi* including the cell itself"
    )
    assert result.attrs["correction"] == (
        "Benjamini-Hochberg false discovery rate over all 25 cells at 0.1, 0.05, 0.01, "
        "on two-sided p-values from the normal approximation"
    )


def test_8_nearest_cells_give_the_centre_the_same_neighbourhood_as_the_default_band():
    # the centre's 8 nearest: 4 at 100 m and 4 at 141 m; the next 4 are 200 m away, so no ties
    default = getis_ord_gi_star(lattice(HOT_CENTRE), permutations=0)
    nearest = getis_ord_gi_star(lattice(HOT_CENTRE), k=8, permutations=0)

    assert cell(nearest, 2, 2)["gi_z"] == pytest.approx(cell(default, 2, 2)["gi_z"])
    assert nearest.attrs["weights"].startswith("the 8 nearest cells")


def test_output_keeps_the_input_order_index_and_columns():
    cells = lattice(HOT_CENTRE).assign(ward_code="E05000001")
    cells.index = cells.index + 100

    result = getis_ord_gi_star(cells, permutations=0)

    assert result.index.tolist() == cells.index.tolist()
    assert result["cell_id"].tolist() == cells["cell_id"].tolist()
    assert result.columns.tolist() == [
        *cells.columns,
        "gi_z",
        "gi_p",
        "gi_p_sim",
        "hotspot_class",
    ]
    assert result["gi_p_sim"].isna().all()  # no permutations, no pseudo p


def test_permutation_pseudo_p_is_two_sided_and_repeatable_with_the_seed():
    first = getis_ord_gi_star(lattice(HOT_CENTRE), permutations=99, seed=7)
    again = getis_ord_gi_star(lattice(HOT_CENTRE), permutations=99, seed=7)

    pd.testing.assert_series_equal(first["gi_p_sim"], again["gi_p_sim"])
    assert first["gi_p_sim"].between(0, 1).all()
    # no permutation beats the centre: esda's folded one-sided p is 1/100, two-sided 2/100
    assert cell(first, 2, 2)["gi_p_sim"] == pytest.approx(0.02)


def nine_by_nine(cluster: float, background: float = 0.0) -> list[list[float]]:
    """A 9 x 9 lattice, the middle 3 x 3 cells at ``cluster``, a few background cells at 1."""
    values = [[background] * 9 for _ in range(9)]
    for row in range(3, 6):
        for col in range(3, 6):
            values[row][col] = cluster
    for row, col in [(0, 0), (8, 8), (0, 8), (8, 0), (1, 6), (7, 2)]:
        values[row][col] = 1
    return values


def test_a_dense_cluster_is_hot_at_99_percent_and_the_quiet_cells_are_not_significant():
    result = getis_ord_gi_star(lattice(nine_by_nine(cluster=12)), permutations=0)

    assert cell(result, 4, 4)["hotspot_class"] == "hot 99%"
    assert cell(result, 0, 0)["hotspot_class"] == "not significant"
    assert set(result["hotspot_class"]) <= set(HOTSPOT_CLASSES)
    # every hot cell is one of the 9 cluster cells (its neighbours hold no incidents)
    hot = result[result["hotspot_class"].str.startswith("hot")]
    assert (hot["incident_count"] == 12).all()
    assert 0 < len(hot) <= 9


def test_cells_below_min_count_are_never_hot_however_significant():
    cells = lattice(nine_by_nine(cluster=4))  # 4 incidents a cell: below the default 5

    strict = getis_ord_gi_star(cells, permutations=0)
    no_rule = getis_ord_gi_star(cells, permutations=0, min_count=0)

    assert cell(strict, 4, 4)["gi_z"] == pytest.approx(cell(no_rule, 4, 4)["gi_z"])
    assert cell(no_rule, 4, 4)["hotspot_class"] == "hot 99%"
    assert cell(strict, 4, 4)["hotspot_class"] == "not significant"
    assert not strict["hotspot_class"].str.startswith("hot").any()
    assert strict.attrs["small_numbers"] == (
        "cells with fewer than 5 incidents are never labelled hot"
    )


def test_a_cell_empty_among_busy_ones_can_be_cold():
    # a busy grid (30 everywhere) with a 3 x 3 block of empty cells: the block's centre is cold
    values = [[30.0] * 9 for _ in range(9)]
    for row in range(3, 6):
        for col in range(3, 6):
            values[row][col] = 0.0
    values[0][0] = 31.0  # any variation elsewhere, so S > 0 outside the block too

    result = getis_ord_gi_star(lattice(values), permutations=0)

    assert cell(result, 4, 4)["gi_z"] < -3
    assert cell(result, 4, 4)["hotspot_class"] == "cold 99%"


def test_random_noise_that_raw_p_values_would_flag_is_not_significant_after_fdr():
    # 25 cells of Poisson(6) noise, no spatial pattern. Two cells have a raw two-sided
    # p < 0.05 (the smallest 0.046); BH at 0.05 would need p <= 1/25 * 0.05 = 0.002 for the
    # smallest, so no cell is a hot or cold spot at any level.
    values = np.random.default_rng(3).poisson(6, size=(5, 5)).tolist()

    result = getis_ord_gi_star(lattice(values), permutations=0)

    assert (result["gi_p"] < 0.05).sum() == 2
    assert result["gi_p"].min() == pytest.approx(0.0463, abs=1e-4)
    assert (result["hotspot_class"] == "not significant").all()
    assert result.attrs["fdr_thresholds"] == {0.10: None, 0.05: None, 0.01: None}


def test_an_empty_grid_has_no_hotspots_and_no_error():
    result = getis_ord_gi_star(lattice([[0] * 5 for _ in range(5)]), permutations=99)

    assert (result["gi_z"] == 0).all()
    assert (result["gi_p"] == 1).all()
    assert (result["hotspot_class"] == "not significant").all()


def test_gi_star_on_harm_tests_the_harm_but_applies_the_small_numbers_rule_to_counts():
    cells = lattice(nine_by_nine(cluster=4))
    # one homicide-weight cell inside the cluster, everything else 20 a cell per incident
    cells["harm"] = cells["incident_count"] * 20.0
    cells.loc[cells["cell_id"] == "400_400", "harm"] = 5475.0

    result = getis_ord_gi_star(cells, value_column="harm", permutations=0)

    assert cell(result, 4, 4)["gi_z"] > 3
    assert not result["hotspot_class"].str.startswith("hot").any()  # 4 incidents < 5


def test_custom_alpha_levels_name_their_own_classes():
    assert hotspot_class_labels((0.2, 0.05)) == (
        "hot 95%",
        "hot 80%",
        "not significant",
        "cold 80%",
        "cold 95%",
    )
    assert hotspot_class_labels() == HOTSPOT_CLASSES


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (lambda c: c.set_crs(4326, allow_override=True), {}, "cells_bng must be in EPSG:27700"),
        (lambda c: c.drop(columns="incident_count"), {}, r"lacks the column.*incident_count"),
        (lambda c: c, {"value_column": "harm"}, r"lacks the column.*harm"),
        (lambda c: c.head(2), {}, "has 2 cells"),
        (lambda c: pd.concat([c, c.head(1)]), {}, "repeated cell_id"),
        (lambda c: c.assign(incident_count=-1), {}, "incident_count must hold non-negative"),
        (lambda c: c, {"distance_m": 150, "k": 8}, "distance_m or k, not both"),
        (lambda c: c, {"distance_m": 0}, "distance_m must be positive"),
        (lambda c: c, {"k": 25}, "k must be a whole number from 1 to 24"),
        (lambda c: c, {"permutations": -1}, "permutations must be 0 or more"),
        (lambda c: c, {"min_count": -1}, "min_count must be 0 or more"),
        (lambda c: c, {"alpha_levels": (0.05, 0.05)}, "alpha_levels must be distinct"),
        (lambda c: c, {"alpha_levels": (1.5,)}, "alpha_levels must be distinct"),
    ],
)
def test_gi_star_rejects_bad_input_naming_the_argument(change, kwargs, message):
    cells = change(lattice(HOT_CENTRE))

    with pytest.raises(ValueError, match=message):
        getis_ord_gi_star(cells, **({"permutations": 0} | kwargs))


def test_the_default_band_needs_equal_squares():
    cells = lattice(HOT_CENTRE)
    cells.loc[0, "geometry"] = box(0, 0, 100, 50)

    with pytest.raises(ValueError, match=r"not a grid of equal squares.*pass distance_m or k"):
        getis_ord_gi_star(cells, permutations=0)
    assert len(getis_ord_gi_star(cells, distance_m=150, permutations=0)) == 25


def test_fdr_benjamini_hochberg_on_p_values_worked_by_hand():
    # m = 5, alpha = 0.05. Sorted: 0.005, 0.01, 0.03, 0.04, 0.2 (ranks 1-5)
    # thresholds rank / m * alpha: 0.01, 0.02, 0.03, 0.04, 0.05
    # 0.005 <= 0.01, 0.01 <= 0.02, 0.03 <= 0.03, 0.04 <= 0.04, 0.2 > 0.05: largest rank 4,
    # so the four smallest are significant and 0.2 is not
    p = [0.01, 0.04, 0.03, 0.005, 0.2]

    assert fdr_significant(p, 0.05).tolist() == [True, True, True, True, False]
    # alpha = 0.04: thresholds 0.008, 0.016, 0.024, 0.032, 0.04; only ranks 1 and 2 pass
    assert fdr_significant(p, 0.04).tolist() == [True, False, False, True, False]


def test_fdr_steps_up_past_a_rank_that_fails_on_its_own():
    # m = 4, alpha = 0.05, thresholds 0.0125, 0.025, 0.0375, 0.05
    # rank 2 (0.03 > 0.025) fails alone, but rank 3 (0.035 <= 0.0375) passes, so 1-3 all count
    assert fdr_significant([0.001, 0.03, 0.035, 0.5], 0.05).tolist() == [True, True, True, False]


def test_fdr_agrees_with_esda_fdr_threshold_away_from_ties():
    # esda.fdr returns a cut-off; p <= cut-off is the same set as ours unless a p-value sits
    # exactly on rank / m * alpha, where esda's strict "<" drops it and BH (1995) keeps it
    # (in the hand example above esda keeps 3 cells at 0.05, not 4)
    rng = np.random.default_rng(11)
    p = rng.uniform(size=500) ** 4  # many small p-values, as near a real hotspot

    for alpha in (0.10, 0.05, 0.01):
        ours = fdr_significant(p, alpha)
        assert ours.any()
        np.testing.assert_array_equal(ours, p <= esda.fdr(p, alpha))


def test_fdr_edge_cases():
    assert fdr_significant([], 0.05).tolist() == []
    assert fdr_significant([0.5, 0.9], 0.05).tolist() == [False, False]
    with pytest.raises(ValueError, match="alpha must be between 0 and 1"):
        fdr_significant([0.1], 0)
    with pytest.raises(ValueError, match="p_values must all be between 0 and 1"):
        fdr_significant([0.1, np.nan], 0.05)


def one_cell_grid() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"cell_id": ["0_0"]}, geometry=[box(0, 0, 100, 100)], crs=BNG)


def test_quartic_density_at_a_cell_centre_matches_the_hand_computation():
    # h = 100 m, centre (50, 50). K(d) = 3 / (pi h^2) (1 - d^2 / h^2)^2 per m^2
    #   (50, 50): d = 0, K = 3 / (pi 10^4)
    #   (80, 90): d = sqrt(30^2 + 40^2) = 50, (1 - 0.25)^2 = 0.5625
    #   (150, 50): d = 100 = h, 0;  (50, 200): d = 150 > h, 0
    # per km^2: 3e6 / (pi 10^4) * (1 + 0.5625) = 300 / pi * 1.5625 = 149.21
    x = np.array([50.0, 80, 150, 50])
    y = np.array([50.0, 90, 50, 200])

    result = kernel_density(x, y, one_cell_grid(), bandwidth_m=100)

    assert result["density_per_km2"].iloc[0] == pytest.approx(300 / math.pi * 1.5625)
    weighted = kernel_density(x, y, one_cell_grid(), 100, weights=np.array([2.0, 1, 1, 1]))
    assert weighted["density_per_km2"].iloc[0] == pytest.approx(300 / math.pi * 2.5625)


def test_density_integrates_to_the_number_of_incidents():
    # 10 m cells over 600 m x 600 m around two incidents 200 m apart, h = 250 m
    size = 10.0
    west, south = np.meshgrid(np.arange(-300, 300, size), np.arange(-300, 300, size))
    grid = gpd.GeoDataFrame(
        geometry=[
            box(x, y, x + size, y + size) for x, y in zip(west.ravel(), south.ravel(), strict=True)
        ],
        crs=BNG,
    )

    result = kernel_density(np.array([-100.0, 100.0]), np.array([0.0, 0.0]), grid, 250)

    cell_area_km2 = size * size / 1e6
    assert (result["density_per_km2"] * cell_area_km2).sum() == pytest.approx(2, rel=0.01)


def test_density_with_no_incidents_is_zero_and_bad_input_is_named():
    empty = kernel_density(np.array([]), np.array([]), one_cell_grid())
    assert empty["density_per_km2"].tolist() == [0.0]
    with pytest.raises(ValueError, match="bandwidth_m must be positive"):
        kernel_density(np.array([1.0]), np.array([1.0]), one_cell_grid(), bandwidth_m=0)
    with pytest.raises(ValueError, match="grid_bng must be in EPSG:27700"):
        kernel_density(np.array([1.0]), np.array([1.0]), one_cell_grid().to_crs(4326))
    with pytest.raises(ValueError, match="weights has 2 values for 1 incidents"):
        kernel_density(np.array([1.0]), np.array([1.0]), one_cell_grid(), weights=[1.0, 2.0])


def test_concentration_of_a_worked_20_cell_grid():
    # 20 cells, 21 incidents: 10, 5, 2, 2, 2 and 15 empty cells
    # top 1% = ceil(0.2) = 1 cell -> 10/21; top 5% = 1 cell -> 10/21; top 10% = 2 -> 15/21
    # Gini, ascending x, ranks 16-20 non-zero: (2i - 21) = 11, 13, 15, 17, 19
    #   sum = 2*11 + 2*13 + 2*15 + 5*17 + 10*19 = 353; G = 353 / (20 * 21) = 0.8405
    counts = pd.Series([10, 5, 2, 2, 2] + [0] * 15)

    result = concentration(counts)

    assert (result.cell_count, result.incident_total) == (20, 21)
    assert (result.top_1pct_cells, result.top_5pct_cells, result.top_10pct_cells) == (1, 1, 2)
    assert result.top_1pct_share == pytest.approx(10 / 21)
    assert result.top_5pct_share == pytest.approx(10 / 21)
    assert result.top_10pct_share == pytest.approx(15 / 21)
    assert result.gini == pytest.approx(353 / 420)


def test_lorenz_curve_starts_at_the_origin_busiest_first_and_matches_the_gini():
    # counts 0, 0, 1, 3, 6 (10 incidents): busiest first 6, 3, 1, 0, 0
    # Gini = (-4*0 - 2*0 + 0*1 + 2*3 + 4*6) / (5 * 10) = 0.6
    # area under the curve (trapezoids of width 0.2) = 0.06 + 0.15 + 0.19 + 0.2 + 0.2 = 0.8,
    # and 2 * 0.8 - 1 = 0.6 too
    curve = lorenz(np.array([0, 0, 1, 3, 6]))

    assert curve["cell_share"].tolist() == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert curve["incident_share"].tolist() == pytest.approx([0, 0.6, 0.9, 1.0, 1.0, 1.0])
    area = np.trapezoid(curve["incident_share"], curve["cell_share"])
    assert 2 * area - 1 == pytest.approx(concentration([0, 0, 1, 3, 6]).gini)
    assert concentration([0, 0, 1, 3, 6]).gini == pytest.approx(0.6)


def test_concentration_without_incidents_is_nan_and_bad_counts_are_refused():
    result = concentration([0, 0, 0])
    assert math.isnan(result.top_10pct_share)
    assert math.isnan(result.gini)
    assert concentration([4, 4, 4, 4]).gini == pytest.approx(0)
    with pytest.raises(ValueError, match="counts is empty"):
        concentration([])
    with pytest.raises(ValueError, match="non-negative"):
        lorenz([1, -1])


def test_repeat_locations_round_to_the_precision_and_count_each_place():
    incidents = pd.DataFrame(
        {
            "x_bng": [527001.0, 527003.0, 526998.0, 527100.0, 527102.0, 527500.0],
            "y_bng": [173001.0, 172998.0, 173004.0, 173100.0, 173099.0, 173500.0],
            "occurred_on": [
                date(2025, 1, 5),
                date(2025, 3, 1),
                date(2025, 2, 1),
                date(2025, 1, 1),
                date(2025, 4, 1),
                date(2025, 5, 1),
            ],
        }
    )

    result = repeat_locations(incidents, min_count=2, precision_m=10)

    assert result["place_key"].tolist() == ["grid:527000_173000", "grid:527100_173100"]
    assert result["incident_count"].tolist() == [3, 2]
    assert result["first_on"].tolist() == [date(2025, 1, 5), date(2025, 1, 1)]
    assert result["last_on"].tolist() == [date(2025, 3, 1), date(2025, 4, 1)]
    assert result["x_bng"].iloc[0] == pytest.approx(527000.6667, abs=1e-3)


def test_repeat_locations_use_the_location_key_when_there_is_one():
    # rows 0-1 share a key although 40 m apart; row 2 has no key and joins row 3 by position
    incidents = pd.DataFrame(
        {
            "x_bng": [527000.0, 527040.0, 527300.0, 527301.0],
            "y_bng": [173000.0, 173000.0, 173300.0, 173301.0],
            "occurred_on": [date(2025, 1, d) for d in (1, 2, 3, 4)],
            "location_key": ["1234", "1234", None, None],
        }
    )

    result = repeat_locations(incidents)

    assert result["place_key"].tolist() == ["grid:527300_173300", "key:1234"]
    assert result["incident_count"].tolist() == [2, 2]  # ties: most recent first


def test_repeat_locations_bad_input():
    with pytest.raises(ValueError, match=r"lacks the column.*occurred_on"):
        repeat_locations(pd.DataFrame({"x_bng": [1.0], "y_bng": [1.0]}))
    with pytest.raises(ValueError, match=r"precision_m must be at least 0\.001"):
        repeat_locations(pd.DataFrame(columns=["x_bng", "y_bng", "occurred_on"]), precision_m=0)
    empty = repeat_locations(pd.DataFrame(columns=["x_bng", "y_bng", "occurred_on"]))
    assert empty.empty
    assert "incident_count" in empty.columns


def test_the_shipped_harm_index_covers_every_taxonomy_category_and_is_marked_indicative():
    index = load_harm_index()

    assert set(index.weights) == set(load_taxonomy().categories)
    assert all(weight > 0 for weight in index.weights.values())
    assert index.status == "indicative"
    assert "Sherman" in index.source
    assert index.weights["homicide"] > index.weights["rape"] > index.weights["robbery"]
    assert all(index.basis[category] for category in index.weights)


def write_index(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "harm_index.toml"
    path.write_text(text, encoding="utf-8")
    return path


def shipped_text() -> str:
    return DEFAULT_HARM_INDEX_PATH.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace("homicide = { weight = 5475", "# homicide = { weight = 5475"),
            "no harm weight for the taxonomy categories homicide",
        ),
        (
            lambda t: t.replace("robbery = { weight = 365", "robbery = { weight = 0"),
            "harm weight of robbery must be a number above 0, got 0",
        ),
        (
            lambda t: t.replace("robbery = { weight = 365", 'robbery = { weight = "365"'),
            "harm weight of robbery must be a number above 0",
        ),
        (
            lambda t: t + "\n[weights.robery]\nweight = 365\n",
            "names categories the taxonomy does not have: robery",
        ),
        (lambda t: t.replace('status = "indicative"', ""), r"\[index\] needs a status"),
        (lambda t: t + "\nnot toml at all [[", "Cannot read the harm index"),
    ],
)
def test_a_broken_harm_index_is_refused_with_what_to_change(tmp_path, edit, message):
    path = write_index(tmp_path, edit(shipped_text()))

    with pytest.raises(ConfigurationError, match=message):
        load_harm_index(path)


def test_a_missing_harm_index_file_is_named(tmp_path):
    with pytest.raises(ConfigurationError, match="Cannot read the harm index"):
        load_harm_index(tmp_path / "absent.toml")


def test_harm_weights_map_categories_and_refuse_unknown_ones():
    index = {"homicide": 5475.0, "robbery": 365.0}
    categories = pd.Series(["robbery", "homicide", "robbery"], index=[10, 11, 12])

    weights = harm_weights(categories, index)

    assert weights.tolist() == [365.0, 5475.0, 365.0]
    assert weights.index.tolist() == [10, 11, 12]
    with pytest.raises(ValueError, match="categories without a harm weight: arson"):
        harm_weights(pd.Series(["robbery", "arson"]), index)
    with pytest.raises(ValueError, match="missing values"):
        harm_weights(pd.Series(["robbery", None]), index)


def test_harm_on_grid_sums_harm_per_cell_with_the_grid_cell_ids():
    grid = lattice([[0, 0], [0, 0]], cell_size_m=250)

    result = harm_on_grid(
        grid,
        np.array([10.0, 20.0, 300.0, 9999.0]),
        np.array([10.0, 20.0, 10.0, 10.0]),
        np.array([365.0, 20.0, 5475.0, 1.0]),
        cell_size_m=250,
    )

    assert dict(zip(result["cell_id"], result["harm"], strict=True)) == {
        "0_0": 385.0,
        "250_0": 5475.0,
        "0_250": 0.0,
        "250_250": 0.0,
    }
