"""Patrol planning: which hotspot cells a CSO visits in a shift, in what order and for how long.

The inputs are grid cells with a Gi* class (``dashboard.hotspot_stats``: ``cell_id``,
``incident_count``, ``gi_z``, ``gi_p``, ``hotspot_class`` in EPSG:27700). Everything here works in
British National Grid metres and hands back WGS84 ``longitude``/``latitude`` columns for maps and
GPX. Nothing reads the store, the clock or Streamlit.

Evidence behind the defaults
----------------------------
* Dwell: Koper (1995), "Just enough police presence", Justice Quarterly 12(4): the longer a
  patrol stays at a hotspot the longer disorder stays down after it leaves, up to about
  10-15 minutes; beyond that the gain levels off (the "Koper curve"). 12 minutes by default.
* Revisits: the Sacramento hot-spots trial (Telep, Mitchell and Weisburd 2014, Justice Quarterly
  31(5)) visited each hotspot for about 15 minutes roughly every two hours, in an unpredictable
  order. 120 minutes by default.
* Walking: 4.8 km/h (3 mph) is a usual urban walking pace. Distances are straight lines between
  cell centres times a detour factor (1.3 by default: streets are rarely straight), never
  distances along streets; every ``Route.assumptions`` says so.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from dashboard.errors import InvalidInput
from dashboard.frames import require_columns
from dashboard.geo import BNG, WGS84, bng_to_wgs84
from dashboard.plans import FLAG_ORDER, OPEN_ACTION_STATUSES

__all__ = [
    "ASSET_COLUMNS",
    "DEFAULT_DETOUR_FACTOR",
    "DEFAULT_DWELL_MIN",
    "DEFAULT_MIN_CLASS",
    "DEFAULT_NEAR_M",
    "DEFAULT_REVISIT_EVERY_MIN",
    "DEFAULT_WALKING_SPEED_KMH",
    "HOT_CLASSES",
    "MAX_ROUTE_STOPS",
    "NEAR_ACTION_COLUMNS",
    "STOP_COLUMNS",
    "Route",
    "Shift",
    "actions_near_route",
    "add_stop",
    "assets_in_window",
    "plan_route",
    "remove_stop",
    "select_stops",
]

log = logging.getLogger(__name__)

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAY_MIN = 24 * 60
_WEEK_MIN = 7 * _DAY_MIN

# Gi* classes a patrol may visit, strongest first (dashboard.hotspot_stats labels them so)
HOT_CLASSES = ("hot 99%", "hot 95%", "hot 90%")
DEFAULT_MIN_CLASS = "hot 95%"
DEFAULT_DWELL_MIN = 12.0  # Koper (1995): 10-15 minutes a visit; the middle of that range
KOPER_RANGE_MIN = (10.0, 15.0)
DEFAULT_REVISIT_EVERY_MIN = 120.0  # Sacramento trial: each hotspot about every two hours
DEFAULT_WALKING_SPEED_KMH = 4.8  # 3 mph, a usual urban walking pace
DEFAULT_DETOUR_FACTOR = 1.3  # streets are rarely straight: 1.2-1.4 is usual in towns
DEFAULT_NEAR_M = 400.0  # about five minutes' walk
# Or-opt costs O(n^3) a pass; 50 stops is far more than one shift can hold anyway
MAX_ROUTE_STOPS = 50
_IMPROVEMENT_M = 1e-6  # a 2-opt or Or-opt move must save more than this, so float noise cannot loop

STOP_COLUMNS = [
    "order",
    "cell_id",
    "hotspot_class",
    "incident_count",
    "gi_z",
    "rank",
    "reason",
    "x_bng",
    "y_bng",
    "longitude",
    "latitude",
    "walk_from_previous_m",
    "arrive_min",
    "leave_min",
    "arrive_at",
    "leave_at",
    "dwell_min",
]
ASSET_COLUMNS = [
    "kind",
    "asset_id",
    "name",
    "address",
    "when",
    "activity",
    "longitude",
    "latitude",
    "distance_m",
    "nearest_stop",
    "nearest_cell_id",
]
_ACTION_SOURCE_COLUMNS = (
    "action_id",
    "plan_title",
    "description",
    "owner_agency",
    "due_on",
    "flag",
    "status",
    "longitude",
    "latitude",
)
NEAR_ACTION_COLUMNS = [*_ACTION_SOURCE_COLUMNS, "distance_m", "nearest_stop", "nearest_cell_id"]
_SCHEDULE_COLUMNS = ("stop_id", "weekday", "on_date", "starts_at", "ends_at", "activity")


# --- shift ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shift:
    """A weekly patrol window: the same time band on one or more weekdays.

    Attributes
    ----------
    weekdays
        Days the shift starts on, 0 = Monday ... 6 = Sunday; stored sorted and without repeats,
        so equal shifts compare and hash equal (it is a cache key).
    starts_at, ends_at
        London wall-clock times. ``ends_at`` earlier than ``starts_at`` means the band crosses
        midnight: Friday 22:00-02:00 ends at 02:00 on Saturday.
    look_back_months
        How many months of incidents the hotspots are counted over.

    Raises
    ------
    InvalidInput
        No weekday, a weekday outside 0-6, times that are not ``datetime.time`` (or carry a time
        zone), equal start and end, or a look-back outside 1-120 months.
    """

    weekdays: tuple[int, ...]
    starts_at: time
    ends_at: time
    look_back_months: int = 12

    def __post_init__(self) -> None:
        days = self.weekdays
        if isinstance(days, int) and not isinstance(days, bool):
            days = (days,)
        try:
            days = tuple(days)
        except TypeError as error:
            raise InvalidInput(
                f"weekdays must be a tuple of day numbers (0 = Monday), got {self.weekdays!r}"
            ) from error
        if not days:
            raise InvalidInput("A shift needs at least one weekday; pick the day it starts on")
        for day in days:
            if isinstance(day, bool) or not isinstance(day, int | np.integer) or not 0 <= day <= 6:
                raise InvalidInput(f"Weekday {day!r} is not 0 (Monday) to 6 (Sunday)")
        object.__setattr__(self, "weekdays", tuple(sorted({int(day) for day in days})))
        for name in ("starts_at", "ends_at"):
            value = getattr(self, name)
            if not isinstance(value, time) or value.tzinfo is not None:
                raise InvalidInput(
                    f"{name} must be a London wall-clock datetime.time without a zone, "
                    f"got {value!r}"
                )
        if self.starts_at == self.ends_at:
            raise InvalidInput(
                f"The shift starts and ends at {self.starts_at:%H:%M}; give an end time "
                "(an end before the start means the shift runs past midnight)"
            )
        if (
            isinstance(self.look_back_months, bool)
            or not isinstance(self.look_back_months, int)
            or not 1 <= self.look_back_months <= 120
        ):
            raise InvalidInput(
                f"look_back_months must be a whole number from 1 to 120, "
                f"got {self.look_back_months!r}"
            )

    @property
    def crosses_midnight(self) -> bool:
        """True when the band ends on the day after it starts (e.g. 22:00-02:00)."""
        return self.ends_at < self.starts_at

    @property
    def duration_min(self) -> float:
        """Length of one shift in minutes (22:00-02:00 is 240)."""
        minutes = _minute_of_day(self.ends_at) - _minute_of_day(self.starts_at)
        return minutes + _DAY_MIN if minutes < 0 else minutes

    @property
    def days_label(self) -> str:
        """The weekdays as people say them: "Friday", "Friday and Saturday", "Monday to Friday"."""
        if len(self.weekdays) == 7:
            return "Every day"
        runs: list[list[int]] = []
        for day in self.weekdays:
            if runs and day == runs[-1][-1] + 1:
                runs[-1].append(day)
            else:
                runs.append([day])
        parts: list[str] = []
        for run in runs:
            if len(run) >= 3:
                parts.append(f"{WEEKDAY_NAMES[run[0]]} to {WEEKDAY_NAMES[run[-1]]}")
            else:
                parts.extend(WEEKDAY_NAMES[day] for day in run)
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]

    @property
    def label(self) -> str:
        """E.g. "Friday 18:00-22:00", or "Friday 22:00-02:00 (ends next day)", with an en dash."""
        text = f"{self.days_label} {self.starts_at:%H:%M}\N{EN DASH}{self.ends_at:%H:%M}"
        return text + " (ends next day)" if self.crosses_midnight else text

    def week_intervals_min(self) -> tuple[tuple[float, float], ...]:
        """Each weekly occurrence as (start, end) minutes after Monday 00:00.

        An end may pass 10,080 (the end of the week): Sunday 22:00-02:00 is (9960, 10200).
        """
        start = _minute_of_day(self.starts_at)
        return tuple(
            (day * _DAY_MIN + start, day * _DAY_MIN + start + self.duration_min)
            for day in self.weekdays
        )

    def overlaps_weekly(self, weekday: int, starts_at: time, ends_at: time) -> bool:
        """Whether a weekly slot (``weekday`` 0 = Monday, same day start and end) meets the shift.

        Touching is not overlapping: a Youth Bus slot that ends at 18:00 does not meet a shift
        that starts at 18:00. A Monday 00:30 slot meets a Sunday 22:00-02:00 shift.
        """
        slot_start = int(weekday) * _DAY_MIN + _minute_of_day(starts_at)
        slot_end = int(weekday) * _DAY_MIN + _minute_of_day(ends_at)
        if slot_end <= slot_start:
            slot_end += _DAY_MIN
        return any(
            slot_start + wrap < shift_end and shift_start < slot_end + wrap
            for shift_start, shift_end in self.week_intervals_min()
            for wrap in (-_WEEK_MIN, 0, _WEEK_MIN)
        )

    def occurrence(self, on_date: date) -> tuple[datetime, datetime]:
        """The shift that starts on ``on_date``, as naive London (start, end) datetimes.

        Raises InvalidInput when the shift does not run on that weekday.
        """
        if on_date.weekday() not in self.weekdays:
            raise InvalidInput(
                f"{on_date:%A %d %b %Y} is not a day of the shift ({self.days_label}); "
                "pick a date the shift starts on"
            )
        start = datetime.combine(on_date, self.starts_at)
        return start, start + timedelta(minutes=self.duration_min)

    def next_start(self, after: datetime) -> datetime:
        """The first start of the shift at or after ``after`` (naive London time)."""
        for offset in range(8):
            day = after.date() + timedelta(days=offset)
            start = datetime.combine(day, self.starts_at)
            if day.weekday() in self.weekdays and start >= after.replace(tzinfo=None):
                return start
        raise AssertionError("a weekly shift always starts within eight days")  # unreachable

    def window_mask(self, occurred_at: pd.Series) -> np.ndarray:
        """Which datetimes fall inside the shift window, as a boolean array.

        Minutes after midnight in a band that crosses midnight belong to the day before:
        Saturday 01:00 is inside a Friday 22:00-02:00 shift, Friday 01:00 is not. The start is
        inside the window and the end is not. Data with no time of day (police.uk gives the
        month only) cannot be filtered by a time band: leave it out or say so, never treat its
        midnight as a time.
        """
        stamps = pd.to_datetime(pd.Series(occurred_at))
        minute = (stamps.dt.hour * 60 + stamps.dt.minute + stamps.dt.second / 60).to_numpy(float)
        weekday = stamps.dt.day_of_week.to_numpy()
        valid = stamps.notna().to_numpy()
        start, end = _minute_of_day(self.starts_at), _minute_of_day(self.ends_at)
        on_day = np.isin(weekday, self.weekdays)
        if not self.crosses_midnight:
            inside = on_day & (minute >= start) & (minute < end)
        else:
            day_before = np.isin((weekday - 1) % 7, self.weekdays)
            inside = (on_day & (minute >= start)) | (day_before & (minute < end))
        return inside & valid


def _minute_of_day(value: time) -> float:
    return value.hour * 60 + value.minute + value.second / 60


# --- choosing stops ------------------------------------------------------------------------------


def _in_bng(frame: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
    if not isinstance(frame, gpd.GeoDataFrame):
        raise TypeError(f"{name} must be a GeoDataFrame, got {type(frame).__name__}")
    if frame.crs is None:
        raise ValueError(f"{name} has no CRS; set it (EPSG:27700 or EPSG:4326) first")
    return frame if frame.crs.to_epsg() == 27700 else frame.to_crs(BNG)


def _grid_position(cell_ids: pd.Series, cell_size_m: float) -> np.ndarray:
    """(column, row) of each ``easting_northing`` cell id on a grid of side ``cell_size_m``."""
    corners = []
    for cell_id in cell_ids:
        parts = str(cell_id).split("_")
        try:
            if len(parts) != 2:
                raise ValueError
            corners.append((float(parts[0]), float(parts[1])))
        except ValueError:
            raise ValueError(
                f"cell_id {cell_id!r} is not 'easting_northing' of the south-west corner, "
                "e.g. '527000_173000'"
            ) from None
    xy = np.asarray(corners, dtype=float).reshape(-1, 2)
    if not len(xy):
        return np.empty((0, 2), dtype=np.int64)
    # relative to the first corner, so a grid whose origin is not a multiple of the size works
    return np.rint((xy - xy[0]) / cell_size_m).astype(np.int64)


def select_stops(
    cells_bng: gpd.GeoDataFrame,
    max_stops: int,
    min_class: str = DEFAULT_MIN_CLASS,
    exclude_adjacent: bool = True,
    *,
    ward_codes: Iterable[str] | None = None,
    cell_size_m: float | None = None,
) -> gpd.GeoDataFrame:
    """The significant hotspot cells to visit, strongest first and spread out.

    Cells are ranked by Gi* class (99% before 95% before 90%), then ``gi_z``, then
    ``incident_count`` (highest first), then ``cell_id``. Going down that list, a cell that
    touches an already chosen stop, by side or corner (the 8-neighbourhood), is skipped: someone
    standing in the chosen cell already covers most of it, and the patrol's time goes further
    elsewhere. Non-significant and cold cells are never chosen, even to make up the number.

    Parameters
    ----------
    cells_bng
        Grid cells (EPSG:27700, or any set CRS): ``cell_id`` ("easting_northing" of the
        south-west corner), ``incident_count``, ``gi_z``, ``hotspot_class`` and the squares.
    max_stops
        The most stops to propose (1 to ``MAX_ROUTE_STOPS``).
    min_class
        The weakest class to include: "hot 99%", "hot 95%" (default: 99% and 95%) or "hot 90%".
    exclude_adjacent
        Skip cells next to a chosen stop (default). False takes the top cells as ranked.
    ward_codes
        Keep only cells whose ``ward_code`` is one of these (the CSO's wards); None keeps all.
    cell_size_m
        Side of the grid's squares; None reads it from the geometries.

    Returns
    -------
    geopandas.GeoDataFrame
        The chosen cells in rank order (all input columns, EPSG:27700) with ``rank`` 1, 2, ...
        ``attrs`` holds ``significant_cells`` (how many qualified), ``skipped_adjacent`` (how
        many were passed over as neighbours before the list was full) and ``note``: an empty
        string, or a sentence saying why there are fewer than ``max_stops`` stops.

    Raises
    ------
    ValueError
        A column is missing, ``min_class`` is not a hot class, a ``cell_id`` cannot be read,
        or the cell size cannot be worked out.
    InvalidInput
        ``max_stops`` is out of range.
    """
    cells = _in_bng(cells_bng, "cells_bng")
    require_columns(cells, ("cell_id", "incident_count", "gi_z", "hotspot_class"), "cells_bng")
    if min_class not in HOT_CLASSES:
        raise ValueError(f"min_class must be one of {', '.join(HOT_CLASSES)}; got {min_class!r}")
    _check_stop_count(max_stops)
    if ward_codes is not None:
        require_columns(cells, ("ward_code",), "cells_bng (ward_codes was given)")
        cells = cells[cells["ward_code"].isin(list(ward_codes))]

    strength = {label: index for index, label in enumerate(HOT_CLASSES)}
    class_rank = cells["hotspot_class"].map(strength)
    significant = cells[(class_rank.notna() & (class_rank <= strength[min_class])).to_numpy()]
    ranked = (
        significant.assign(_class_rank=significant["hotspot_class"].map(strength).to_numpy())
        .sort_values(
            ["_class_rank", "gi_z", "incident_count", "cell_id"],
            ascending=[True, False, False, True],
            na_position="last",
            kind="stable",
        )
        .drop(columns="_class_rank")
    )

    chosen: list[int] = []
    skipped = 0
    if len(ranked):
        size = _cell_size(ranked, cell_size_m) if exclude_adjacent else 1.0
        position = _grid_position(ranked["cell_id"], size) if exclude_adjacent else None
        for index in range(len(ranked)):
            if len(chosen) == max_stops:
                break
            if position is not None and chosen:
                gap = np.abs(position[chosen] - position[index]).max(axis=1)
                if (gap <= 1).any():  # same cell twice, or a side or corner neighbour
                    skipped += 1
                    continue
            chosen.append(index)

    stops = ranked.iloc[chosen].copy()
    stops["rank"] = np.arange(1, len(stops) + 1, dtype=np.int64)
    stops = stops.reset_index(drop=True)
    stops.attrs = {
        "significant_cells": len(ranked),
        "skipped_adjacent": skipped,
        "note": _shortfall_note(len(stops), max_stops, len(ranked), skipped, min_class),
    }
    log.debug("select_stops: %d of %d significant cells chosen", len(stops), len(ranked))
    return stops


def _cell_size(cells: gpd.GeoDataFrame, cell_size_m: float | None) -> float:
    if cell_size_m is not None:
        if not cell_size_m > 0:
            raise ValueError(f"cell_size_m must be positive, got {cell_size_m}")
        return float(cell_size_m)
    widths = cells.geometry.bounds["maxx"] - cells.geometry.bounds["minx"]
    width = float(np.nanmedian(widths.to_numpy(float))) if len(widths) else 0.0
    if not width > 0:
        raise ValueError(
            "cannot tell the cell size from point geometries; pass cell_size_m (e.g. 250)"
        )
    return width


def _shortfall_note(found: int, wanted: int, significant: int, skipped: int, floor: str) -> str:
    if found >= wanted:
        return ""
    level = f"{floor} or stronger" if floor != HOT_CLASSES[0] else floor
    if significant == 0:
        return (
            f"No cell is a significant hotspot ({level}) for this shift, so no stops are proposed."
        )
    text = (
        f"Only {found} stop{'s' if found != 1 else ''}: "
        f"{significant} cell{'s are' if significant != 1 else ' is'} significant ({level})"
    )
    if skipped:
        text += (
            f", and {skipped} of them sit{'s' if skipped == 1 else ''} next to a chosen stop, "
            "which covers it"
        )
    return text + ". Non-significant cells are never added to make up the number."


# --- route ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # eq=False: comparing frames field by field is ambiguous
class Route:
    """A planned patrol: stops in visiting order, the walk, the times, and how they were worked out.

    Attributes
    ----------
    stops
        One row per stop in visiting order (``STOP_COLUMNS``): ``order`` (1, 2, ...),
        ``cell_id``, ``hotspot_class``, ``incident_count``, ``gi_z``, ``rank`` (its place in
        the hotspot ranking), ``reason`` ("hot 99%, 14 incidents"), ``x_bng``/``y_bng`` (cell
        centre, EPSG:27700), ``longitude``/``latitude`` (WGS84), ``walk_from_previous_m``
        (from the start point, or 0 for the first stop without one), ``arrive_min`` and
        ``leave_min`` (minutes after setting off), ``arrive_at``/``leave_at`` (``datetime.time``
        to the nearest minute when a shift is given, else None) and ``dwell_min``.
    start_bng
        Where the patrol sets off (EPSG:27700), or None to start at the top-ranked stop.
    walk_distance_m, straight_line_m
        The whole walk (including ``return_walk_m``) with and without the detour factor.
    return_walk_m
        The walk from the last stop back to the start when ``return_to_start``; else 0.
    walk_time_min, dwell_total_min, total_time_min
        Time walking, time at stops, and the sum: one round.
    visits_in_shift
        How many rounds fit in the shift, starting one every ``revisit_every_min`` (or as soon
        as the last ends, when a round is longer); None without a shift.
    assumptions
        Plain sentences saying how distances, times and the order were worked out.
    warnings
        Plain sentences about problems the CSO should see (round longer than the shift, ...).
    dwell_min, revisit_every_min, shift, walking_speed_kmh, detour_factor, return_to_start
        The parameters, kept so ``add_stop``/``remove_stop`` re-plan the same way.
    """

    stops: pd.DataFrame
    start_bng: Point | None
    walk_distance_m: float
    straight_line_m: float
    return_walk_m: float
    walk_time_min: float
    dwell_total_min: float
    total_time_min: float
    visits_in_shift: int | None
    assumptions: str
    warnings: tuple[str, ...]
    dwell_min: float
    revisit_every_min: float
    shift: Shift | None
    walking_speed_kmh: float
    detour_factor: float
    return_to_start: bool

    @property
    def cell_ids(self) -> list[str]:
        """The stops' cell ids in visiting order."""
        return [str(cell_id) for cell_id in self.stops["cell_id"]]

    def path_bng(self) -> BaseGeometry | None:
        """The walk as straight legs (EPSG:27700): start, stops in order, and back if asked.

        A Point for a single place, None for a route without stops.
        """
        xy = self._path_xy()
        if not xy:
            return None
        return Point(xy[0]) if len(xy) == 1 else LineString(xy)

    def path_lonlat(self) -> list[tuple[float, float]]:
        """The same places as ``path_bng`` as WGS84 (longitude, latitude) pairs."""
        xy = np.asarray(self._path_xy(), dtype=float).reshape(-1, 2)
        if not len(xy):
            return []
        longitude, latitude = bng_to_wgs84(xy[:, 0], xy[:, 1])
        return list(zip(longitude.tolist(), latitude.tolist(), strict=True))

    def _path_xy(self) -> list[tuple[float, float]]:
        xy = [
            (float(x), float(y))
            for x, y in zip(self.stops["x_bng"], self.stops["y_bng"], strict=True)
        ]
        if not xy:
            return []
        if self.start_bng is not None:
            xy.insert(0, (self.start_bng.x, self.start_bng.y))
        if self.return_to_start and len(xy) > 1:
            xy.append(xy[0])
        return xy


def plan_route(
    stops_bng: gpd.GeoDataFrame,
    start_bng: Point | None = None,
    *,
    dwell_min: float = DEFAULT_DWELL_MIN,
    revisit_every_min: float = DEFAULT_REVISIT_EVERY_MIN,
    shift: Shift | None = None,
    walking_speed_kmh: float = DEFAULT_WALKING_SPEED_KMH,
    detour_factor: float = DEFAULT_DETOUR_FACTOR,
    return_to_start: bool = False,
) -> Route:
    """Put the stops in a short walking order and work out distances and times.

    The order is built by nearest neighbour from ``start_bng`` (or from the first stop, the
    top-ranked one, which then stays first), then improved by 2-opt: any two legs whose swap
    (reversing the stops between them) shortens the walk are swapped, until no swap helps;
    then by Or-opt, which moves a run of one to three stops elsewhere when that helps, and
    2-opt again, until neither shortens the walk. A 2-opt pass is O(n²) and an Or-opt pass
    O(n³) (O(n²) placements, each measured in O(n)); a few passes are usual, so a shift's worth
    of stops (≤ 30) plans in under 0.1 s. The result is a good order, not always the shortest
    possible one. Ties go to the stop listed first, so the same input always gives the same
    route.

    Parameters
    ----------
    stops_bng
        The stops in rank order (as ``select_stops`` returns them; EPSG:27700 or any set CRS):
        ``cell_id`` and a geometry (the cell square, or a point). ``hotspot_class``,
        ``incident_count``, ``gi_z`` and ``rank`` are used when present.
    start_bng
        Where the patrol sets off, e.g. the CSO's base (EPSG:27700); None to start at the
        first stop.
    dwell_min
        Minutes at each stop (default 12; Koper 1995 found 10-15 minutes works best).
    revisit_every_min
        Minutes between visits to the same hotspot (default 120), for ``visits_in_shift``.
    shift
        The shift, for clock times and for how many rounds fit; None leaves both out.
    walking_speed_kmh
        Walking speed (default 4.8 km/h).
    detour_factor
        Multiplies straight-line distances to allow for streets (default 1.3; at least 1).
    return_to_start
        True to end back at the start (a loop); default False ends at the last stop.

    Returns
    -------
    Route
        See ``Route``. An empty ``stops_bng`` gives a route with no stops and a warning.

    Raises
    ------
    ValueError
        No CRS, a missing column, an empty geometry or a repeated ``cell_id``.
    InvalidInput
        A parameter out of range, or more than ``MAX_ROUTE_STOPS`` stops.
    """
    frame = _stop_frame(stops_bng, "stops_bng")
    return _plan(
        frame,
        start_bng,
        dwell_min=dwell_min,
        revisit_every_min=revisit_every_min,
        shift=shift,
        walking_speed_kmh=walking_speed_kmh,
        detour_factor=detour_factor,
        return_to_start=return_to_start,
    )


def remove_stop(route: Route, cell_id: str) -> Route:
    """The route planned again without the stop in cell ``cell_id``, with the same parameters.

    Raises InvalidInput when ``cell_id`` is not a stop on the route.
    """
    kept = route.stops[route.stops["cell_id"].astype(str) != str(cell_id)]
    if len(kept) == len(route.stops):
        on_route = ", ".join(route.cell_ids) or "none"
        raise InvalidInput(f"Cell {cell_id} is not a stop on this route (stops: {on_route})")
    return _replan(route, kept.sort_values("rank", kind="stable"))


def add_stop(route: Route, cell_bng: gpd.GeoDataFrame | pd.Series) -> Route:
    """The route planned again with one more stop (or several), with the same parameters.

    ``cell_bng`` is a row of the hotspot cells: a GeoDataFrame (EPSG:27700 or any set CRS; every
    row is added) or one row of it as a Series (``cells.iloc[i]``, taken as EPSG:27700). It
    needs ``cell_id`` and a geometry; the class and counts are used when present. New stops
    rank after the existing ones. The CSO may add any cell, significant or not: the route's
    ``reason`` column shows what it is.

    Raises InvalidInput when the cell is already a stop or the route would be too long;
    ValueError for a row without ``cell_id`` or geometry, or a Series far outside Great Britain
    (probably longitude/latitude).
    """
    if isinstance(cell_bng, gpd.GeoDataFrame):
        new = _stop_frame(cell_bng, "cell_bng")
    elif isinstance(cell_bng, pd.Series):
        geometry = cell_bng.get("geometry")
        if not isinstance(geometry, BaseGeometry):
            raise ValueError("cell_bng has no 'geometry'; pass a row of the hotspot cells")
        centre = geometry.centroid
        if not (0 <= centre.x <= 700_000 and 0 <= centre.y <= 1_300_000):
            raise ValueError(
                f"cell_bng is at ({centre.x:.4f}, {centre.y:.4f}), outside British National "
                "Grid; pass an EPSG:27700 row, or a GeoDataFrame with its CRS set"
            )
        row = cell_bng.drop(labels=["geometry"]).to_dict()
        new = _stop_frame(gpd.GeoDataFrame([row], geometry=[geometry], crs=BNG), "cell_bng")
    else:
        raise TypeError(
            f"cell_bng must be a GeoDataFrame or a row of one, got {type(cell_bng).__name__}"
        )
    existing = dict(zip(route.stops["cell_id"].astype(str), route.stops["order"], strict=True))
    for cell_id in new["cell_id"]:
        if str(cell_id) in existing:
            raise InvalidInput(f"Cell {cell_id} is already stop {existing[str(cell_id)]}")
    last_rank = int(route.stops["rank"].max()) if len(route.stops) else 0
    new["rank"] = np.arange(last_rank + 1, last_rank + 1 + len(new), dtype=np.int64)
    base = route.stops.sort_values("rank", kind="stable")
    return _replan(route, pd.concat([base[_INPUT_COLUMNS], new[_INPUT_COLUMNS]], ignore_index=True))


_INPUT_COLUMNS = ["cell_id", "hotspot_class", "incident_count", "gi_z", "rank", "x_bng", "y_bng"]


def _stop_frame(stops: gpd.GeoDataFrame, name: str) -> pd.DataFrame:
    """Stops as plain columns: cell id, what is known about the cell, and its centre in metres."""
    stops = _in_bng(stops, name)
    require_columns(stops, ("cell_id",), name)
    if stops.geometry.is_empty.any() or stops.geometry.isna().any():
        raise ValueError(f"{name} has rows without a geometry; every stop needs a place")
    if stops["cell_id"].astype(str).duplicated().any():
        repeated = sorted(set(stops["cell_id"][stops["cell_id"].astype(str).duplicated()]))
        raise ValueError(f"{name} lists cells more than once: {', '.join(map(str, repeated))}")
    centres = stops.geometry.centroid
    frame = pd.DataFrame(
        {
            "cell_id": stops["cell_id"].astype(str).to_numpy(),
            "hotspot_class": stops["hotspot_class"].to_numpy()
            if "hotspot_class" in stops.columns
            else None,
            "incident_count": stops["incident_count"].to_numpy()
            if "incident_count" in stops.columns
            else np.nan,
            "gi_z": stops["gi_z"].to_numpy(float) if "gi_z" in stops.columns else np.nan,
            "rank": stops["rank"].to_numpy()
            if "rank" in stops.columns
            else np.arange(1, len(stops) + 1),
            "x_bng": centres.x.to_numpy(float),
            "y_bng": centres.y.to_numpy(float),
        }
    )
    frame["incident_count"] = frame["incident_count"].astype("Int64")
    frame["rank"] = frame["rank"].astype(np.int64)
    return frame


def _replan(route: Route, frame: pd.DataFrame) -> Route:
    return _plan(
        frame[_INPUT_COLUMNS].reset_index(drop=True),
        route.start_bng,
        dwell_min=route.dwell_min,
        revisit_every_min=route.revisit_every_min,
        shift=route.shift,
        walking_speed_kmh=route.walking_speed_kmh,
        detour_factor=route.detour_factor,
        return_to_start=route.return_to_start,
    )


def _check_stop_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int | np.integer):
        raise InvalidInput(f"The number of stops must be a whole number, got {count!r}")
    if not 1 <= count <= MAX_ROUTE_STOPS:
        raise InvalidInput(
            f"Choose 1 to {MAX_ROUTE_STOPS} stops, not {count}: one shift cannot hold more"
        )


