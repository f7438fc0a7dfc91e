"""Hotspot statistics that stand up to scrutiny: Gi* with FDR, kernel density, concentration.

Everything here is pure: GeoDataFrames and arrays in, GeoDataFrames and frames out, distances in
British National Grid metres (EPSG:27700). No Streamlit and no store (issue #7).

- ``getis_ord_gi_star``: Getis-Ord Gi* on the fixed grid, two-sided p-values, Benjamini-Hochberg
  false discovery rate at each confidence level, and a small-numbers rule so that a cell with a
  handful of incidents is never called a hotspot.
- ``kernel_density``: quartic (biweight) kernel density at each cell's centre, per km².
- ``concentration`` and ``lorenz``: how much of the violence the busiest cells hold, and a Gini.
- ``repeat_locations``: places where incidents recur.
- ``load_harm_index`` and ``harm_weights``: weight incidents by harm instead of counting them.
"""

from __future__ import annotations

import math
import tomllib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from scipy.stats import norm

from dashboard.errors import ConfigurationError
from dashboard.frames import require_columns
from dashboard.taxonomy import DEFAULT_TAXONOMY_PATH, load_taxonomy

if TYPE_CHECKING:
    from libpysal.graph import Graph

DEFAULT_HARM_INDEX_PATH = Path(__file__).resolve().parent / "harm_index.toml"

DEFAULT_ALPHA_LEVELS = (0.10, 0.05, 0.01)  # the 90%, 95% and 99% classes analysts expect
DEFAULT_MIN_COUNT = 5  # below this a cell's count is too small to call it a hotspot
DEFAULT_PERMUTATIONS = 999
DEFAULT_SEED = 12345  # fixed, so the permutation p-values are the same on every run
# 1.5 cell sides reaches the 4 edge neighbours (1 side away) and the 4 corner neighbours
# (sqrt(2) = 1.41 sides away) but not the next ring (2 sides away): queen contiguity on a grid
NEIGHBOUR_BAND_CELLS = 1.5
NOT_SIGNIFICANT = "not significant"
# the classes of the default levels, hottest first (hotspot_class_labels for other levels)
HOTSPOT_CLASSES = (
    "hot 99%",
    "hot 95%",
    "hot 90%",
    NOT_SIGNIFICANT,
    "cold 90%",
    "cold 95%",
    "cold 99%",
)
M2_PER_KM2 = 1_000_000.0

_REQUIRED_CELL_COLUMNS = ("cell_id", "incident_count")
# more than any rounded northing in Great Britain (1,300 km at the finest 1 mm), so a place's
# easting and northing pack into one int64 and unpack again
_NORTHING_SPAN = 10_000_000_000


def hotspot_class_labels(alpha_levels: Sequence[float] = DEFAULT_ALPHA_LEVELS) -> tuple[str, ...]:
    """The hotspot classes, hottest first: ``("hot 99%", ..., "not significant", ..., "cold 99%")``.

    Each level ``alpha`` gives the classes "hot (1 - alpha)%" and "cold (1 - alpha)%".
    """
    levels = _checked_alpha_levels(alpha_levels)
    hot = [f"hot {_confidence(alpha)}" for alpha in reversed(levels)]
    cold = [f"cold {_confidence(alpha)}" for alpha in levels]
    return (*hot, NOT_SIGNIFICANT, *cold)


