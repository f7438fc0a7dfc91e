"""Hotspots over time: Gi* in each period, a trend test per cell, and an emerging-hotspot pattern.

In the spirit of ESRI's Emerging Hot Spot Analysis: Getis-Ord Gi* is run on the borough's whole
fixed grid once per period (a quarter on the Quarterly page), then each cell's incident counts
over the periods get a Mann-Kendall trend test, and the two together give the cell a pattern
(new, intensifying, persistent, diminishing, sporadic, cooling or never hot; ``RULES`` states
them in words for the page and the pack).

Pure: incidents as plain columns (``x_bng``, ``y_bng`` in EPSG:27700 metres, ``occurred_on``
datetime64) and a GeoDataFrame grid in, frames out. No Streamlit and no store (issue #8).
Periods arrive as plain ``(label, first day, last day)`` tuples, so any calendar can be used.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from dashboard import hotspot_stats, hotspots
from dashboard.frames import require_columns
from dashboard.hotspot_stats import DEFAULT_MIN_COUNT

logger = logging.getLogger(__name__)

# Mann-Kendall needs a few points to say anything: with 4 periods the smallest two-sided p-value
# is already 1/12 (0.083), so fewer periods could never show a trend at all
MIN_PERIODS = 4
DEFAULT_TREND_ALPHA = 0.05
DEFAULT_MOST_SHARE = 0.75  # "most periods": 6 of the page's 8 quarters
HOT_CONFIDENCE_PCT = 90.0  # hot at 90% or stronger counts as hot, as in ESRI's tool

# hot now first (newest, then strongest), then former hotspots, then the rest
PATTERNS = (
    "new",
    "intensifying",
    "persistent",
    "diminishing",
    "sporadic",
    "cooling",
    "never hot",
)
# Paul Tol's "muted" qualitative scheme, chosen as a set to stay distinct under the common
# colour-vision deficiencies (https://personal.sron.nl/~pault/); warm hues for hot now,
# cyan for a former hotspot, pale grey for never hot
PATTERN_COLOURS = {
    "new": "#DDCC77",  # sand
    "intensifying": "#882255",  # wine
    "persistent": "#CC6677",  # rose
    "diminishing": "#AA4499",  # purple
    "sporadic": "#999933",  # olive
    "cooling": "#88CCEE",  # cyan
    "never hot": "#DDDDDD",  # pale grey
}
TRENDS = ("up", "down", "none")

_PERIOD_COLUMNS = ("cell_id", "period", "period_index", "incident_count", "gi_z", "hotspot_class")
_HOT_LABEL = re.compile(r"^hot (\d+(?:\.\d+)?)%$")


def rules_text(
    alpha: float = DEFAULT_TREND_ALPHA,
    most_share: float = DEFAULT_MOST_SHARE,
    min_count: int = DEFAULT_MIN_COUNT,
) -> str:
    """The rules of ``classify_trends`` in plain words, for settings other than the defaults.

    ``RULES`` is this text with the defaults. Raises ValueError for an ``alpha`` outside (0, 1)
    or a ``most_share`` outside (0, 1].
    """
    _check_alpha(alpha)
    _check_most_share(most_share)
    needed_of_8 = _periods_needed(8, most_share)
    return (
        "A period is one of the time steps compared (a quarter on the Quarterly page); at least "
        f"{MIN_PERIODS} are needed. A cell is hot in a period when Getis-Ord Gi* marks it as a "
        f"hotspot at {HOT_CONFIDENCE_PCT:g}% confidence or more (after the false discovery rate "
        f"correction over every cell of the grid) and it had at least {min_count} incidents "
        "in that period; cells with fewer are never called hot. The trend is a Mann-Kendall "
        "test of the cell's incident counts period by period: up or down when significant at "
        f"{alpha:g} (two-sided), otherwise none. Most periods means at least "
        f"{most_share:.0%} of them ({needed_of_8} of 8).\n"
        "- new: hot in the last period and in no earlier period.\n"
        "- intensifying: hot in the last period and in most periods, with counts trending up.\n"
        "- persistent: hot in the last period and in most periods, with no significant trend.\n"
        "- diminishing: hot in the last period and in most periods, with counts trending down.\n"
        "- sporadic: hot in the last period and in an earlier one, but not in most periods "
        "(on and off).\n"
        "- cooling: not hot in the last period, but hot in at least one earlier period "
        "(a former hotspot).\n"
        "- never hot: not hot in any period (counted, not mapped)."
    )


def gi_by_period(
    incidents: pd.DataFrame,
    grid_bng: gpd.GeoDataFrame,
    periods: Sequence[tuple[str, date, date]],
    cell_size_m: float = hotspots.DEFAULT_CELL_SIZE_M,
    min_count: int = DEFAULT_MIN_COUNT,
) -> pd.DataFrame:
    """Count the incidents of each period on the whole grid and run Gi* on each period's counts.

    Each period is tested on its own, against its own grid-wide mean, with
    ``hotspot_stats.getis_ord_gi_star`` (the 8 surrounding cells as neighbours, two-sided
    p-values, Benjamini-Hochberg at 90%, 95% and 99%, and its small-numbers rule; no
    permutations, as the classes use the analytical p-value).

    Parameters
    ----------
    incidents : pandas.DataFrame
        ``x_bng`` and ``y_bng`` (EPSG:27700 metres) and ``occurred_on`` (datetime64, no time
        zone). Incidents in no period, with no date (NaT) or outside the grid are not counted.
    grid_bng : geopandas.GeoDataFrame
        The borough's whole grid from ``hotspots.borough_grid``, in EPSG:27700, squares of side
        ``cell_size_m`` with a unique ``cell_id`` (easting_northing of the south-west corner).
        Not cut to a few wards: Gi* compares each neighbourhood with the mean of every cell.
    periods : sequence of (str, datetime.date, datetime.date)
        ``(label, first day, last day)``, both days inclusive, at least ``MIN_PERIODS``. They
        are put in date order (so ``period_index`` 0 is the oldest) and must not overlap; gaps
        between them are allowed.
    cell_size_m : float, default 250.0
        The side of the grid's cells in metres.
    min_count : int, default 5
        Cells with fewer incidents in a period are never hot in that period.

    Returns
    -------
    pandas.DataFrame
        One row per cell and period, by ``period_index`` then ``cell_id``: ``cell_id``,
        ``period`` (the label), ``period_index`` (0 = oldest), ``incident_count``, ``gi_z``
        and ``hotspot_class`` (one of ``hotspot_stats.HOTSPOT_CLASSES``). ``attrs`` holds
        ``weights``, ``correction`` and ``small_numbers`` (sentences for the page, as
        ``getis_ord_gi_star`` gives them) and ``periods`` (the labels, oldest first).

    Raises
    ------
    ValueError
        When there are fewer than ``MIN_PERIODS`` periods, a period is malformed, ends before
        it starts, repeats a label or overlaps another; when ``incidents`` lacks a column,
        ``occurred_on`` is not datetime64 or a coordinate is not finite; when ``grid_bng`` is
        not in EPSG:27700, repeats a ``cell_id`` or its cells are not ``cell_size_m`` squares;
        and whatever ``getis_ord_gi_star`` refuses.
    """
    ordered = _checked_periods(periods)
    require_columns(incidents, ("x_bng", "y_bng", "occurred_on"), "incidents")
    if not pd.api.types.is_datetime64_dtype(incidents["occurred_on"]):
        raise ValueError(
            "incidents.occurred_on must be datetime64 without a time zone, got "
            f"{incidents['occurred_on'].dtype}; convert it with pandas.to_datetime"
        )
    x_bng = incidents["x_bng"].to_numpy(dtype=float)
    y_bng = incidents["y_bng"].to_numpy(dtype=float)
    if not (np.isfinite(x_bng).all() and np.isfinite(y_bng).all()):
        raise ValueError("incidents.x_bng and y_bng must be finite for every incident")
    _check_grid(grid_bng, cell_size_m)

    occurred_on = incidents["occurred_on"]
    frames = []
    attrs: dict[str, object] = {}
    for index, (label, first, last) in enumerate(ordered):
        # before the day after the last day, so a datetime late on the last day still counts
        in_period = (
            (occurred_on >= pd.Timestamp(first))
            & (occurred_on < pd.Timestamp(last + timedelta(days=1)))
        ).to_numpy(dtype=bool)
        cells = hotspots.count_on_grid(grid_bng, x_bng[in_period], y_bng[in_period], cell_size_m)
        gi = hotspot_stats.getis_ord_gi_star(cells, permutations=0, min_count=min_count)
        attrs = {key: gi.attrs[key] for key in ("weights", "correction", "small_numbers")}
        frames.append(
            pd.DataFrame(
                {
                    "cell_id": gi["cell_id"].to_numpy(dtype=object),
                    "period": label,
                    "period_index": index,
                    "incident_count": gi["incident_count"].to_numpy(dtype=np.int64),
                    "gi_z": gi["gi_z"].to_numpy(dtype=float),
                    "hotspot_class": gi["hotspot_class"].to_numpy(dtype=object),
                }
            ).sort_values("cell_id", ignore_index=True)
        )
    result = pd.concat(frames, ignore_index=True)[list(_PERIOD_COLUMNS)]
    result.attrs = {**attrs, "periods": [label for label, _, _ in ordered]}
    logger.info(
        "Gi* over %d periods on %d cells (%d incidents in the periods)",
        len(ordered),
        len(grid_bng),
        int(result["incident_count"].sum()),
    )
    return result


def classify_trends(
    by_period: pd.DataFrame,
    alpha: float = DEFAULT_TREND_ALPHA,
    most_share: float = DEFAULT_MOST_SHARE,
) -> pd.DataFrame:
    """Give each cell a trend and an emerging-hotspot pattern from its Gi* classes over time.

    A cell is hot in a period when its ``hotspot_class`` is hot at 90% confidence or more
    ("hot 90%", "hot 95%", "hot 99%"). With ``n`` periods, "most periods" means at least
    ``most_share * n`` of them (6 of 8 by default). The patterns, first match wins:

    - ``"new"``: hot in the last period and in no earlier period;
    - ``"intensifying"``: hot in the last period and in most periods, trend up;
    - ``"persistent"``: hot in the last period and in most periods, no significant trend;
    - ``"diminishing"``: hot in the last period and in most periods, trend down;
    - ``"sporadic"``: hot in the last period and in an earlier one, but in fewer than most
      periods. The issue names five patterns; a cell that is hot now but has been on and off
      fits none of them and needs a name too (ESRI calls it "sporadic" as well);
    - ``"cooling"``: not hot in the last period, but hot in at least one earlier period (a
      former hotspot; ESRI would split this into "historical" and others);
    - ``"never hot"``: the rest, kept so the table can count them.

    The trend is a two-sided Mann-Kendall test of the cell's incident counts against time,
    computed as ``scipy.stats.kendalltau(period_index, counts)``. Its p-value depends only on
    Mann-Kendall's S (concordant minus discordant pairs): exact when no two counts are equal,
    otherwise the normal approximation with the tie-corrected variance of S (Kendall 1975),
    without continuity correction. ``trend_tau`` is Kendall's tau-b, which with ties is S
    divided by the tie-adjusted number of pairs. When every count is equal there is no trend
    to test: ``trend_tau`` is NaN and ``trend_p`` 1.0. The trend is "up" (tau > 0) or "down"
    (tau < 0) when ``trend_p <= alpha``, else "none". The p-values are not corrected for
    testing many cells: the trend only decides between intensifying, persistent and
    diminishing for cells already hot in most periods. Unlike ESRI's tool, which tests the
    trend of the Gi* z-scores, this tests the counts, which is what partners ask about.

    Parameters
    ----------
    by_period : pandas.DataFrame
        As ``gi_by_period`` returns it: ``cell_id``, ``period_index``, ``incident_count`` and
        ``hotspot_class``, one row per cell and period, every cell in every period.
    alpha : float, default 0.05
        Significance level of the trend test, in (0, 1).
    most_share : float, default 0.75
        The share of periods that counts as "most", in (0, 1].

    Returns
    -------
    pandas.DataFrame
        One row per cell: ``cell_id``, ``hot_periods`` (how many periods it was hot),
        ``hot_in_last`` (bool), ``trend_tau``, ``trend_p``, ``trend`` (one of ``TRENDS``) and
        ``pattern`` (one of ``PATTERNS``); sorted in ``PATTERNS`` order, then most hot periods
        first, then by ``cell_id``. ``attrs`` holds ``periods`` (n), ``periods_needed`` (the
        number that is "most"), ``alpha`` and ``most_share``.

    Raises
    ------
    ValueError
        When a column is missing, ``alpha`` or ``most_share`` is out of range, there are fewer
        than ``MIN_PERIODS`` periods, a cell and period appear twice, a cell lacks a period
        (e.g. only 1 period of data), or a count or class is missing or a count negative.
    """
    require_columns(
        by_period, ("cell_id", "period_index", "incident_count", "hotspot_class"), "by_period"
    )
    _check_alpha(alpha)
    _check_most_share(most_share)
    indexes = np.sort(by_period["period_index"].dropna().unique())
    _check_period_count(len(indexes))
    if by_period["period_index"].isna().any():
        raise ValueError("by_period.period_index is missing for some rows")
    if by_period["hotspot_class"].isna().any() or by_period["incident_count"].isna().any():
        raise ValueError("by_period has rows without a hotspot_class or incident_count")
    if (pd.to_numeric(by_period["incident_count"]) < 0).any():
        raise ValueError("by_period.incident_count must not be negative")
    repeated = by_period.duplicated(["cell_id", "period_index"])
    if repeated.any():
        example = by_period.loc[repeated].iloc[0]
        raise ValueError(
            f"by_period has {int(repeated.sum())} repeated cell and period rows (e.g. cell "
            f"{example['cell_id']} in period {example['period_index']}); pass one row each"
        )
    counts = by_period.pivot(index="cell_id", columns="period_index", values="incident_count")
    counts = counts.reindex(columns=indexes)
    incomplete = counts.isna().any(axis=1)
    if incomplete.any():
        have = counts.loc[incomplete].notna().sum(axis=1)
        raise ValueError(
            f"{int(incomplete.sum())} cell(s) lack some of the {len(indexes)} periods (e.g. "
            f"{have.index[0]} has {int(have.iloc[0])}); every cell needs a row in every period, "
            "as gi_by_period gives them"
        )
    hot = (
        by_period.assign(hot=by_period["hotspot_class"].map(_is_hot).astype(bool))
        .pivot(index="cell_id", columns="period_index", values="hot")
        .reindex(index=counts.index, columns=indexes)
        .to_numpy(dtype=bool)
    )

    n = len(indexes)
    needed = _periods_needed(n, most_share)
    taus, p_values = _mann_kendall(indexes.astype(float), counts.to_numpy(dtype=float))
    significant = p_values <= alpha
    trend = np.select(
        [significant & (taus > 0), significant & (taus < 0)], ["up", "down"], default="none"
    )
    hot_periods = hot.sum(axis=1)
    hot_in_last = hot[:, -1]
    mostly_hot = hot_periods >= needed
    pattern = np.select(
        [
            hot_in_last & (hot_periods == 1),
            hot_in_last & mostly_hot & (trend == "up"),
            hot_in_last & mostly_hot & (trend == "none"),
            hot_in_last & mostly_hot & (trend == "down"),
            hot_in_last,
            hot_periods > 0,
        ],
        ["new", "intensifying", "persistent", "diminishing", "sporadic", "cooling"],
        default="never hot",
    )
    result = pd.DataFrame(
        {
            "cell_id": counts.index.to_numpy(dtype=object),
            "hot_periods": hot_periods.astype(np.int64),
            "hot_in_last": hot_in_last,
            "trend_tau": taus,
            "trend_p": p_values,
            "trend": trend.astype(object),
            "pattern": pattern.astype(object),
        }
    )
    rank = {name: position for position, name in enumerate(PATTERNS)}
    result = (
        result.assign(_rank=result["pattern"].map(rank))
        .sort_values(
            ["_rank", "hot_periods", "cell_id"], ascending=[True, False, True], kind="stable"
        )
        .drop(columns="_rank")
        .reset_index(drop=True)
    )
    result.attrs = {
        "periods": n,
        "periods_needed": needed,
        "alpha": alpha,
        "most_share": most_share,
    }
    return result


def pattern_summary(classified: pd.DataFrame) -> dict[str, int]:
    """How many cells have each pattern, every pattern of ``PATTERNS`` in order, zeros included.

    ``classified`` is ``classify_trends`` output (or any frame with a ``pattern`` column).
    Raises ValueError for a pattern not in ``PATTERNS``.
    """
    require_columns(classified, ("pattern",), "classified")
    counts: Mapping[str, int] = classified["pattern"].value_counts().to_dict()
    unknown = sorted(str(name) for name in set(counts) - set(PATTERNS))
    if unknown:
        raise ValueError(
            f"classified has patterns {', '.join(unknown)}, not among {', '.join(PATTERNS)}"
        )
    return {name: int(counts.get(name, 0)) for name in PATTERNS}


def _mann_kendall(times: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kendall's tau-b and the two-sided p-value of each row of ``counts`` against ``times``."""
    taus = np.full(len(counts), np.nan)
    p_values = np.ones(len(counts))
    for row, series in enumerate(counts):
        if np.ptp(series) == 0:
            continue  # all equal (often all 0): no trend, and kendalltau would give NaN
        result = kendalltau(times, series)
        taus[row], p_values[row] = float(result.statistic), float(result.pvalue)
    return taus, p_values