def _check_parameters(
    dwell_min: float,
    revisit_every_min: float,
    walking_speed_kmh: float,
    detour_factor: float,
    start_bng: Point | None,
) -> None:
    checks = (
        (dwell_min, 0, 240, "dwell_min", "minutes at each stop"),
        (revisit_every_min, 1, 24 * 60, "revisit_every_min", "minutes between visits"),
        (walking_speed_kmh, 0.5, 10, "walking_speed_kmh", "walking speed in km/h"),
        (detour_factor, 1, 3, "detour_factor", "detour factor"),
    )
    for value, low, high, name, meaning in checks:
        if (
            not isinstance(value, int | float)
            or not math.isfinite(value)
            or not low <= value <= high
        ):
            raise InvalidInput(f"{name} ({meaning}) must be from {low} to {high}, got {value!r}")
    if dwell_min <= 0:
        raise InvalidInput(
            "dwell_min must be more than 0 minutes; 10-15 is what the evidence supports"
        )
    if start_bng is not None and (not isinstance(start_bng, Point) or start_bng.is_empty):
        raise InvalidInput(f"start_bng must be a shapely Point in EPSG:27700, got {start_bng!r}")


def _plan(
    frame: pd.DataFrame,
    start_bng: Point | None,
    *,
    dwell_min: float,
    revisit_every_min: float,
    shift: Shift | None,
    walking_speed_kmh: float,
    detour_factor: float,
    return_to_start: bool,
) -> Route:
    _check_parameters(dwell_min, revisit_every_min, walking_speed_kmh, detour_factor, start_bng)
    if shift is not None and not isinstance(shift, Shift):
        raise TypeError(f"shift must be a Shift or None, got {type(shift).__name__}")
    if len(frame) > MAX_ROUTE_STOPS:
        raise InvalidInput(
            f"{len(frame)} stops is more than {MAX_ROUTE_STOPS}; one shift cannot hold them"
        )
    xy = frame[["x_bng", "y_bng"]].to_numpy(float)
    start_xy = None if start_bng is None else np.array([[start_bng.x, start_bng.y]])
    order, legs_m, return_m = _visiting_order(xy, start_xy, closed=return_to_start)

    metres_per_min = walking_speed_kmh * 1000 / 60
    stops = frame.iloc[order].reset_index(drop=True)
    walk_m = legs_m * detour_factor
    arrive = np.empty(len(stops))
    leave = np.empty(len(stops))
    clock = 0.0
    for index, metres in enumerate(walk_m):
        clock += metres / metres_per_min
        arrive[index] = clock
        clock += dwell_min
        leave[index] = clock
    longitude, latitude = bng_to_wgs84(stops["x_bng"].to_numpy(), stops["y_bng"].to_numpy())
    stops.insert(0, "order", np.arange(1, len(stops) + 1, dtype=np.int64))
    stops["reason"] = [
        _reason(cls, count)
        for cls, count in zip(stops["hotspot_class"], stops["incident_count"], strict=True)
    ]
    stops["longitude"] = longitude
    stops["latitude"] = latitude
    stops["walk_from_previous_m"] = walk_m
    stops["arrive_min"] = arrive
    stops["leave_min"] = leave
    stops["arrive_at"] = [_clock(shift, minutes) for minutes in arrive]
    stops["leave_at"] = [_clock(shift, minutes) for minutes in leave]
    stops["dwell_min"] = float(dwell_min)
    stops = stops[STOP_COLUMNS]

    straight_m = float(legs_m.sum() + return_m)
    walk_distance_m = straight_m * detour_factor
    walk_time_min = walk_distance_m / metres_per_min
    dwell_total_min = dwell_min * len(stops)
    total_time_min = walk_time_min + dwell_total_min
    visits = _rounds(shift, total_time_min, revisit_every_min, len(stops))
    return Route(
        stops=stops,
        start_bng=start_bng,
        walk_distance_m=walk_distance_m,
        straight_line_m=straight_m,
        return_walk_m=float(return_m * detour_factor),
        walk_time_min=walk_time_min,
        dwell_total_min=float(dwell_total_min),
        total_time_min=total_time_min,
        visits_in_shift=visits,
        assumptions=_assumptions(
            dwell_min,
            revisit_every_min,
            walking_speed_kmh,
            detour_factor,
            start_bng is not None,
            return_to_start,
            shift is not None,
        ),
        warnings=_warnings(len(stops), total_time_min, dwell_min, revisit_every_min, shift, visits),
        dwell_min=float(dwell_min),
        revisit_every_min=float(revisit_every_min),
        shift=shift,
        walking_speed_kmh=float(walking_speed_kmh),
        detour_factor=float(detour_factor),
        return_to_start=return_to_start,
    )