def fdr_significant(p_values: Sequence[float] | np.ndarray, alpha: float) -> np.ndarray:
    """Benjamini-Hochberg: which tests are significant at false discovery rate ``alpha``.

    Sort the m p-values ascending, p(1) <= ... <= p(m), and find the largest rank k with
    p(k) <= k / m * alpha. The tests with the k smallest p-values are significant; if there is
    no such k, none is. This bounds the expected share of false hotspots among the cells
    flagged at ``alpha`` (Benjamini & Hochberg 1995, JRSS B 57(1) 289-300), where testing every
    cell of a grid at ``alpha`` would flag about ``alpha`` of all quiet cells by chance.

    Parameters
    ----------
    p_values : array-like of float
        One p-value per test, each in [0, 1]; no NaN.
    alpha : float
        The false discovery rate, in (0, 1).

    Returns
    -------
    numpy.ndarray of bool
        True where the test is significant, in the order of ``p_values``.

    Raises
    ------
    ValueError
        When ``alpha`` is outside (0, 1) or a p-value is NaN or outside [0, 1].
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    p = np.asarray(p_values, dtype=float).ravel()
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("p_values must all be between 0 and 1 (no NaN)")
    m = p.size
    significant = np.zeros(m, dtype=bool)
    if m == 0:
        return significant
    order = np.argsort(p, kind="stable")
    passes = p[order] <= np.arange(1, m + 1) / m * alpha
    if passes.any():
        k = int(np.flatnonzero(passes).max()) + 1  # the largest passing rank, 1-based
        significant[order[:k]] = True
    return significant


def getis_ord_gi_star(
    cells_bng: gpd.GeoDataFrame,
    value_column: str = "incident_count",
    distance_m: float | None = None,
    k: int | None = None,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = DEFAULT_SEED,
    min_count: int = DEFAULT_MIN_COUNT,
    alpha_levels: Sequence[float] = DEFAULT_ALPHA_LEVELS,
) -> gpd.GeoDataFrame:
    """Getis-Ord Gi* hot and cold spots on the fixed grid, corrected for testing every cell.

    Gi* compares the total of a cell and its neighbours with what the grid-wide mean would give
    (Getis & Ord 1992; Ord & Getis 1995), with the cell itself included ("star")::

        Gi* = (sum_j w_ij x_j - mean(x) sum_j w_ij)
              / (S sqrt((n sum_j w_ij^2 - (sum_j w_ij)^2) / (n - 1)))

    where S is the population standard deviation of x over all n cells. It is a z-score:
    positive where high values cluster, negative where low values do. Computed by
    ``esda.G_Local(transform="B", star=True)``.

    The weights are binary (1 for a neighbour and for the cell itself, 0 otherwise) on cell
    centroids: by default a distance band of 1.5 cell sides, which takes in exactly the 8
    surrounding cells of a square grid (queen contiguity); or a band of ``distance_m``; or the
    ``k`` nearest cells. On a regular grid, k = 4 or 8 avoids ties, which k-nearest breaks
    arbitrarily.

    Significance uses the two-sided p-value of the z-score under the normal approximation
    (esda's ``p_norm`` is one-sided, so it is doubled), then the Benjamini-Hochberg false
    discovery rate over all cells of the grid at each level of ``alpha_levels``. A cell is
    "hot 99%" when significant at 0.01 with z > 0, else "hot 95%" at 0.05, and so on; cold
    likewise with z < 0. Small-numbers rule: a cell with ``incident_count`` below
    ``min_count`` is never hot (it may be inside a hot cluster, but one or two incidents are
    not a place to send a patrol); it can still be cold.

    Parameters
    ----------
    cells_bng : geopandas.GeoDataFrame
        The whole grid, zero cells included (from ``hotspots.count_on_grid``), in EPSG:27700,
        with ``cell_id``, ``incident_count``, ``value_column`` and square cell geometries.
        Leaving out the empty cells would raise the mean and hide real hotspots.
    value_column : str, default "incident_count"
        What to test: counts, or e.g. ``"harm"`` from ``harm_on_grid``. Non-negative, finite.
    distance_m : float, optional
        Distance band in metres between cell centroids. Default 1.5 cell sides (see above).
    k : int, optional
        Use the ``k`` nearest cells instead of a distance band. Not with ``distance_m``.
    permutations : int, default 999
        Conditional permutations for the pseudo p-value ``gi_p_sim`` (0 to skip it). The
        classes use the analytical p-value either way.
    seed : int
        Seed of the permutations, so a run can be repeated exactly.
    min_count : int, default 5
        Cells with fewer incidents are never labelled hot (0 turns the rule off).
    alpha_levels : sequence of float, default (0.10, 0.05, 0.01)
        False discovery rates, one class each.

    Returns
    -------
    geopandas.GeoDataFrame
        ``cells_bng`` in its own order and index, plus ``gi_z`` (the Gi* z-score), ``gi_p``
        (two-sided analytical p), ``gi_p_sim`` (two-sided permutation pseudo p, twice esda's
        folded one-sided ``p_sim`` capped at 1; NaN when ``permutations`` is 0) and
        ``hotspot_class`` (one of ``hotspot_class_labels(alpha_levels)``). ``attrs`` holds
        ``weights`` and ``correction`` (readable descriptions for the page and the PDF),
        ``small_numbers`` and ``fdr_thresholds`` ({alpha: the largest p called significant,
        or None}).

    Raises
    ------
    ValueError
        When the grid is not in EPSG:27700, lacks a column, has repeated ``cell_id`` or fewer
        than 3 cells, has negative or missing values, when both or invalid ``distance_m`` and
        ``k`` are given, when the cells are not squares of one size and no ``distance_m`` or
        ``k`` is given, or when ``permutations``, ``min_count`` or ``alpha_levels`` is invalid.
    """
    _check_cells(cells_bng, value_column)
    levels = _checked_alpha_levels(alpha_levels)
    if permutations < 0:
        raise ValueError(f"permutations must be 0 or more, got {permutations}")
    if min_count < 0:
        raise ValueError(f"min_count must be 0 or more, got {min_count}")
    n = len(cells_bng)
    values = cells_bng[value_column].to_numpy(dtype=float)
    centroids = cells_bng.geometry.centroid
    xy = np.column_stack([centroids.x.to_numpy(), centroids.y.to_numpy()])
    graph, weights_description = _binary_weights(cells_bng, xy, distance_m, k)

    if np.ptp(values) == 0:
        # every cell equal (e.g. no incidents at all): no cell departs from the mean, z = 0
        z = np.zeros(n)
        p_sim = np.ones(n) if permutations else np.full(n, np.nan)
    else:
        # imported here: esda and libpysal take ~2 s to import, which every page's first
        # run (sign-in included) would otherwise pay
        from esda.getisord import G_Local

        with warnings.catch_warnings():
            # esda warns that its permutation test's default alternative will change; we
            # convert its current ("directed", folded one-sided) p_sim to two-sided below
            warnings.filterwarnings(
                "ignore", message="The alternative hypothesis", category=DeprecationWarning
            )
            g_local = G_Local(
                values,
                graph,
                transform="B",
                permutations=permutations,
                star=True,
                keep_simulations=False,
                n_jobs=1,  # 634 cells take ~0.1 s; worker processes would cost more
                seed=seed,
            )
        # a zero denominator only arises when a cell's neighbourhood is the whole grid, where
        # the numerator is zero too: that cell does not depart from the mean
        z = np.where(np.isfinite(g_local.Zs), g_local.Zs, 0.0)
        p_sim = np.minimum(1.0, 2.0 * g_local.p_sim) if permutations else np.full(n, np.nan)
    # esda's p_norm is norm.sf(|z|), one-sided; a cell can be hot or cold, so two-sided
    # (this is 2 * p_norm, computed from z so the all-equal case above needs no esda)
    p_two_sided = np.minimum(1.0, 2.0 * norm.sf(np.abs(z)))

    counts = cells_bng["incident_count"].to_numpy()
    classes = np.full(n, NOT_SIGNIFICANT, dtype=object)
    thresholds: dict[float, float | None] = {}
    # loosest level first, so a stricter level overwrites it: BH at a smaller alpha flags a
    # subset of the cells flagged at a larger one
    for alpha in levels:
        significant = fdr_significant(p_two_sided, alpha)
        thresholds[alpha] = float(p_two_sided[significant].max()) if significant.any() else None
        confidence = _confidence(alpha)
        classes[significant & (z > 0) & (counts >= min_count)] = f"hot {confidence}"
        classes[significant & (z < 0)] = f"cold {confidence}"

    result = cells_bng.copy()
    result["gi_z"] = z
    result["gi_p"] = p_two_sided
    result["gi_p_sim"] = p_sim
    result["hotspot_class"] = pd.Series(classes, index=cells_bng.index, dtype=object)
    levels_text = ", ".join(f"{alpha:g}" for alpha in levels)
    result.attrs["weights"] = weights_description
    result.attrs["correction"] = (
        f"Benjamini-Hochberg false discovery rate over all {n} cells at {levels_text}, "
        "on two-sided p-values from the normal approximation"
    )
    result.attrs["small_numbers"] = (
        f"cells with fewer than {min_count} incidents are never labelled hot"
        if min_count > 0
        else "no small-numbers rule"
    )
    result.attrs["fdr_thresholds"] = thresholds
    return result


def quartic_kernel(squared_distance_m2: np.ndarray, bandwidth_m: float) -> np.ndarray:
    """The quartic (biweight) kernel per m² at the given squared distances.

    3/(pi h²)(1 - d²/h²)² inside the bandwidth h, 0 beyond it; it integrates to 1 over the plane.
    """
    share = np.asarray(squared_distance_m2, dtype=float) / bandwidth_m**2
    return 3.0 / (math.pi * bandwidth_m**2) * np.clip(1.0 - share, 0.0, None) ** 2


def kernel_density(
    x_bng: np.ndarray,
    y_bng: np.ndarray,
    grid_bng: gpd.GeoDataFrame,
    bandwidth_m: float = 250.0,
    weights: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """Quartic (biweight) kernel density of incidents at each grid cell's centre, per km².

    For a cell centre c, with incidents i at distance d_i and bandwidth h::

        density(c) = sum over d_i < h of  w_i * 3 / (pi h^2) * (1 - d_i^2 / h^2)^2

    per m², times 1,000,000 for per km². The kernel integrates to 1, so the density sums over
    the plane to the number of incidents (the sum of ``weights``); it falls smoothly to 0 at h,
    and incidents h or further away add nothing. This is the kernel of ArcGIS's Kernel
    Density and of Silverman (1986, eq. 4.5).

    Parameters
    ----------
    x_bng, y_bng : numpy.ndarray
        Incident eastings and northings, EPSG:27700 metres.
    grid_bng : geopandas.GeoDataFrame
        The cells (EPSG:27700); the density is taken at each cell's centroid.
    bandwidth_m : float, default 250.0
        The kernel radius h in metres.
    weights : numpy.ndarray, optional
        A weight per incident (e.g. its harm); 1 each when omitted.

    Returns
    -------
    geopandas.GeoDataFrame
        ``grid_bng`` in its own order plus ``density_per_km2``.

    Raises
    ------
    ValueError
        When ``grid_bng`` is not in EPSG:27700, ``bandwidth_m`` is not positive, or
        ``x_bng``, ``y_bng`` and ``weights`` differ in length or hold negative weights.
    """
    _check_bng(grid_bng, "grid_bng")
    if not bandwidth_m > 0:
        raise ValueError(f"bandwidth_m must be positive, got {bandwidth_m}")
    x_bng, y_bng = np.asarray(x_bng, dtype=float).ravel(), np.asarray(y_bng, dtype=float).ravel()
    if x_bng.shape != y_bng.shape:
        raise ValueError(f"x_bng and y_bng differ in length: {x_bng.size} and {y_bng.size}")
    if weights is None:
        weights = np.ones(x_bng.size)
    weights = np.asarray(weights, dtype=float).ravel()
    if weights.shape != x_bng.shape:
        raise ValueError(f"weights has {weights.size} values for {x_bng.size} incidents")
    if np.isnan(weights).any() or (weights < 0).any():
        raise ValueError("weights must be non-negative numbers (no NaN)")

    density = np.zeros(len(grid_bng))
    if x_bng.size and len(grid_bng):
        centroids = grid_bng.geometry.centroid
        centres = cKDTree(np.column_stack([centroids.x.to_numpy(), centroids.y.to_numpy()]))
        incidents = cKDTree(np.column_stack([x_bng, y_bng]))
        # every (centre, incident) pair within h, zero distances included, in one C call
        pairs = centres.sparse_distance_matrix(incidents, bandwidth_m, output_type="ndarray")
        kernel = quartic_kernel(pairs["v"] ** 2, bandwidth_m)
        density = np.bincount(
            pairs["i"], weights=kernel * weights[pairs["j"]], minlength=len(grid_bng)
        )
    result = grid_bng.copy()
    result["density_per_km2"] = density * M2_PER_KM2
    return result


@dataclass(frozen=True)
class Concentration:
    """How concentrated incidents are across the cells of the whole grid (zero cells included).

    ``top_1pct_share`` is the share of all incidents in the busiest ``top_1pct_cells`` cells,
    that is ceil(1% of the grid's cells), at least 1; likewise for 5% and 10%. Shares and
    ``gini`` are NaN when there are no incidents.
    """

    cell_count: int
    incident_total: float
    top_1pct_cells: int
    top_1pct_share: float
    top_5pct_cells: int
    top_5pct_share: float
    top_10pct_cells: int
    top_10pct_share: float
    gini: float


def concentration(cells_counts: pd.Series | np.ndarray) -> Concentration:
    """Shares of incidents in the busiest 1%, 5% and 10% of cells, and the Gini coefficient.

    Pass the count (or harm) of every cell of the grid, zero cells included: the percentages
    are of the grid's cells, so leaving the empty ones out would make violence look less
    concentrated than it is. The Gini is (sum_i (2i - n - 1) x_(i)) / (n sum x) with x sorted
    ascending, i = 1..n: 0 when every cell has the same count, (n - 1) / n when one cell has
    them all. Raises ValueError for no cells or negative or missing counts.
    """
    counts = _checked_counts(cells_counts)
    n, total = counts.size, float(counts.sum())
    busiest_first = np.sort(counts)[::-1]

    def top(share_of_cells: float) -> tuple[int, float]:
        cells = max(1, math.ceil(share_of_cells * n - 1e-9))  # 1e-9: 5% of 100 is 5, not 6
        return cells, float(busiest_first[:cells].sum() / total) if total else math.nan

    ascending = busiest_first[::-1]
    ranks = np.arange(1, n + 1)
    gini = float(((2 * ranks - n - 1) * ascending).sum() / (n * total)) if total else math.nan
    top_1, top_5, top_10 = top(0.01), top(0.05), top(0.10)
    return Concentration(
        cell_count=n,
        incident_total=total,
        top_1pct_cells=top_1[0],
        top_1pct_share=top_1[1],
        top_5pct_cells=top_5[0],
        top_5pct_share=top_5[1],
        top_10pct_cells=top_10[0],
        top_10pct_share=top_10[1],
        gini=gini,
    )


def lorenz(counts: pd.Series | np.ndarray) -> pd.DataFrame:
    """Concentration curve: cumulative share of cells against share of incidents, busiest first.

    Returns n + 1 rows, ``cell_share`` and ``incident_share``, from (0, 0) to (1, 1); a point
    (0.05, 0.4) reads "the busiest 5% of cells hold 40% of incidents". ``incident_share`` is
    NaN after the origin when there are no incidents. Pass every cell, zero cells included.
    """
    values = _checked_counts(counts)
    busiest_first = np.sort(values)[::-1]
    total = busiest_first.sum()
    cumulative = np.concatenate([[0.0], np.cumsum(busiest_first)])
    with np.errstate(invalid="ignore", divide="ignore"):
        incident_share = cumulative / total if total else np.r_[0.0, np.full(values.size, np.nan)]
    return pd.DataFrame(
        {"cell_share": np.arange(values.size + 1) / values.size, "incident_share": incident_share}
    )


def repeat_locations(
    incidents: pd.DataFrame, min_count: int = 2, precision_m: float = 10.0
) -> pd.DataFrame:
    """Places where incidents recur: the same place at least ``min_count`` times.

    police.uk moves each incident to one of a fixed set of anonymised map points, so incidents
    at identical coordinates are at the same place. When ``incidents`` has a ``location_key``
    column (e.g. police.uk's location id), rows with a key are grouped by it; other rows by
    their coordinates rounded to the nearest ``precision_m``. Rounding snaps to a grid, so two
    points a metre apart can still fall either side of a grid line; it is not clustering.
    The period is whatever ``incidents`` covers: filter it to the look-back first.

    Parameters
    ----------
    incidents : pandas.DataFrame
        ``x_bng``, ``y_bng`` (EPSG:27700 metres), ``occurred_on`` (dates) and optionally
        ``location_key``.
    min_count : int, default 2
        The fewest incidents that make a place a repeat location.
    precision_m : float, default 10.0
        The rounding of coordinates, in metres.

    Returns
    -------
    pandas.DataFrame
        ``place_key``, ``x_bng``, ``y_bng`` (the mean position of the place's incidents),
        ``incident_count``, ``first_on``, ``last_on``; most incidents first, then the most
        recent, then by ``place_key``.

    Raises
    ------
    ValueError
        When a column is missing, coordinates are missing, or ``min_count`` or ``precision_m``
        is not positive.
    """
    require_columns(incidents, ("x_bng", "y_bng", "occurred_on"), "incidents")
    if min_count < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count}")
    if not precision_m >= 0.001:
        raise ValueError(f"precision_m must be at least 0.001 (1 mm), got {precision_m}")
    columns = ["place_key", "x_bng", "y_bng", "incident_count", "first_on", "last_on"]
    if incidents.empty:
        return pd.DataFrame(columns=columns)
    x_bng = incidents["x_bng"].to_numpy(dtype=float)
    y_bng = incidents["y_bng"].to_numpy(dtype=float)
    if np.isnan(x_bng).any() or np.isnan(y_bng).any():
        raise ValueError("incidents has rows without x_bng or y_bng; drop or geocode them first")
    # group on one whole number per place, not on a text key per incident: at a million rows
    # the text costs seconds; only the repeat places found get their readable key
    east = np.round(x_bng / precision_m).astype(np.int64)
    north = np.round(y_bng / precision_m).astype(np.int64)
    place = east * _NORTHING_SPAN + north  # >= 0 within Great Britain's grid
    key_names = pd.Index([])
    if "location_key" in incidents.columns:
        location_key = incidents["location_key"].reset_index(drop=True)
        keyed = location_key.notna().to_numpy()
        codes, key_names = pd.factorize(location_key[keyed].astype(str))
        place[keyed] = -1 - codes  # a keyed place is negative: its key's code
    # most places hold one incident: find the repeats first and aggregate only their rows
    per_place = pd.Series(place).value_counts()
    repeats = np.isin(place, per_place.index[per_place >= min_count].to_numpy())
    frame = pd.DataFrame(
        {
            "place": place[repeats],
            "x_bng": x_bng[repeats],
            "y_bng": y_bng[repeats],
            "occurred_on": incidents["occurred_on"].to_numpy()[repeats],
        }
    )
    places = frame.groupby("place", as_index=False, sort=False).agg(
        x_bng=("x_bng", "mean"),
        y_bng=("y_bng", "mean"),
        incident_count=("occurred_on", "size"),
        first_on=("occurred_on", "min"),
        last_on=("occurred_on", "max"),
    )
    places = places[places["incident_count"] >= min_count].copy()
    places["place_key"] = [
        f"key:{key_names[-1 - code]}"
        if code < 0
        else f"grid:{code // _NORTHING_SPAN * precision_m:.0f}_"
        f"{code % _NORTHING_SPAN * precision_m:.0f}"
        for code in places["place"]
    ]
    return places.sort_values(
        ["incident_count", "last_on", "place_key"],
        ascending=[False, False, True],
        ignore_index=True,
    )[columns]


@dataclass(frozen=True)
class HarmIndex:
    """A harm weight per taxonomy category, with where the numbers come from.

    ``status`` is "indicative" until the borough has set and signed off its own values; pages
    should say so next to any harm-weighted figure.
    """

    name: str
    source: str
    unit: str
    status: str
    weights: dict[str, float] = field(default_factory=dict)
    basis: dict[str, str] = field(default_factory=dict)


def load_harm_index(
    path: Path = DEFAULT_HARM_INDEX_PATH, taxonomy_path: Path = DEFAULT_TAXONOMY_PATH
) -> HarmIndex:
    """Read and check a harm index file against the taxonomy.

    Every category of the taxonomy must have a weight, every weight must be a number above 0,
    and no weight may name a category the taxonomy lacks (a typo would otherwise go unnoticed).
    Raises ConfigurationError naming the file and what to change.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"Cannot read the harm index {path}: {error}") from error
    about = raw.get("index", {})
    for key in ("name", "source", "unit", "status"):
        if not isinstance(about.get(key), str) or not about[key].strip():
            raise ConfigurationError(f"{path}: [index] needs a {key} (text)")
    entries = raw.get("weights", {})
    categories = set(load_taxonomy(taxonomy_path).categories)
    missing = sorted(categories - set(entries))
    if missing:
        raise ConfigurationError(
            f"{path}: no harm weight for the taxonomy categories {', '.join(missing)}; "
            "add them under [weights]"
        )
    unknown = sorted(set(entries) - categories)
    if unknown:
        raise ConfigurationError(
            f"{path}: [weights] names categories the taxonomy does not have: "
            f"{', '.join(unknown)}; check the spelling against taxonomy.toml"
        )
    weights: dict[str, float] = {}
    basis: dict[str, str] = {}
    for category, entry in entries.items():
        weight = entry.get("weight") if isinstance(entry, dict) else entry
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
            raise ConfigurationError(
                f"{path}: the harm weight of {category} must be a number above 0, got {weight!r}"
            )
        weights[category] = float(weight)
        basis[category] = str(entry.get("basis", "")) if isinstance(entry, dict) else ""
    return HarmIndex(
        name=about["name"],
        source=about["source"],
        unit=about["unit"],
        status=about["status"],
        weights=weights,
        basis=basis,
    )


def harm_weights(categories: pd.Series, index: Mapping[str, float]) -> pd.Series:
    """The harm weight of each incident's category (``HarmIndex.weights`` as ``index``).

    Returns floats with the index of ``categories``. Raises ValueError naming any category that
    has no weight, rather than counting it as harmless.
    """
    unknown = sorted({str(c) for c in categories.dropna().unique()} - set(index))
    if unknown:
        raise ValueError(f"categories without a harm weight: {', '.join(unknown)}")
    if categories.isna().any():
        raise ValueError("categories has missing values; classify every incident first")
    return categories.map(dict(index)).astype(float)


def harm_on_grid(
    cells_bng: gpd.GeoDataFrame,
    x_bng: np.ndarray,
    y_bng: np.ndarray,
    harm: np.ndarray,
    cell_size_m: float,
) -> gpd.GeoDataFrame:
    """Add a ``harm`` column to a grid: the summed harm of the incidents in each cell.

    ``cells_bng`` is a grid from ``hotspots.count_on_grid`` (``cell_id`` = easting_northing of
    the south-west corner, side ``cell_size_m``); cells without incidents get 0 and incidents
    outside the grid are not counted, as for counts. Pass the result to ``getis_ord_gi_star``
    with ``value_column="harm"``.
    """
    if not cell_size_m > 0:
        raise ValueError(f"cell_size_m must be positive, got {cell_size_m}")
    x_bng, y_bng = np.asarray(x_bng, dtype=float).ravel(), np.asarray(y_bng, dtype=float).ravel()
    harm = np.asarray(harm, dtype=float).ravel()
    if not x_bng.size == y_bng.size == harm.size:
        raise ValueError(
            f"x_bng, y_bng and harm differ in length: {x_bng.size}, {y_bng.size}, {harm.size}"
        )
    # the same floor as hotspots.count_incidents_by_cell, so the cell ids match
    west = np.floor(x_bng / cell_size_m) * cell_size_m
    south = np.floor(y_bng / cell_size_m) * cell_size_m
    cell_ids = [f"{x:.0f}_{y:.0f}" for x, y in zip(west, south, strict=True)]
    by_cell = pd.Series(harm).groupby(cell_ids).sum()
    result = cells_bng.copy()
    result["harm"] = result["cell_id"].map(by_cell).fillna(0.0).astype(float)
    return result


def _binary_weights(
    cells_bng: gpd.GeoDataFrame, xy: np.ndarray, distance_m: float | None, k: int | None
) -> tuple[Graph, str]:
    """Binary neighbour weights on cell centroids, and a sentence saying what they are."""
    from libpysal.graph import Graph  # see getis_ord_gi_star: a slow import, only needed here

    star = "binary, Gi* including the cell itself"
    n = len(xy)
    if distance_m is not None and k is not None:
        raise ValueError("give distance_m or k, not both")
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k < n:
            raise ValueError(f"k must be a whole number from 1 to {n - 1}, got {k}")
        return Graph.build_knn(xy, int(k)), f"the {k} nearest cells (by centroid), {star}"
    if distance_m is not None:
        if not distance_m > 0:
            raise ValueError(f"distance_m must be positive, got {distance_m}")
        return (
            Graph.build_distance_band(xy, float(distance_m), binary=True),
            f"distance band {distance_m:g} m between cell centroids, {star}",
        )
    cell_size_m = _square_cell_size_m(cells_bng)
    band_m = NEIGHBOUR_BAND_CELLS * cell_size_m
    return (
        Graph.build_distance_band(xy, band_m, binary=True),
        f"distance band {band_m:g} m (the 8 neighbouring {cell_size_m:g} m cells), {star}",
    )


def _square_cell_size_m(cells_bng: gpd.GeoDataFrame) -> float:
    """The side of the grid's cells; ValueError unless they are all squares of one size."""
    bounds = cells_bng.geometry.bounds
    widths = (bounds["maxx"] - bounds["minx"]).to_numpy()
    heights = (bounds["maxy"] - bounds["miny"]).to_numpy()
    side = float(widths[0])
    areas = cells_bng.geometry.area.to_numpy()
    if not (
        side > 0
        and np.allclose(widths, side, rtol=1e-6)
        and np.allclose(heights, side, rtol=1e-6)
        and np.allclose(areas, side * side, rtol=1e-6)
    ):
        raise ValueError(
            "cells_bng is not a grid of equal squares, so the default neighbourhood "
            "(1.5 cell sides) is undefined; pass distance_m or k"
        )
    return side


def _check_bng(frame: gpd.GeoDataFrame, name: str) -> None:
    if frame.crs is None or frame.crs.to_epsg() != 27700:
        raise ValueError(f"{name} must be in EPSG:27700 (metres), got {frame.crs}")


def _check_cells(cells_bng: gpd.GeoDataFrame, value_column: str) -> None:
    _check_bng(cells_bng, "cells_bng")
    missing = [c for c in (*_REQUIRED_CELL_COLUMNS, value_column) if c not in cells_bng.columns]
    if missing:
        raise ValueError(
            f"cells_bng lacks the column(s) {', '.join(dict.fromkeys(missing))}; "
            "pass the whole grid from hotspots.count_on_grid"
        )
    if len(cells_bng) < 3:
        raise ValueError(
            f"cells_bng has {len(cells_bng)} cells; Gi* needs the whole grid, zero cells included"
        )
    if cells_bng["cell_id"].duplicated().any():
        raise ValueError("cells_bng has repeated cell_id values; each cell must appear once")
    for column in dict.fromkeys(("incident_count", value_column)):
        values = pd.to_numeric(cells_bng[column], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(values).all() or (values < 0).any():
            raise ValueError(f"{column} must hold non-negative numbers for every cell")


def _checked_alpha_levels(alpha_levels: Sequence[float]) -> tuple[float, ...]:
    """The levels, loosest first; ValueError when empty, repeated or outside (0, 1)."""
    levels = tuple(float(alpha) for alpha in alpha_levels)
    if not levels or len(set(levels)) != len(levels) or not all(0 < a < 1 for a in levels):
        raise ValueError(
            f"alpha_levels must be distinct numbers between 0 and 1, got {tuple(alpha_levels)}"
        )
    return tuple(sorted(levels, reverse=True))


def _checked_counts(counts: pd.Series | np.ndarray | Iterable[float]) -> np.ndarray:
    values = np.asarray(counts, dtype=float).ravel()
    if values.size == 0:
        raise ValueError("counts is empty; pass the count of every cell of the grid")
    if np.isnan(values).any() or (values < 0).any():
        raise ValueError("counts must be non-negative numbers (no NaN)")
    return values


def _confidence(alpha: float) -> str:
    return f"{round((1 - alpha) * 100, 6):g}%"