def _is_hot(label: object) -> bool:
    """True for a hot class at ``HOT_CONFIDENCE_PCT`` or more ("hot 90%", "hot 95%", ...)."""
    match = _HOT_LABEL.match(str(label))
    return bool(match) and float(match.group(1)) >= HOT_CONFIDENCE_PCT


def _periods_needed(n: int, most_share: float) -> int:
    """The fewest periods k out of n with k / n >= most_share (ratios, so 6/8 >= 0.75 exactly)."""
    return next(k for k in range(1, n + 1) if k / n >= most_share)


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")


def _check_most_share(most_share: float) -> None:
    if not 0 < most_share <= 1:
        raise ValueError(f"most_share must be above 0 and at most 1, got {most_share}")


def _check_period_count(count: int) -> None:
    if count < MIN_PERIODS:
        raise ValueError(
            f"Emerging hotspot analysis needs at least {MIN_PERIODS} periods for a trend test, "
            f"got {count}; pass more periods (the Quarterly page uses the last eight quarters)"
        )


def _checked_periods(
    periods: Sequence[tuple[str, date, date]],
) -> list[tuple[str, date, date]]:
    """The periods in date order; ValueError when too few, malformed or overlapping."""
    periods = list(periods)
    _check_period_count(len(periods))
    for period in periods:
        if (
            not isinstance(period, tuple | list)
            or len(period) != 3
            or not isinstance(period[0], str)
            or not isinstance(period[1], date)
            or not isinstance(period[2], date)
        ):
            raise ValueError(
                f"each period must be (label, first day, last day) with datetime.date days, "
                f"got {period!r}"
            )
        if period[2] < period[1]:
            raise ValueError(
                f"period {period[0]} ends ({period[2]}) before it starts ({period[1]})"
            )
    labels = [period[0] for period in periods]
    if len(set(labels)) != len(labels):
        raise ValueError(f"period labels must be unique, got {labels}")
    ordered = sorted(
        ((label, first, last) for label, first, last in periods), key=lambda period: period[1]
    )
    for earlier, later in itertools.pairwise(ordered):
        if later[1] <= earlier[2]:
            raise ValueError(
                f"periods {earlier[0]} and {later[0]} overlap ({earlier[2]} is on or after "
                f"{later[1]}); an incident must fall in one period at most"
            )
    return ordered