def _visiting_order(
    xy: np.ndarray, start_xy: np.ndarray | None, *, closed: bool
) -> tuple[list[int], np.ndarray, float]:
    """Stop indices in visiting order, the straight leg into each (m), and the leg back (m).

    Node 0 of the working path is the anchor: the start point, or else the first stop. It never
    moves. Nearest neighbour builds the path; then 2-opt and Or-opt moves (``_improve``) shorten
    it until neither can.
    """
    if not len(xy):
        return [], np.empty(0), 0.0
    nodes = xy if start_xy is None else np.vstack([start_xy, xy])
    distance = np.hypot(
        nodes[:, None, 0] - nodes[None, :, 0], nodes[:, None, 1] - nodes[None, :, 1]
    )
    path = [0]
    unvisited = list(range(1, len(nodes)))
    while unvisited:
        last = path[-1]
        nearest = min(unvisited, key=lambda node: (distance[last, node], node))
        path.append(nearest)
        unvisited.remove(nearest)
    path = _improve(path, distance, closed=closed)

    legs = [distance[a, b] for a, b in pairwise(path)]
    back = float(distance[path[-1], path[0]]) if closed and len(path) > 1 else 0.0
    if start_xy is None:
        return path, np.array([0.0, *legs]), back
    return [node - 1 for node in path[1:]], np.array(legs), back


