"""Evidence for a problem-solving plan's area: what happens inside it, and did the plan help.

Pure functions over incidents as plain columns (as ``dashboard.store.queries.incidents`` returns
them) and shapely areas in British National Grid metres (EPSG:27700). Nothing here draws, caches
or reads the store. Incidents reach the map as counts in cells clipped to the area, never as
points.

Incidents dated only to the month (``date_precision == "month"``, as police.uk gives them, on the
1st of the month) are left out of every comparison between windows of days or weeks, and counted,
because a month-only date cannot be placed in such a window. A frame without ``date_precision``
is taken as dated to the day throughout.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from datetime import date, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from dashboard.dates import short_date
from dashboard.frames import require_columns
from dashboard.geo import BNG

MONTH_PRECISION = "month"  # date_precision of a date known to the month only (police.uk)
SIGNIFICANT_Z = 1.96  # |z| at or above this is significant at the 95% level (two-sided)
DEFAULT_MIN_TARGET_COUNT = 20  # fewer incidents than this in the area over both periods: no test
# an overlap smaller than 1 cm2 is floating-point noise along a shared edge, not a real overlap
_TOUCHING_AREA_M2 = 0.01
_MAX_CELLS = 250_000  # a grid bigger than this is a mistake (wrong units or a tiny cell size)
_POLYGONAL = (3, 6)  # shapely type ids of Polygon and MultiPolygon
_GEOMETRY_COLLECTION = 7

Area = Polygon | MultiPolygon


# ---------------------------------------------------------------------------------------------
# Checks and small helpers


def _check_area(area_bng: object, name: str = "area_bng") -> None:
    """Reject anything that is not a non-empty, valid polygon in British National Grid metres."""
    if not isinstance(area_bng, Polygon | MultiPolygon):
        raise ValueError(
            f"{name} must be a shapely Polygon or MultiPolygon in EPSG:27700 metres, "
            f"got {type(area_bng).__name__}"
        )
    if area_bng.is_empty:
        raise ValueError(f"{name} is empty; draw the plan's area before asking for its evidence")
    # validity first: a shape whose edges cross can have an area of 0 (a symmetric bow tie)
    if not area_bng.is_valid:
        raise ValueError(
            f"{name} is not a valid polygon ({shapely.is_valid_reason(area_bng)}); "
            "redraw it so that its edges do not cross"
        )
    if area_bng.area <= 0:
        raise ValueError(f"{name} has no area; draw the plan's area before asking for its evidence")
    minx, miny, maxx, maxy = area_bng.bounds
    # no part of Great Britain lies within 180 m of the grid's false origin, off the Scillies
    if minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90:
        raise ValueError(
            f"{name} looks like longitude/latitude degrees (bounds {area_bng.bounds}); "
            "project it to EPSG:27700 (dashboard.geo.BNG) first"
        )


def _xy(incidents: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    require_columns(incidents, ("x_bng", "y_bng"), "incidents")
    return (
        incidents["x_bng"].to_numpy(dtype=float, na_value=np.nan),
        incidents["y_bng"].to_numpy(dtype=float, na_value=np.nan),
    )


def _points_in(x_bng: np.ndarray, y_bng: np.ndarray, geometry: BaseGeometry) -> np.ndarray:
    """Whether each point lies in ``geometry``, its boundary included, as a boolean array."""
    inside = np.zeros(x_bng.shape, dtype=bool)
    if geometry.is_empty:
        return inside
    minx, miny, maxx, maxy = geometry.bounds
    # the bounding-box test is cheap and rules out most points before the exact test
    candidates = np.flatnonzero(
        (x_bng >= minx) & (x_bng <= maxx) & (y_bng >= miny) & (y_bng <= maxy)
    )
    inside[candidates] = shapely.intersects_xy(geometry, x_bng[candidates], y_bng[candidates])
    return inside


def _occurred_days(incidents: pd.DataFrame) -> np.ndarray:
    """``occurred_on`` as numpy days (datetime64[D]); NaT where it is missing."""
    require_columns(incidents, ("occurred_on",), "incidents")
    return np.asarray(incidents["occurred_on"].to_numpy(), dtype="datetime64[D]")


def _month_only(incidents: pd.DataFrame) -> np.ndarray:
    """Whether each incident's date is known to the month only (no column: none are)."""
    if "date_precision" not in incidents.columns:
        return np.zeros(len(incidents), dtype=bool)
    # isin, not ==: a missing precision compares as False instead of as <NA>
    return incidents["date_precision"].isin([MONTH_PRECISION]).to_numpy(dtype=bool)


def _month_overlaps(days: np.ndarray, start: date, end: date) -> np.ndarray:
    """Whether the calendar month of each day overlaps the window ``start``..``end``."""
    months = days.astype("datetime64[M]")
    first_day = months.astype("datetime64[D]")
    last_day = (months + 1).astype("datetime64[D]") - 1
    return (first_day <= np.datetime64(end, "D")) & (last_day >= np.datetime64(start, "D"))


def _in_window(days: np.ndarray, start: date, end: date) -> np.ndarray:
    return (days >= np.datetime64(start, "D")) & (days <= np.datetime64(end, "D"))


def _range_label(start: date, end: date) -> str:
    return f"{short_date(start)} to {short_date(end)}"


def _incidents_label(count: int) -> str:
    return f"{count} incident" if count == 1 else f"{count} incidents"