def _check_grid(grid_bng: gpd.GeoDataFrame, cell_size_m: float) -> None:
    if not isinstance(grid_bng, gpd.GeoDataFrame):
        raise ValueError(f"grid_bng must be a GeoDataFrame, got {type(grid_bng).__name__}")
    if grid_bng.crs is None or grid_bng.crs.to_epsg() != 27700:
        raise ValueError(f"grid_bng must be in EPSG:27700 (metres), got {grid_bng.crs}")
    require_columns(grid_bng, ("cell_id",), "grid_bng")
    if not cell_size_m > 0:
        raise ValueError(f"cell_size_m must be positive, got {cell_size_m}")
    if grid_bng["cell_id"].duplicated().any():
        raise ValueError("grid_bng has repeated cell_id values; pass hotspots.borough_grid")
    bounds = grid_bng.geometry.bounds
    widths = (bounds["maxx"] - bounds["minx"]).to_numpy()
    heights = (bounds["maxy"] - bounds["miny"]).to_numpy()
    # counting places incidents by flooring to cell_size_m, so a grid of another size would
    # match no cell_id and silently count nothing
    if not (np.allclose(widths, cell_size_m) and np.allclose(heights, cell_size_m)):
        raise ValueError(
            f"grid_bng cells are not {cell_size_m:g} m squares; build the grid with "
            "hotspots.borough_grid and the same cell_size_m"
        )


# the rules with the defaults, printed verbatim by the page and the pack (defined last: it calls
# the checks above)
RULES = rules_text()