def _two_opt(path: list[int], distance: np.ndarray, *, closed: bool) -> list[int]:
    """Improve ``path`` (node 0 fixed first) by 2-opt moves until none shortens it.

    Reversing ``path[i..j]`` replaces legs (a=path[i-1], b=path[i]) and (c=path[j],
    d=path[j+1]) with (a, c) and (b, d). On an open path with j last there is no d, so only
    (a, b) becomes (a, c); on a loop d is the anchor. A pass tries every (i, j): O(n²). Every
    accepted move shortens the walk by more than ``_IMPROVEMENT_M``, so it stops.
    """
    path = list(path)
    count = len(path)
    improved = True
    while improved:
        improved = False
        for i in range(1, count - 1):
            for j in range(i + 1, count):
                a, b, c = path[i - 1], path[i], path[j]
                if j + 1 < count:
                    d: int | None = path[j + 1]
                else:
                    d = path[0] if closed else None
                before = distance[a, b] + (distance[c, d] if d is not None else 0.0)
                after = distance[a, c] + (distance[b, d] if d is not None else 0.0)
                if after < before - _IMPROVEMENT_M:
                    path[i : j + 1] = path[i : j + 1][::-1]
                    improved = True
    return path


def _or_opt(path: list[int], distance: np.ndarray, *, closed: bool) -> list[int] | None:
    """The first Or-opt move that shortens ``path``, or None when there is none.

    Or-opt (Or 1976) lifts a run of one to three consecutive stops out and puts it back, either
    way round, between two other places. It finds what 2-opt cannot on an open path, such as a
    stop left stranded at the far end: with the start at 0 and stops at 100, 250, 400 and -150
    metres along a street, nearest neighbour walks 0, 100, 250, 400, -150 (950 m) and no single
    reversal helps, but moving -150 to the front gives 0, -150, 100, 250, 400 (700 m). A pass
    tries O(n²) placements, each measured in O(n).
    """
    best = _length(path, distance, closed=closed) - _IMPROVEMENT_M
    for run in (1, 2, 3):
        for i in range(1, len(path) - run + 1):
            piece = path[i : i + run]
            rest = path[:i] + path[i + run :]
            for k in range(1, len(rest) + 1):
                if k == i:
                    continue  # back where it was
                for placed in (piece, piece[::-1]) if run > 1 else (piece,):
                    candidate = rest[:k] + placed + rest[k:]
                    if _length(candidate, distance, closed=closed) < best:
                        return candidate
    return None