def _month_only_sentence(count: int, windows: str = "windows") -> str:
    if count == 0:
        return ""
    verb = "is" if count == 1 else "are"
    return (
        f" {_incidents_label(count)} dated only to the month (as police.uk gives them) {verb} "
        f"left out, because a month-only date cannot be placed in these {windows}."
    )


# ---------------------------------------------------------------------------------------------
# The area on the map


def incidents_in_area(incidents: pd.DataFrame, area_bng: Area) -> pd.DataFrame:
    """The incidents whose point lies in ``area_bng``; a point on its boundary counts as inside.

    Parameters
    ----------
    incidents : pandas.DataFrame
        At least ``x_bng`` and ``y_bng`` (EPSG:27700 metres), as
        ``dashboard.store.queries.incidents`` returns them.
    area_bng : shapely.Polygon or shapely.MultiPolygon
        The plan's area in EPSG:27700 metres.

    Returns
    -------
    pandas.DataFrame
        The matching rows with all their columns and their original index labels. A bounding-box
        test runs before the exact one, so a million incidents take a few tens of milliseconds.

    Raises
    ------
    ValueError
        When ``area_bng`` is not a non-empty valid polygon in metres, or a column is missing.
    """
    _check_area(area_bng)
    x_bng, y_bng = _xy(incidents)
    return incidents[_points_in(x_bng, y_bng, area_bng)]


def area_cells(
    incidents_in_area: pd.DataFrame, area_bng: Area, cell_size_m: float = 100.0
) -> gpd.GeoDataFrame:
    """Count incidents in square British National Grid cells, clipped to the area.

    The cells are aligned on multiples of ``cell_size_m`` like ``dashboard.hotspots``, so the
    same ``cell_id`` names the same square on every map. Every cell that shares some area with
    ``area_bng`` is returned, empty ones with a count of 0, so the map can show how incidents
    spread across the whole area without showing a single point.

    Parameters
    ----------
    incidents_in_area : pandas.DataFrame
        Incidents with ``x_bng`` and ``y_bng`` (EPSG:27700 metres), usually from
        ``incidents_in_area``. Any outside the area are ignored.
    area_bng : shapely.Polygon or shapely.MultiPolygon
        The plan's area in EPSG:27700 metres.
    cell_size_m : float, default 100.0
        Side of a cell in metres.

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:27700: ``cell_id`` (easting_northing of the cell's south-west corner),
        ``incident_count`` and the cell clipped to the area; busiest first, ties by ``cell_id``.
        A cell that only touches the area along an edge or at a corner is not returned. An
        incident on a cell edge belongs to the cell north and east of it, as in
        ``dashboard.hotspots``, unless that cell lies outside the area: then it goes to the
        neighbour inside.

    Raises
    ------
    ValueError
        When ``cell_size_m`` is not positive, the grid would exceed 250,000 cells, or
        ``area_bng`` is not a non-empty valid polygon in metres.
    """
    _check_area(area_bng)
    if not cell_size_m > 0:
        raise ValueError(f"cell_size_m must be positive, got {cell_size_m}")
    minx, miny, maxx, maxy = area_bng.bounds
    first_col, first_row = int(np.floor(minx / cell_size_m)), int(np.floor(miny / cell_size_m))
    col_count = max(int(np.ceil(maxx / cell_size_m)) - first_col, 1)
    row_count = max(int(np.ceil(maxy / cell_size_m)) - first_row, 1)
    if col_count * row_count > _MAX_CELLS:
        raise ValueError(
            f"the area spans {col_count * row_count:,} cells of {cell_size_m:g} m; "
            f"use a cell_size_m that gives at most {_MAX_CELLS:,} (is the area in metres?)"
        )
    col, row = (grid.ravel() for grid in np.meshgrid(np.arange(col_count), np.arange(row_count)))
    west = (first_col + col) * cell_size_m
    south = (first_row + row) * cell_size_m
    pieces = shapely.intersection(
        shapely.box(west, south, west + cell_size_m, south + cell_size_m), area_bng
    )
    pieces = _polygonal_parts(pieces)
    kept = shapely.area(pieces) > 0

    x_bng, y_bng = _xy(incidents_in_area)
    inside = _points_in(x_bng, y_bng, area_bng)
    x_bng, y_bng = x_bng[inside], y_bng[inside]
    incident_col = np.floor(x_bng / cell_size_m).astype(np.int64) - first_col
    incident_row = np.floor(y_bng / cell_size_m).astype(np.int64) - first_row
    # a point exactly on a cell edge is floored into the cell north/east of the edge; where that
    # cell has no share of the area (the point is on the area's edge too), use the one before it
    on_west_edge = (x_bng == (incident_col + first_col) * cell_size_m).astype(np.int64)
    on_south_edge = (y_bng == (incident_row + first_row) * cell_size_m).astype(np.int64)
    cell_of = np.full(x_bng.shape, -1, dtype=np.int64)
    for step_west, step_south in ((0, 0), (1, 0), (0, 1), (1, 1)):
        c = incident_col - step_west * on_west_edge
        r = incident_row - step_south * on_south_edge
        open_ = np.flatnonzero(
            (cell_of < 0) & (c >= 0) & (c < col_count) & (r >= 0) & (r < row_count)
        )
        index = r[open_] * col_count + c[open_]
        found = kept[index]
        cell_of[open_[found]] = index[found]
    counts = np.bincount(cell_of[cell_of >= 0], minlength=col_count * row_count)

    cells = gpd.GeoDataFrame(
        {
            "cell_id": [f"{x:.0f}_{y:.0f}" for x, y in zip(west[kept], south[kept], strict=True)],
            "incident_count": counts[kept].astype(np.int64),
        },
        geometry=pieces[kept],
        crs=BNG,
    )
    return cells.sort_values(
        ["incident_count", "cell_id"], ascending=[False, True], ignore_index=True
    )


def _polygonal_parts(geometries: np.ndarray) -> np.ndarray:
    """Drop the lines and points a clip can leave beside its polygons (an edge that touches)."""
    geometries = geometries.copy()
    for i in np.flatnonzero(shapely.get_type_id(geometries) == _GEOMETRY_COLLECTION):
        parts = shapely.get_parts(geometries[i])
        geometries[i] = shapely.union_all(parts[np.isin(shapely.get_type_id(parts), _POLYGONAL)])
    return geometries


# ---------------------------------------------------------------------------------------------
# Trends


def monthly_trend(incidents: pd.DataFrame, first_month: date, last_month: date) -> pd.DataFrame:
    """Incidents per calendar month, every month from ``first_month`` to ``last_month``.

    Parameters
    ----------
    incidents : pandas.DataFrame
        At least ``occurred_on`` (datetime64). Month-only dates (police.uk) fall in their month,
        so they are all counted here.
    first_month, last_month : datetime.date
        Any day of the first and last months; both months are included.

    Returns
    -------
    pandas.DataFrame
        ``month`` (``datetime.date``, the 1st) and ``incident_count``, oldest first, with 0 for a
        month without incidents. A month the data only partly cover (the latest, say) shows only
        the days covered; ``dashboard.dates.whole_months_window`` picks whole months.

    Raises
    ------
    ValueError
        When ``last_month`` is before ``first_month``.
    """
    first = np.datetime64(first_month, "M")
    last = np.datetime64(last_month, "M")
    if last < first:
        raise ValueError(
            f"last_month ({last_month}) is before first_month ({first_month}); swap them"
        )
    months = np.arange(first, last + 1)
    occurred = _occurred_days(incidents).astype("datetime64[M]")
    known = ~np.isnat(occurred)
    offset = (occurred[known] - first).astype(np.int64)
    offset = offset[(offset >= 0) & (offset < len(months))]
    return pd.DataFrame(
        {
            "month": months.astype("datetime64[D]").astype(object),
            "incident_count": np.bincount(offset, minlength=len(months)).astype(np.int64),
        }
    )


@dataclass(frozen=True)
class WeekComparison:
    """Incidents in the weeks before a plan started against the latest weeks of data.

    ``latest_count``, ``change`` and ``change_pct`` are None when there are no data since the
    plan started; ``change_pct`` is None too when there were no incidents before. ``note`` says
    in plain words what the comparison shows and what it cannot.
    """

    weeks: int
    plan_started_on: date
    before_start: date
    before_end: date
    latest_start: date
    latest_end: date
    before_count: int
    latest_count: int | None
    change: int | None
    change_pct: float | None
    month_precision_left_out: int
    overlap: bool
    note: str


def compare_weeks(
    incidents: pd.DataFrame, plan_started_on: date, latest_on: date, weeks: int = 12
) -> WeekComparison:
    """Compare the ``weeks`` weeks before a plan started with the latest ``weeks`` weeks of data.

    Parameters
    ----------
    incidents : pandas.DataFrame
        The incidents to count, usually ``incidents_in_area`` for the plan: ``occurred_on``
        and, optionally, ``date_precision``.
    plan_started_on : datetime.date
        First day of the plan. The before window ends the day before it.
    latest_on : datetime.date
        The last day with data. The latest window ends on it.
    weeks : int, default 12
        Length of each window in weeks.

    Returns
    -------
    WeekComparison
        Both windows, their counts and the change. ``overlap`` is True when the plan is younger
        than ``weeks`` weeks: the latest window then starts before the plan did, and the days
        both windows share count in both. Incidents dated only to the month are left out of
        both counts and counted in ``month_precision_left_out`` when their month overlaps either
        window. When the plan started after ``latest_on`` there is nothing since the plan to
        count: ``latest_count`` is None and the note says so (this is normal while police.uk
        data lag a couple of months behind, so it is not an error).

    Raises
    ------
    ValueError
        When ``weeks`` is not a positive whole number.
    """
    if isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 1:
        raise ValueError(f"weeks must be a positive whole number, got {weeks!r}")
    days = 7 * weeks
    before_start = plan_started_on - timedelta(days=days)
    before_end = plan_started_on - timedelta(days=1)
    latest_start = latest_on - timedelta(days=days - 1)
    has_data_since = plan_started_on <= latest_on

    occurred = _occurred_days(incidents)
    month_only = _month_only(incidents)
    by_day = ~month_only
    before_count = int(np.count_nonzero(by_day & _in_window(occurred, before_start, before_end)))
    left_out = _month_overlaps(occurred, before_start, before_end)
    window_label = (
        f"the {weeks} weeks before the plan started ({_range_label(before_start, before_end)})"
    )
    if not has_data_since:
        left_out_count = int(np.count_nonzero(month_only & left_out))
        gap_days = (before_end - latest_on).days
        note = (
            f"There are no data since the plan started on {short_date(plan_started_on)}: the "
            f"latest data are for {short_date(latest_on)}, so there is nothing to compare yet. "
            f"{_incidents_label(before_count)} in {window_label}"
        )
        if gap_days > 0:
            note += f", of which the last {gap_days} days have no data yet"
        note += "." + _month_only_sentence(left_out_count)
        return WeekComparison(
            weeks=weeks,
            plan_started_on=plan_started_on,
            before_start=before_start,
            before_end=before_end,
            latest_start=latest_start,
            latest_end=latest_on,
            before_count=before_count,
            latest_count=None,
            change=None,
            change_pct=None,
            month_precision_left_out=left_out_count,
            overlap=False,
            note=note,
        )

    latest_count = int(np.count_nonzero(by_day & _in_window(occurred, latest_start, latest_on)))
    left_out |= _month_overlaps(occurred, latest_start, latest_on)
    left_out_count = int(np.count_nonzero(month_only & left_out))
    change = latest_count - before_count
    change_pct = 100.0 * change / before_count if before_count else None
    overlap = latest_start < plan_started_on

    if change == 0:
        direction = "no change"
    else:
        direction = f"{'up' if change > 0 else 'down'} {abs(change)}"
        if change_pct is None:
            direction += " (no percentage: there were none before)"
        else:
            more = "more" if change > 0 else "fewer"
            direction += f" ({abs(change_pct):.0f}% {more})"
    note = (
        f"{_incidents_label(latest_count)} in the latest {weeks} weeks of data "
        f"({_range_label(latest_start, latest_on)}) against {before_count} in {window_label}: "
        f"{direction}. This is a plain count before and after: it does not allow for the "
        "season, the borough-wide trend or incidents moving to nearby streets, so it cannot "
        "show that the plan caused the change."
    )
    if overlap:
        shared_days = (plan_started_on - latest_start).days
        note += (
            f" The plan is less than {weeks} weeks old, so the latest window includes "
            f"{shared_days} days before the plan started, which the before window also counts."
        )
    note += _month_only_sentence(left_out_count)
    return WeekComparison(
        weeks=weeks,
        plan_started_on=plan_started_on,
        before_start=before_start,
        before_end=before_end,
        latest_start=latest_start,
        latest_end=latest_on,
        before_count=before_count,
        latest_count=latest_count,
        change=change,
        change_pct=change_pct,
        month_precision_left_out=left_out_count,
        overlap=overlap,
        note=note,
    )