def _improve(path: list[int], distance: np.ndarray, *, closed: bool) -> list[int]:
    """2-opt until no reversal helps, then one Or-opt move; repeat until neither helps."""
    while True:
        path = _two_opt(path, distance, closed=closed)
        moved = _or_opt(path, distance, closed=closed)
        if moved is None:
            return path
        path = moved


def _length(path: list[int], distance: np.ndarray, *, closed: bool) -> float:
    nodes = np.asarray(path)
    total = float(distance[nodes[:-1], nodes[1:]].sum())
    return total + float(distance[nodes[-1], nodes[0]]) if closed else total


def _reason(hotspot_class: object, incident_count: object) -> str:
    parts = []
    if isinstance(hotspot_class, str) and hotspot_class:
        parts.append(hotspot_class)
    if incident_count is not None and not pd.isna(incident_count):
        count = int(incident_count)
        parts.append(f"{count} incident{'s' if count != 1 else ''}")
    return ", ".join(parts) or "added by hand"


def _clock(shift: Shift | None, minutes: float) -> time | None:
    if shift is None:
        return None
    start = datetime.combine(date(2000, 1, 3), shift.starts_at)
    # half up, as people round: 18.5 minutes shows as 19 (round() would give 18)
    return (start + timedelta(minutes=math.floor(minutes + 0.5))).time()