# ---------------------------------------------------------------------------------------------
# What else is in or near the area


def assets_within(
    assets_wgs84: gpd.GeoDataFrame, area_bng: Area, distance_m: float
) -> pd.DataFrame:
    """Assets (knife bins, CCTV, youth centres...) within ``distance_m`` of the plan's area.

    Parameters
    ----------
    assets_wgs84 : geopandas.GeoDataFrame
        Assets in EPSG:4326 (any set CRS is projected) with ``asset_id``, ``name``, ``address``
        and, optionally, ``kind``.
    area_bng : shapely.Polygon or shapely.MultiPolygon
        The plan's area in EPSG:27700 metres.
    distance_m : float
        How far outside the area to look, in metres; 0 keeps the assets inside it (or on its
        edge).

    Returns
    -------
    pandas.DataFrame
        ``asset_id``, ``name``, ``address``, ``kind`` (when given) and ``distance_m``, the
        distance from the area's edge in whole metres (0 inside), nearest first. An asset is
        kept on its exact distance, before rounding.

    Raises
    ------
    ValueError
        When ``distance_m`` is negative, the assets have no CRS or lack a column, or
        ``area_bng`` is not a non-empty valid polygon in metres.
    """
    if not distance_m >= 0:
        raise ValueError(f"distance_m must be 0 (inside the area) or more, got {distance_m}")
    _check_area(area_bng)
    require_columns(assets_wgs84, ("asset_id", "name", "address"), "assets_wgs84")
    if assets_wgs84.crs is None:
        raise ValueError("assets_wgs84 has no CRS; set it (EPSG:4326) before measuring distances")
    columns = ["asset_id", "name", "address", *(["kind"] if "kind" in assets_wgs84 else [])]
    distances = shapely.distance(assets_wgs84.geometry.to_crs(BNG).to_numpy(), area_bng)
    near = np.flatnonzero(distances <= distance_m)  # NaN (no geometry) compares False
    order = near[np.lexsort((assets_wgs84["asset_id"].to_numpy()[near], distances[near]))]
    found = pd.DataFrame(assets_wgs84[columns].iloc[order]).reset_index(drop=True)
    found["distance_m"] = np.rint(distances[order]).astype(np.int64)
    return found


def overlapping_plans(
    plans_bng: gpd.GeoDataFrame, area_bng: Area, exclude_plan_id: int | None = None
) -> pd.DataFrame:
    """Other plans whose area overlaps this one, and how much of this area each covers.

    Parameters
    ----------
    plans_bng : geopandas.GeoDataFrame
        Plans in EPSG:27700 with ``plan_id``, ``title``, ``status`` and their area.
    area_bng : shapely.Polygon or shapely.MultiPolygon
        This plan's area in EPSG:27700 metres.
    exclude_plan_id : int or None, default None
        This plan's own id, so that it is not listed as overlapping itself.

    Returns
    -------
    pandas.DataFrame
        ``plan_id``, ``title``, ``status`` and ``overlap_pct``: the share of THIS area that
        the other plan covers, in per cent to 1 decimal place; biggest first, ties by
        ``plan_id``. Plans that only touch along an edge or at a corner are not listed. An
        invalid plan area (edges that cross) is repaired with ``shapely.make_valid`` first.

    Raises
    ------
    ValueError
        When ``plans_bng`` is not in EPSG:27700 or lacks a column, or ``area_bng`` is not a
        non-empty valid polygon in metres.
    """
    _check_area(area_bng)
    require_columns(plans_bng, ("plan_id", "title", "status"), "plans_bng")
    if plans_bng.crs is None or plans_bng.crs.to_epsg() != 27700:
        raise ValueError(f"plans_bng must be in EPSG:27700, got {plans_bng.crs}")
    others = plans_bng
    if exclude_plan_id is not None:
        others = plans_bng[plans_bng["plan_id"] != exclude_plan_id]
    geometries = others.geometry.to_numpy()
    invalid = ~shapely.is_valid(geometries) & ~shapely.is_missing(geometries)
    if invalid.any():
        geometries = geometries.copy()
        geometries[invalid] = shapely.make_valid(geometries[invalid])
    overlap_m2 = shapely.area(shapely.intersection(geometries, area_bng))
    overlaps = np.flatnonzero(overlap_m2 > _TOUCHING_AREA_M2)  # NaN (no area) compares False
    order = overlaps[np.lexsort((others["plan_id"].to_numpy()[overlaps], -overlap_m2[overlaps]))]
    found = pd.DataFrame(others[["plan_id", "title", "status"]].iloc[order]).reset_index(drop=True)
    found["overlap_pct"] = np.round(100.0 * overlap_m2[order] / area_bng.area, 1)
    return found


# ---------------------------------------------------------------------------------------------
# Did the plan help? The weighted displacement difference test


def displacement_buffer(area_bng: Area, buffer_m: float) -> Polygon | MultiPolygon:
    """The ring within ``buffer_m`` metres around the area, where displaced crime would show.

    Returns ``area_bng.buffer(buffer_m)`` minus the area itself (round corners: every point of
    the ring is within ``buffer_m`` of the area), in EPSG:27700. It is not clipped to the
    borough; ``assess_area`` does that. Raises ValueError when ``buffer_m`` is not positive or
    ``area_bng`` is not a non-empty valid polygon in metres.
    """
    _check_area(area_bng)
    if not buffer_m > 0:
        raise ValueError(f"buffer_m must be positive, got {buffer_m}")
    return area_bng.buffer(buffer_m).difference(area_bng)


@dataclass(frozen=True)
class WddResult:
    """A weighted displacement difference test: the counts, the statistic and a plain verdict.

    ``k_target`` and ``k_buffer`` scale the control's change to each area; they, ``wdd``,
    ``variance``, ``se``, ``z`` and ``p`` are None when the control had no incidents before
    (nothing to scale). They are computed even when ``too_small`` is True, to show the
    workings, but ``verdict`` then says no conclusion can be drawn, and none should be.
    """

    target_before: int
    target_after: int
    buffer_before: int
    buffer_after: int
    control_before: int
    control_after: int
    k_target: float | None
    k_buffer: float | None
    wdd: float | None
    variance: float | None
    se: float | None
    z: float | None
    p: float | None
    verdict: str
    too_small: bool


def _whole_count(value: int, name: str) -> int:
    try:
        count = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be a whole number of incidents, got {value!r}") from None
    if count < 0:
        raise ValueError(f"{name} must not be negative, got {count}")
    return count