def _rounds(
    shift: Shift | None, round_min: float, revisit_every_min: float, stop_count: int
) -> int | None:
    """Rounds that fit: one starts every ``revisit_every_min``, or when the last ends if later."""
    if shift is None:
        return None
    if stop_count == 0 or round_min > shift.duration_min:
        return 0
    period = max(revisit_every_min, round_min)
    return int((shift.duration_min - round_min) // period) + 1


def _assumptions(
    dwell_min: float,
    revisit_every_min: float,
    walking_speed_kmh: float,
    detour_factor: float,
    has_start: bool,
    return_to_start: bool,
    has_shift: bool,
) -> str:
    start = "from the start point you gave" if has_start else "from the top-ranked hotspot"
    end = "back to the start" if return_to_start else "ending at the last stop"
    sentences = [
        f"Distances are straight lines between cell centres multiplied by {detour_factor:g} to "
        "allow for streets; they are not measured along streets or paths, so the real walk may "
        "be longer or shorter.",
        f"Walking times assume {walking_speed_kmh:g} km/h.",
        f"Each stop lasts {dwell_min:g} minutes: visits of about 10-15 minutes deter crime for "
        "longest after the patrol leaves (Koper 1995).",
        f"Each hotspot is to be revisited about every {revisit_every_min:g} minutes.",
        f"The order is nearest-neighbour then 2-opt and Or-opt improvement, {start}, {end}; "
        "it is short, "
        "not guaranteed shortest.",
    ]
    if has_shift:
        sentences.append(
            "Clock times are for the first round, setting off when the shift starts. "
            + (
                "Later rounds are counted as long as the first."
                if return_to_start
                else "Later rounds can walk the stops in reverse, so each is as long as the "
                "first; vary the order when you can so visits are not predictable."
            )
        )
    return " ".join(sentences)


def _warnings(
    stop_count: int,
    round_min: float,
    dwell_min: float,
    revisit_every_min: float,
    shift: Shift | None,
    visits: int | None,
) -> tuple[str, ...]:
    warnings = []
    if stop_count == 0:
        warnings.append("No stops: add a hotspot cell to plan a route.")
        return tuple(warnings)
    if not KOPER_RANGE_MIN[0] <= dwell_min <= KOPER_RANGE_MIN[1]:
        warnings.append(
            f"{dwell_min:g} minutes a stop is outside the 10-15 minutes the evidence supports."
        )
    if shift is not None and visits == 0:
        warnings.append(
            f"One round takes {round_min:.0f} minutes, longer than the "
            f"{shift.duration_min:.0f}-minute shift: remove a stop or shorten the stays."
        )
    elif round_min > revisit_every_min:
        warnings.append(
            f"One round takes {round_min:.0f} minutes, more than the {revisit_every_min:g} "
            "minutes between visits, so each hotspot is visited less often than planned."
        )
    return tuple(warnings)


# --- what is near the route ----------------------------------------------------------------------


def _stop_points(route: Route) -> np.ndarray:
    return shapely.points(
        route.stops["x_bng"].to_numpy(float), route.stops["y_bng"].to_numpy(float)
    )


def _nearest_stop(route: Route, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each point, the index of the nearest stop and its straight-line distance (m)."""
    stops = _stop_points(route)
    distance = shapely.distance(points[:, None], stops[None, :])
    nearest = distance.argmin(axis=1)
    return nearest, distance[np.arange(len(points)), nearest]


def assets_in_window(
    bins_wgs84: gpd.GeoDataFrame | None,
    bus_stops_wgs84: gpd.GeoDataFrame | None,
    schedule: pd.DataFrame | None,
    shift: Shift,
    route: Route,
    distance_m: float = DEFAULT_NEAR_M,
    *,
    on_date: date | None = None,
) -> pd.DataFrame:
    """Knife bins near the route, and Youth Bus stops near it that are scheduled in the shift.

    "Near" is a straight line of at most ``distance_m`` to the walk as drawn (``path_bng``:
    straight legs between stops), not a distance along streets.

    Parameters
    ----------
    bins_wgs84, bus_stops_wgs84
        Knife bins and Youth Bus stops as ``dashboard.store.queries.assets`` returns them
        (``asset_id``, ``name``, ``address``, point geometry; EPSG:4326 or any set CRS). None
        or empty to leave a kind out.
    schedule
        The Youth Bus timetable (``stop_id``, ``weekday`` 0 = Monday or ``on_date``,
        ``starts_at``, ``ends_at``, ``activity``; ``when`` is used when present), as
        ``youth_bus_schedule`` returns it. A bus stop with no slot meeting the shift is left
        out.
    shift
        The patrol's shift. A weekly slot counts when it overlaps the time band on one of its
        days (a Saturday 00:30 slot meets a Friday 22:00-02:00 shift).
    route
        The planned route; a route without stops gives an empty frame.
    distance_m
        How far from the route counts as near (default 400 m, about five minutes' walk).
    on_date
        The date the patrol starts. When given, one-off (dated) slots count only if they fall
        in that shift; without it they count when their weekday and times match, and ``when``
        shows their date.

    Returns
    -------
    pandas.DataFrame
        ``ASSET_COLUMNS``: ``kind`` ("knife_bin" or "youth_bus_stop"), ``asset_id``, ``name``,
        ``address``, ``when`` and ``activity`` (the bus's matching slots, joined by "; ";
        empty for bins), ``longitude``/``latitude``, ``distance_m`` (to the route),
        ``nearest_stop`` (its ``order``) and ``nearest_cell_id``; sorted by nearest stop, then
        distance.

    Raises
    ------
    ValueError
        A frame has no CRS or lacks a column; ``distance_m`` is negative.
    """
    if distance_m < 0:
        raise ValueError(f"distance_m must be 0 or more, got {distance_m}")
    path = route.path_bng()
    pieces = []
    if path is not None:
        if bins_wgs84 is not None and len(bins_wgs84):
            near = _assets_near(bins_wgs84, "bins_wgs84", path, route, distance_m)
            pieces.append(near.assign(kind="knife_bin", when="", activity=""))
        if bus_stops_wgs84 is not None and len(bus_stops_wgs84):
            near = _assets_near(bus_stops_wgs84, "bus_stops_wgs84", path, route, distance_m)
            slots = _slots_in_shift(schedule, shift, on_date)
            near = near.merge(slots, left_on="asset_id", right_on="stop_id", how="inner")
            pieces.append(near.drop(columns="stop_id").assign(kind="youth_bus_stop"))
    pieces = [piece for piece in pieces if len(piece)]
    if not pieces:
        return pd.DataFrame({column: [] for column in ASSET_COLUMNS})
    assets = pd.concat(pieces, ignore_index=True)[ASSET_COLUMNS]
    return assets.sort_values(
        ["nearest_stop", "distance_m", "kind", "name"], kind="stable", ignore_index=True
    )


def _assets_near(
    assets: gpd.GeoDataFrame, name: str, path: BaseGeometry, route: Route, distance_m: float
) -> pd.DataFrame:
    require_columns(assets, ("asset_id", "name"), name)
    assets_bng = _in_bng(assets, name)
    points = assets_bng.geometry.to_numpy()
    to_path = shapely.distance(points, path)
    keep = to_path <= distance_m
    nearest, _ = _nearest_stop(route, points[keep]) if keep.any() else (np.empty(0, int), None)
    chosen = assets[keep]
    wgs84 = chosen.to_crs(WGS84).geometry
    return pd.DataFrame(
        {
            "asset_id": chosen["asset_id"].to_numpy(),
            "name": chosen["name"].to_numpy(),
            "address": chosen["address"].to_numpy() if "address" in chosen.columns else None,
            "longitude": wgs84.x.to_numpy(float),
            "latitude": wgs84.y.to_numpy(float),
            "distance_m": to_path[keep],
            "nearest_stop": route.stops["order"].to_numpy()[nearest],
            "nearest_cell_id": route.stops["cell_id"].to_numpy()[nearest],
        }
    )


def _slots_in_shift(
    schedule: pd.DataFrame | None, shift: Shift, on_date: date | None
) -> pd.DataFrame:
    """Per Youth Bus stop: its slots that meet the shift, as ``when`` and ``activity`` text."""
    columns = {"stop_id": [], "when": [], "activity": []}
    if schedule is None or schedule.empty:
        return pd.DataFrame(columns)
    require_columns(schedule, _SCHEDULE_COLUMNS, "schedule")
    window = shift.occurrence(on_date) if on_date is not None else None
    matches: dict[object, list[tuple[str, str]]] = {}
    for slot in schedule.itertuples(index=False):
        weekly = slot.weekday is not None and not pd.isna(slot.weekday)
        if weekly:
            meets = shift.overlaps_weekly(int(slot.weekday), slot.starts_at, slot.ends_at)
        else:
            slot_day = pd.Timestamp(slot.on_date).date()
            if window is not None:
                slot_start = datetime.combine(slot_day, slot.starts_at)
                slot_end = datetime.combine(slot_day, slot.ends_at)
                meets = slot_start < window[1] and window[0] < slot_end
            else:
                meets = shift.overlaps_weekly(slot_day.weekday(), slot.starts_at, slot.ends_at)
        if not meets:
            continue
        when = getattr(slot, "when", None)
        if not isinstance(when, str) or not when:
            day = WEEKDAY_NAMES[int(slot.weekday)] if weekly else f"{slot_day:%a %d %b %Y}"
            when = f"{day} {slot.starts_at:%H:%M}-{slot.ends_at:%H:%M}"
        activity = "" if slot.activity is None or pd.isna(slot.activity) else str(slot.activity)
        matches.setdefault(slot.stop_id, []).append((when, activity))
    for stop_id, slots in matches.items():
        columns["stop_id"].append(stop_id)
        columns["when"].append("; ".join(when for when, _ in slots))
        columns["activity"].append("; ".join(activity for _, activity in slots if activity))
    return pd.DataFrame(columns)


def actions_near_route(
    actions: pd.DataFrame, route: Route, distance_m: float = DEFAULT_NEAR_M
) -> pd.DataFrame:
    """Open plan actions with a place within ``distance_m`` (straight line) of a stop.

    ``actions`` is the frame ``dashboard.plans.actions()`` returns; only not-started, on-track
    and at-risk actions with a longitude and latitude count, and none of a closed plan (when
    ``plan_status`` is present). Returns ``NEAR_ACTION_COLUMNS``: the action's columns used, then
    ``distance_m`` (to the nearest stop), ``nearest_stop`` (its ``order``) and
    ``nearest_cell_id``; sorted by nearest stop, then flag (overdue first), then distance.
    Raises ValueError when a column is missing or ``distance_m`` is negative.
    """
    require_columns(actions, _ACTION_SOURCE_COLUMNS, "actions")
    if distance_m < 0:
        raise ValueError(f"distance_m must be 0 or more, got {distance_m}")
    empty = pd.DataFrame({column: [] for column in NEAR_ACTION_COLUMNS})
    if route.stops.empty or actions.empty:
        return empty
    open_statuses = {str(status) for status in OPEN_ACTION_STATUSES}
    keep = actions["status"].astype(str).isin(open_statuses)
    keep &= actions["longitude"].notna() & actions["latitude"].notna()
    if "plan_status" in actions.columns:
        keep &= actions["plan_status"].astype(str) != "closed"
    candidates = actions[keep]
    if candidates.empty:
        return empty
    points = gpd.GeoSeries(
        gpd.points_from_xy(candidates["longitude"], candidates["latitude"]), crs=WGS84
    ).to_crs(BNG)
    nearest, distance = _nearest_stop(route, points.to_numpy())
    near = candidates[list(_ACTION_SOURCE_COLUMNS)].assign(
        distance_m=distance,
        nearest_stop=route.stops["order"].to_numpy()[nearest],
        nearest_cell_id=route.stops["cell_id"].to_numpy()[nearest],
    )
    near = near[distance <= distance_m]
    flag_rank = near["flag"].map({flag: index for index, flag in enumerate(FLAG_ORDER)})
    return (
        near.assign(_flag_rank=flag_rank)
        .sort_values(["nearest_stop", "_flag_rank", "distance_m", "action_id"], kind="stable")
        .drop(columns="_flag_rank")
        .reset_index(drop=True)[NEAR_ACTION_COLUMNS]
    )