def wdd(
    target_before: int,
    target_after: int,
    buffer_before: int,
    buffer_after: int,
    control_before: int,
    control_after: int,
    *,
    min_target_count: int = DEFAULT_MIN_TARGET_COUNT,
    min_control_before: int = 1,
) -> WddResult:
    """Weighted displacement difference test for a plan area against the rest of the borough.

    Parameters
    ----------
    target_before, target_after : int
        Incidents in the plan area (T0, T1) in the before and after periods.
    buffer_before, buffer_after : int
        Incidents in the ring around it (D0, D1), where displacement would show.
    control_before, control_after : int
        Incidents in the control (C0, C1): the rest of the borough.
    min_target_count : int, default 20
        Fewer than this in the plan area over both periods (T0 + T1) and the test is not run:
        with so few incidents chance alone swings the counts by more than any plan could.
    min_control_before : int, default 1
        Fewer than this in the control before (C0) and the test is not run: the control's trend
        cannot be scaled to the areas (with C0 = 0 the scale factors divide by zero).

    Returns
    -------
    WddResult
        The counts, ``k_target`` and ``k_buffer``, ``wdd``, ``variance``, ``se``, ``z``, the
        two-sided ``p``, ``too_small`` and a ``verdict`` in plain words. A negative WDD means
        fewer incidents than the borough's trend predicts for the area and its ring together:
        a reduction, net of any displacement into the ring. A positive WDD means more.

    Raises
    ------
    ValueError
        When a count is negative or not a whole number.

    Notes
    -----
    Wheeler and Ratcliffe (2018) compare a target area T and a displacement area D with control
    areas Ct and Cd of similar size, and count each in a before (0) and after (1) period:

    ``WDD = (T1 - T0) - (Ct1 - Ct0) + (D1 - D0) - (Cd1 - Cd0)``

    ``Var(WDD) = T0 + T1 + D0 + D1 + Ct0 + Ct1 + Cd0 + Cd1`` (each count Poisson).

    Here the control is the rest of the borough, far bigger than either area, so its change is
    scaled to each area by the ratio of before counts, ``kT = T0 / C0`` and ``kD = D0 / C0``.
    ``kT * (C1 - C0) = T0 * (C1 / C0 - 1)`` is the change the plan area would have seen had it
    followed the borough's trend:

    ``WDD = (T1 - T0) - kT (C1 - C0) + (D1 - D0) - kD (C1 - C0)``

    The k are treated as fixed weights, as in the area weights of Wheeler's ``ptools`` package.
    One control count enters twice, so its terms combine into one scaled Poisson variance:

    ``Var(WDD) = T0 + T1 + D0 + D1 + (kT + kD)^2 (C0 + C1)``

    With equal-size areas, ``kT = kD = 1`` and the estimate is exactly the paper's WDD with
    Ct = Cd = C. Its variance is then the paper's with Ct and Cd both set to C, plus the
    ``2 (C0 + C1)`` covariance that using one control twice adds (``4 (C0 + C1)`` in all); with
    two distinct controls the paper's formula applies as it stands.

    ``z = WDD / sqrt(Var)`` and ``p = erfc(|z| / sqrt(2))``, the two-sided p-value of the
    standard normal. The test is significant at the 95% level when ``|z| >= 1.96``.

    References
    ----------
    Wheeler, A. P. and Ratcliffe, J. H. (2018). A simple weighted displacement difference test
    to evaluate place based crime interventions. *Crime Science*, 7, 11.
    https://doi.org/10.1186/s40163-018-0085-5
    """
    t0 = _whole_count(target_before, "target_before")
    t1 = _whole_count(target_after, "target_after")
    d0 = _whole_count(buffer_before, "buffer_before")
    d1 = _whole_count(buffer_after, "buffer_after")
    c0 = _whole_count(control_before, "control_before")
    c1 = _whole_count(control_after, "control_after")

    k_target = k_buffer = estimate = variance = se = z = p = None
    if c0 > 0:
        k_target, k_buffer = t0 / c0, d0 / c0
        control_change = c1 - c0
        estimate = (t1 - t0) - k_target * control_change + (d1 - d0) - k_buffer * control_change
        variance = t0 + t1 + d0 + d1 + (k_target + k_buffer) ** 2 * (c0 + c1)
        se = math.sqrt(variance)
        if se > 0:
            z = estimate / se
            p = math.erfc(abs(z) / math.sqrt(2))

    reasons = []
    if t0 + t1 < min_target_count:
        reasons.append(
            f"Too few incidents to conclude anything ({t0 + t1} in the plan area over both "
            f"periods; at least {min_target_count} are needed)."
        )
    if c0 < min_control_before:
        if c0 == 0:
            reasons.append(
                "Cannot compare with the borough's trend: the rest of the borough had no "
                "incidents in the before period, so there is nothing to scale."
            )
        else:
            reasons.append(
                f"Cannot compare with the borough's trend: the rest of the borough had only "
                f"{c0} incidents in the before period (at least {min_control_before} are needed)."
            )
    if not reasons and z is None:  # only when every count is 0 and the minimum allows it
        reasons.append("No incidents in either period, so there is nothing to test.")
    too_small = bool(reasons)
    verdict = " ".join(reasons) if too_small else _verdict(estimate, z, p)
    return WddResult(
        target_before=t0,
        target_after=t1,
        buffer_before=d0,
        buffer_after=d1,
        control_before=c0,
        control_after=c1,
        k_target=k_target,
        k_buffer=k_buffer,
        wdd=estimate,
        variance=variance,
        se=se,
        z=z,
        p=p,
        verdict=verdict,
        too_small=too_small,
    )


def _verdict(estimate: float, z: float, p: float) -> str:
    if math.isclose(estimate, 0.0, abs_tol=1e-9):  # the k are fractions: 0 can come out as 1e-15
        estimate = 0.0
    if estimate < 0:
        direction = (
            f"{abs(estimate):.1f} fewer incidents than the borough's trend predicts for the plan "
            "area and the streets around it (a reduction, net of any displacement)"
        )
    elif estimate > 0:
        direction = (
            f"{estimate:.1f} more incidents than the borough's trend predicts for the plan "
            "area and the streets around it"
        )
    else:
        return (
            "Exactly as many incidents as the borough's trend predicts for the plan area and the "
            f"streets around it (z = {z:.2f}, p = {p:.3f}): no sign of an effect either way."
        )
    direction = direction[0].upper() + direction[1:]
    p_label = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    if abs(z) >= SIGNIFICANT_Z:
        return (
            f"{direction}. This is significant at the 95% level: z = {z:.2f}, {p_label} "
            f"(|z| ≥ {SIGNIFICANT_Z} is needed)."
        )
    return (
        f"{direction}, but this is not significant: z = {z:.2f}, {p_label}, and significance at "
        f"the 95% level needs |z| ≥ {SIGNIFICANT_Z}. The difference could be chance."
    )


@dataclass(frozen=True)
class Assessment:
    """The weighted displacement difference test for one plan area, with what went into it.

    The periods are inclusive. ``result`` is None, ``period_days`` 0 and both periods empty
    (end before start) when there are no data since the plan started. ``buffer_bng`` (the ring,
    clipped to the borough) and ``control_bng`` (the borough minus the area and the ring) are in
    EPSG:27700, for the map.
    """

    before_start: date
    before_end: date
    after_start: date
    after_end: date
    period_days: int
    buffer_m: float
    result: WddResult | None
    month_precision_left_out: int
    buffer_bng: BaseGeometry
    control_bng: BaseGeometry
    note: str


def assess_area(
    incidents: pd.DataFrame,
    area_bng: Area,
    borough_bng: Area,
    plan_started_on: date,
    latest_on: date,
    buffer_m: float = 250.0,
    period_days: int | None = None,
    *,
    min_target_count: int = DEFAULT_MIN_TARGET_COUNT,
) -> Assessment:
    """Run the weighted displacement difference test for a plan area against its borough.

    Parameters
    ----------
    incidents : pandas.DataFrame
        The borough's incidents (all of them, not only the area's): ``x_bng``, ``y_bng``
        (EPSG:27700 metres), ``occurred_on`` and, optionally, ``date_precision``.
    area_bng : shapely.Polygon or shapely.MultiPolygon
        The plan's area in EPSG:27700 metres (the target). It is not clipped to the borough.
    borough_bng : shapely.Polygon or shapely.MultiPolygon
        The borough in EPSG:27700 metres.
    plan_started_on : datetime.date
        First day of the plan, and of the after period.
    latest_on : datetime.date
        The last day with data.
    buffer_m : float, default 250.0
        Width of the ring around the area where displaced incidents would show, in metres.
    period_days : int or None, default None
        Length of the after period in days; None runs it to ``latest_on``. It never runs past
        ``latest_on``.
    min_target_count : int, default 20
        Passed to ``wdd``.

    Returns
    -------
    Assessment
        The after period runs from ``plan_started_on`` for ``period_days`` days (or to
        ``latest_on``); the before period has the same number of days and ends the day before
        the plan started. Each incident counts in one place only: the area (its edge
        included), else the ring (clipped to the borough), else the control (the rest of the
        borough). Incidents dated only to the month are left out and counted in
        ``month_precision_left_out`` when their month overlaps either period and they lie in
        one of the three places.

    Raises
    ------
    ValueError
        When ``buffer_m`` or ``period_days`` is not positive, a column is missing, or an area is
        not a non-empty valid polygon in metres.
    """
    _check_area(area_bng)
    _check_area(borough_bng, "borough_bng")
    if period_days is not None and (
        isinstance(period_days, bool) or not isinstance(period_days, int) or period_days < 1
    ):
        raise ValueError(
            f"period_days must be a positive whole number or None, got {period_days!r}"
        )
    ring = displacement_buffer(area_bng, buffer_m)
    buffer_bng = ring.intersection(borough_bng)
    control_bng = borough_bng.difference(area_bng.buffer(buffer_m))

    after_start = plan_started_on
    after_end = latest_on
    if period_days is not None:
        after_end = min(latest_on, plan_started_on + timedelta(days=period_days - 1))
    days = max((after_end - after_start).days + 1, 0)
    before_start = plan_started_on - timedelta(days=days)
    before_end = plan_started_on - timedelta(days=1)
    if days == 0:
        return Assessment(
            before_start=plan_started_on,
            before_end=before_end,
            after_start=after_start,
            after_end=after_end,
            period_days=0,
            buffer_m=buffer_m,
            result=None,
            month_precision_left_out=0,
            buffer_bng=buffer_bng,
            control_bng=control_bng,
            note=(
                f"There are no data since the plan started on {short_date(plan_started_on)}: "
                f"the latest data are for {short_date(latest_on)}, so there is nothing to test "
                "yet."
            ),
        )

    occurred = _occurred_days(incidents)
    month_only = _month_only(incidents)
    by_day = ~month_only & _in_window(occurred, before_start, after_end)
    undated = month_only & _month_overlaps(occurred, before_start, after_end)
    rows = np.flatnonzero(by_day | undated)  # only these need the costlier spatial tests
    x_bng, y_bng = _xy(incidents.iloc[rows])
    in_target = _points_in(x_bng, y_bng, area_bng)
    in_buffer = ~in_target & _points_in(x_bng, y_bng, buffer_bng)
    in_control = ~in_target & ~in_buffer & _points_in(x_bng, y_bng, control_bng)
    # place 0 = target, 1 = buffer, 2 = control; period 0 = before, 1 = after
    place = np.select([in_target, in_buffer, in_control], [0, 1, 2], default=-1)
    counted = by_day[rows] & (place >= 0)
    after = occurred[rows] >= np.datetime64(after_start, "D")
    counts = np.bincount(place[counted] * 2 + after[counted].astype(np.int64), minlength=6).tolist()
    left_out = int(np.count_nonzero(undated[rows] & (place >= 0)))

    result = wdd(*counts, min_target_count=min_target_count)
    note = (
        f"Compares the {days} days since the plan started "
        f"({_range_label(after_start, after_end)}) with the {days} days before it "
        f"({_range_label(before_start, before_end)}) in three places: the plan area, a "
        f"{buffer_m:g} m ring around it (where displaced incidents would show) and the rest of "
        "the borough, whose trend, scaled to each area, stands for what would have happened "
        "without the plan. Anything else that changed in the plan area alone (a new venue, "
        "another operation) would show up as an effect too."
    ) + _month_only_sentence(left_out, "periods")
    return Assessment(
        before_start=before_start,
        before_end=before_end,
        after_start=after_start,
        after_end=after_end,
        period_days=days,
        buffer_m=buffer_m,
        result=result,
        month_precision_left_out=left_out,
        buffer_bng=buffer_bng,
        control_bng=control_bng,
        note=note,
    )


@dataclass(frozen=True)
class PlanEvidence:
    """Everything the plan page and its PDF show about the area, gathered in one pass.

    ``cells_bng`` are the area's cells (EPSG:27700) counted over the look-back; ``monthly`` the
    area's counts per month over the same months; ``assets`` the knife bins and Youth Bus stops
    within ``distance_m`` (``kind`` says which); ``overlapping`` the other plans over this area.
    ``data_note`` warns when the data do not reach back far enough for the comparisons.
    """

    look_back_start: date
    look_back_end: date
    incidents_in_area: int
    cells_bng: gpd.GeoDataFrame
    monthly: pd.DataFrame
    weeks: WeekComparison
    distance_m: float
    assets: pd.DataFrame
    overlapping: pd.DataFrame
    data_note: str


def gather_evidence(
    incidents: pd.DataFrame,
    area_bng: Area,
    plan_id: int | None,
    plan_started_on: date,
    look_back: tuple[date, date],
    assets_wgs84: gpd.GeoDataFrame,
    plans_bng: gpd.GeoDataFrame,
    distance_m: float = 500.0,
    data_start: date | None = None,
) -> PlanEvidence:
    """Gather a plan area's evidence from the borough's incidents, assets and other plans.

    Parameters
    ----------
    incidents : pandas.DataFrame
        The incidents over all the data held (see ``incidents_in_area``): the borough's, or
        only those in the area when the store has already filtered them (then give
        ``data_start``).
    area_bng : shapely.Polygon or shapely.MultiPolygon
        The plan's area, EPSG:27700.
    plan_id : int or None
        The plan itself, left out of the overlapping plans (None for an area not yet saved).
    plan_started_on : datetime.date
        When the plan started, for the 12-week comparison.
    look_back : tuple of datetime.date
        First and last day (inclusive) of the period the map cells and monthly trend cover; the
        last day is also the latest day with data.
    assets_wgs84 : geopandas.GeoDataFrame
        Knife bins and Youth Bus stops in EPSG:4326 with ``asset_id``, ``name``, ``address``,
        ``kind``.
    plans_bng : geopandas.GeoDataFrame
        All plans in EPSG:27700 with ``plan_id``, ``title``, ``status``.
    distance_m : float
        How far from the area's edge to look for assets, in metres.
    data_start : datetime.date, optional
        The first day of the data held; by default the first day among ``incidents``.
    """
    start, end = look_back
    inside = incidents_in_area(incidents, area_bng)
    in_period = inside[_in_window(_occurred_days(inside), start, end)]
    first_month = start.replace(day=1)
    weeks = compare_weeks(inside, plan_started_on, end)
    first_day = data_start
    if first_day is None and len(incidents):
        first_day = _occurred_days(incidents).min()
    data_note = ""
    if first_day is not None and pd.Timestamp(first_day).date() > weeks.before_start:
        data_note = (
            f"The data start on {pd.Timestamp(first_day).date():%d %b %Y}, after the 12 weeks "
            "before the plan began: the 'before' count is too low to compare."
        )
    return PlanEvidence(
        look_back_start=start,
        look_back_end=end,
        incidents_in_area=len(in_period),
        cells_bng=area_cells(in_period, area_bng),
        monthly=monthly_trend(in_period, first_month, end.replace(day=1)),
        weeks=weeks,
        distance_m=distance_m,
        assets=assets_within(assets_wgs84, area_bng, distance_m),
        overlapping=overlapping_plans(plans_bng, area_bng, plan_id),
        data_note=data_note,
    )


def describe_assessment(assessment: Assessment, markdown: bool = True) -> list[str]:
    """The assessment in sentences (no text a person typed), for the page and the PDF.

    The verdict comes first and says plainly when the counts are too small to conclude anything;
    then the periods, the counts (a Markdown table, or one sentence each when ``markdown`` is
    False) and the workings.
    """
    if assessment.result is None:
        return [assessment.note]
    result = assessment.result
    rows = (
        ("Plan area", result.target_before, result.target_after),
        ("Ring around it", result.buffer_before, result.buffer_after),
        ("Rest of the borough", result.control_before, result.control_after),
    )
    if markdown:
        counts = "| | before | after | change |\n|---|---:|---:|---:|\n" + "\n".join(
            f"| {label} | {before:,} | {after:,} | {after - before:+,} |"
            for label, before, after in rows
        )
    else:
        counts = " ".join(
            f"{label}: {before:,} before, {after:,} after ({after - before:+,})."
            for label, before, after in rows
        )
    lines = [
        f"**{result.verdict}**" if markdown else result.verdict,
        f"Before: {_range_label(assessment.before_start, assessment.before_end)}; after: "
        f"{_range_label(assessment.after_start, assessment.after_end)} "
        f"({assessment.period_days} days each). Displacement ring: {assessment.buffer_m:.0f} m; "
        "control: the rest of the borough.",
        counts,
    ]
    if result.wdd is not None:
        lines.append(
            f"Weighted displacement difference (Wheeler & Ratcliffe 2018, control scaled to each "
            f"area's before count: k = {result.k_target:.4f} for the area, "
            f"{result.k_buffer:.4f} for the ring): WDD = {result.wdd:+.1f}, standard error "
            f"{result.se:.1f}, z = {result.z:.2f}. A negative WDD means fewer incidents than the "
            "borough's trend predicts, net of any displacement into the ring."
        )
    if assessment.note:
        lines.append(assessment.note)
    return lines
