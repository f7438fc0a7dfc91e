"""Patrols logged as done: which stops a CSO visited, when they arrived and how long they stayed.

Hot-spot patrols work through dosage (how often and how long a hotspot is visited), so after a
shift the CSO logs the patrol against the stops that were planned; ``patrol_logs`` and
``dosage_by_cell`` then compare planned with delivered dosage. Logs are append-only: there is no
update or delete, and a wrong log is followed by a corrected one, so what was reported stays on
record. Free text is stored as typed (stripped); escaping it is the pages' job.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pandas as pd
from sqlalchemy import Engine, and_, case, func, select

from dashboard.access import Permission, Principal, Role, require
from dashboard.boroughs import require_borough_access
from dashboard.dates import LONDON, now_in_london, short_date
from dashboard.errors import InvalidInput, NotAllowed
from dashboard.store.models import Cso, PatrolLog, PatrolVisit
from dashboard.store.scope import Boroughs, in_boroughs
from dashboard.store.session import session_scope, write_scope

log = logging.getLogger(__name__)

NOTES_MAX = 2000  # a paragraph or two; longer accounts belong in the plan's updates
SHIFT_LABEL_MAX = 120  # the column's length
CELL_ID_MAX = 32  # the column's length
# Arriving a little before the shift or finishing a stop after it still counts as the shift
ARRIVAL_SLACK = timedelta(hours=1)

PATROL_LOG_COLUMNS = [
    "patrol_id",
    "cso_id",
    "cso_name",
    "patrol_date",
    "shift_label",
    "planned_stops",
    "visited_planned",
    "unplanned_visits",
    "planned_minutes",
    "delivered_minutes",
    "visits_without_dwell",
    "delivery_share",
    "logged_by",
    "logged_at",
    "notes",
]
VISIT_COLUMNS = ["cell_id", "planned_order", "visited", "arrived_at", "dwell_min"]
DOSAGE_COLUMNS = [
    "cell_id",
    "planned_visits",
    "planned_minutes",
    "delivered_visits",
    "delivered_minutes",
    "visits_without_dwell",
]


@dataclass(frozen=True)
class VisitRecord:
    """One stop of a patrol as the CSO reports it.

    Attributes
    ----------
    cell_id
        The hotspot grid cell, "easting_northing" of its south-west corner.
    planned_order
        Its place in the planned route (1, 2, ...), or None for a stop visited that was not
        planned.
    visited
        True when the CSO reached the stop.
    arrived_at
        When they arrived (London wall-clock time), if recorded; only for a visited stop.
    dwell_min
        How long they stayed, in minutes, if recorded.
    """

    cell_id: str
    planned_order: int | None
    visited: bool
    arrived_at: datetime | None = None
    dwell_min: float | None = None


def shift_bounds(patrol_date: date, starts_at: time, ends_at: time) -> tuple[datetime, datetime]:
    """The shift as start and end datetimes; one ending before it starts ends the next day.

    Parameters
    ----------
    patrol_date
        The day the shift started.
    starts_at, ends_at
        The shift band, e.g. 18:00 and 22:00, or 22:00 and 02:00 for a shift past midnight.

    Returns
    -------
    tuple of datetime
        The shift's start and end, without a zone (London wall-clock time).
    """
    start = datetime.combine(patrol_date, starts_at)
    end = datetime.combine(patrol_date, ends_at)
    if ends_at < starts_at:
        end += timedelta(days=1)
    return start, end


def _text(value: str | None, label: str, max_length: int, *, required: bool) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidInput(f"The {label} is required")
        return None
    if len(text) > max_length:
        raise InvalidInput(
            f"The {label} is {len(text):,} characters; shorten it to at most {max_length:,}"
        )
    return text


def _minutes(value: float | None, label: str) -> float | None:
    if value is None:
        return None
    minutes = float(value)
    if not math.isfinite(minutes) or minutes < 0:
        raise InvalidInput(f"The {label} is {value}; give a number of minutes, 0 or more")
    return minutes


def _london_wall_clock(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(LONDON).replace(tzinfo=None)


def _clean_visits(
    visits: Sequence[VisitRecord], window: tuple[datetime, datetime], now: datetime
) -> list[dict[str, object]]:
    """Check the stops and return them as rows: planned ones in order, then unplanned ones."""
    if not visits:
        raise InvalidInput("The patrol has no stops; record at least one stop, visited or not")
    earliest, latest = window[0] - ARRIVAL_SLACK, window[1] + ARRIVAL_SLACK
    seen_cells: set[str] = set()
    planned: dict[int, dict[str, object]] = {}  # by planned order
    unplanned: list[dict[str, object]] = []
    for visit in visits:
        cell_id = _text(visit.cell_id, "stop's cell id", CELL_ID_MAX, required=True)
        assert cell_id is not None  # required
        if cell_id in seen_cells:
            raise InvalidInput(f"Stop {cell_id} is listed twice; record each stop once")
        seen_cells.add(cell_id)
        visited = bool(visit.visited)
        order = visit.planned_order
        if order is None:
            if not visited:
                raise InvalidInput(
                    f"Stop {cell_id} was neither planned nor visited; leave it out of the log"
                )
        else:
            if isinstance(order, bool) or int(order) != order or order < 1:
                raise InvalidInput(
                    f"Stop {cell_id} has planned order {order!r}; use 1, 2, ... as planned"
                )
            order = int(order)
            if order in planned:
                raise InvalidInput(
                    f"Stops {planned[order]['cell_id']} and {cell_id} both have planned order "
                    f"{order}; give each planned stop its own place in the route"
                )
        arrived_at = None if visit.arrived_at is None else _london_wall_clock(visit.arrived_at)
        if arrived_at is not None:
            if not visited:
                raise InvalidInput(
                    f"Stop {cell_id} has an arrival time but is not marked visited; "
                    "mark it visited or clear the arrival time"
                )
            if not earliest <= arrived_at <= latest:
                raise InvalidInput(
                    f"Stop {cell_id}: arrival {arrived_at:%d %b %Y %H:%M} is outside the shift; "
                    f"give a time between {earliest:%d %b %Y %H:%M} and {latest:%d %b %Y %H:%M}"
                )
            if arrived_at > now:
                raise InvalidInput(
                    f"Stop {cell_id}: arrival {arrived_at:%d %b %Y %H:%M} is in the future; "
                    "log a stop once it has been visited"
                )
        dwell_min = _minutes(visit.dwell_min, f"time spent at stop {cell_id}")
        if not visited and dwell_min:
            raise InvalidInput(
                f"Stop {cell_id} has {dwell_min:g} minutes spent but is not marked visited; "
                "mark it visited or clear the minutes"
            )
        row = {
            "cell_id": cell_id,
            "planned_order": order,
            "visited": visited,
            "arrived_at": arrived_at,
            "dwell_min": dwell_min,
        }
        if order is None:
            unplanned.append(row)
        else:
            planned[order] = row
    return [planned[order] for order in sorted(planned)] + unplanned


def log_patrol(
    engine: Engine,
    actor: Principal,
    *,
    cso_id: int,
    patrol_date: date,
    shift_label: str,
    starts_at: time,
    ends_at: time,
    ward_codes: Sequence[str],
    planned_dwell_min: float,
    visits: Sequence[VisitRecord],
    notes: str | None = None,
    plan_link: str | None = None,
    now: datetime | None = None,
) -> int:
    """Record a patrol as done, with every stop planned or visited; returns the log's id.

    Everything is checked before anything is written, and the log and its stops are written in
    one transaction, so a refused log leaves nothing behind.

    Parameters
    ----------
    engine
        The store.
    actor
        Must hold ``LOG_PATROLS``. A CSO may log only their own patrols (``actor.cso_id``);
        analysts and administrators may log anyone's.
    cso_id
        Whose patrol it was.
    patrol_date
        The day the shift started; not after today.
    shift_label
        How the shift is named, e.g. "Friday 18:00-22:00".
    starts_at, ends_at
        The shift band; ``ends_at`` before ``starts_at`` means the shift ran past midnight.
    ward_codes
        The wards the patrol was planned for (ONS codes).
    planned_dwell_min
        Minutes planned at each stop.
    visits
        Every planned stop (visited or not) and every unplanned stop visited. Arrival times
        must fall within the shift give or take an hour (``ARRIVAL_SLACK``).
    notes
        What happened, at most ``NOTES_MAX`` characters.
    plan_link
        The query string that reopens the planned patrol.
    now
        The time of logging (London wall-clock); default now.

    Returns
    -------
    int
        The new log's id.

    Raises
    ------
    NotAllowed
        The role may not log patrols, or a CSO logs someone else's patrol.
    InvalidInput
        A field or a stop is wrong; the message says which and what to change.
    """
    require(actor.role, Permission.LOG_PATROLS)
    if actor.role is Role.CSO and actor.cso_id != cso_id:
        if actor.cso_id is None:
            raise NotAllowed(
                "Your account is not linked to a CSO record, so it cannot log patrols. "
                "Ask an administrator to link it."
            )
        raise NotAllowed(
            "A CSO can log only their own patrols. Ask an analyst to log a colleague's patrol."
        )
    now = _london_wall_clock(now) if now is not None else now_in_london()
    if patrol_date > now.date():
        raise InvalidInput(
            f"The patrol date {short_date(patrol_date)} is in the future; "
            "log a patrol once it has started"
        )
    label = _text(shift_label, "shift name", SHIFT_LABEL_MAX, required=True)
    if starts_at == ends_at:
        raise InvalidInput(
            f"The shift starts and ends at {starts_at:%H:%M}; give the time it ended"
        )
    dwell = _minutes(planned_dwell_min, "planned time at each stop")
    if dwell is None:
        raise InvalidInput("The planned time at each stop is required")
    codes = list(dict.fromkeys(code.strip() for code in ward_codes if code and code.strip()))
    cleaned_notes = _text(notes, "note", NOTES_MAX, required=False)
    link = (plan_link or "").strip() or None
    rows = _clean_visits(visits, shift_bounds(patrol_date, starts_at, ends_at), now)

    with write_scope(engine) as session:
        cso = session.get(Cso, cso_id)
        if cso is None:
            raise InvalidInput(f"There is no CSO {cso_id}; pick the CSO from the list")
        require_borough_access(actor, cso.borough_code)
        patrol = PatrolLog(
            cso_id=cso_id,
            logged_by_user_id=actor.user_id or None,
            logged_by=actor.display_name,
            logged_at=now,
            patrol_date=patrol_date,
            shift_label=label,
            starts_at=starts_at,
            ends_at=ends_at,
            ward_codes=",".join(codes),
            planned_stops=sum(row["planned_order"] is not None for row in rows),
            planned_dwell_min=dwell,
            plan_link=link,
            notes=cleaned_notes,
        )
        session.add(patrol)
        session.flush()
        session.add_all(PatrolVisit(patrol_id=patrol.id, **row) for row in rows)
        patrol_id = patrol.id
    log.info("patrol %d logged for CSO %d (%d stops)", patrol_id, cso_id, len(rows))
    return patrol_id


def patrol_logs(
    engine: Engine,
    role: Role | None,
    *,
    cso_id: int | None = None,
    since: date | None = None,
    boroughs: Boroughs = None,
) -> pd.DataFrame:
    """Logged patrols with their planned and delivered dosage, newest first.

    Parameters
    ----------
    engine
        The store.
    role
        Must hold ``VIEW_CSOS`` (the logs name CSOs).
    cso_id
        Only this CSO's patrols; None for everyone's.
    since
        Only patrols on or after this date; None for all.
    boroughs
        Whose CSOs' patrols (see ``dashboard.store.scope``).

    Returns
    -------
    pandas.DataFrame
        One row per patrol, ``PATROL_LOG_COLUMNS``. ``visited_planned`` counts planned stops
        visited and ``unplanned_visits`` stops visited that were not planned.
        ``planned_minutes`` is ``planned_stops`` times the planned minutes per stop;
        ``delivered_minutes`` sums the minutes of every visited stop, a visit with no minutes
        recorded counting 0 and being counted in ``visits_without_dwell``. ``delivery_share`` is
        ``visited_planned / planned_stops``, NaN when nothing was planned. ``notes`` is "" when
        there are none.
    """
    require(role, Permission.VIEW_CSOS)
    visited = PatrolVisit.visited.is_(True)
    stats = (
        select(
            PatrolVisit.patrol_id,
            func.sum(
                case((and_(visited, PatrolVisit.planned_order.is_not(None)), 1), else_=0)
            ).label("visited_planned"),
            func.sum(case((and_(visited, PatrolVisit.planned_order.is_(None)), 1), else_=0)).label(
                "unplanned_visits"
            ),
            func.sum(case((visited, func.coalesce(PatrolVisit.dwell_min, 0.0)), else_=0.0)).label(
                "delivered_minutes"
            ),
            func.sum(case((and_(visited, PatrolVisit.dwell_min.is_(None)), 1), else_=0)).label(
                "visits_without_dwell"
            ),
        )
        .group_by(PatrolVisit.patrol_id)
        .subquery()
    )
    query = (
        select(
            PatrolLog.id,
            PatrolLog.cso_id,
            Cso.display_name,
            PatrolLog.patrol_date,
            PatrolLog.shift_label,
            PatrolLog.planned_stops,
            func.coalesce(stats.c.visited_planned, 0),
            func.coalesce(stats.c.unplanned_visits, 0),
            PatrolLog.planned_stops * PatrolLog.planned_dwell_min,
            func.coalesce(stats.c.delivered_minutes, 0.0),
            func.coalesce(stats.c.visits_without_dwell, 0),
            PatrolLog.logged_by,
            PatrolLog.logged_at,
            PatrolLog.notes,
        )
        .join(Cso, Cso.id == PatrolLog.cso_id)
        .outerjoin(stats, stats.c.patrol_id == PatrolLog.id)
        .order_by(
            PatrolLog.patrol_date.desc(),
            PatrolLog.starts_at.desc(),
            PatrolLog.logged_at.desc(),
            PatrolLog.id.desc(),
        )
    )
    if cso_id is not None:
        query = query.where(PatrolLog.cso_id == cso_id)
    if since is not None:
        query = query.where(PatrolLog.patrol_date >= since)
    with session_scope(engine) as session:
        rows = session.execute(query.where(in_boroughs(session, Cso.borough_code, boroughs))).all()
    columns = [column for column in PATROL_LOG_COLUMNS if column != "delivery_share"]
    frame = pd.DataFrame([tuple(row) for row in rows], columns=columns)
    frame = frame.astype(
        {
            "patrol_id": "int64",
            "cso_id": "int64",
            "planned_stops": "int64",
            "visited_planned": "int64",
            "unplanned_visits": "int64",
            "planned_minutes": "float64",
            "delivered_minutes": "float64",
            "visits_without_dwell": "int64",
        }
    )
    frame["notes"] = frame["notes"].fillna("")  # shown as text: no "None" or "nan"
    planned = frame["planned_stops"].where(frame["planned_stops"] > 0)
    frame["delivery_share"] = frame["visited_planned"] / planned
    return frame[PATROL_LOG_COLUMNS]


def patrol_visits(
    engine: Engine, role: Role | None, patrol_id: int, *, boroughs: Boroughs = None
) -> pd.DataFrame:
    """The stops of one logged patrol: planned ones in order, then unplanned ones as they came.

    Parameters
    ----------
    engine
        The store.
    role
        Must hold ``VIEW_CSOS``, as for ``patrol_logs``.
    patrol_id
        The log; an unknown id, or a log of another borough's CSO, gives an empty frame.
    boroughs
        Whose CSOs' patrols may be read (see ``dashboard.store.scope``).

    Returns
    -------
    pandas.DataFrame
        ``VISIT_COLUMNS``: ``planned_order`` is a nullable integer (missing for an unplanned
        stop), ``dwell_min`` NaN where no time was recorded.
    """
    require(role, Permission.VIEW_CSOS)
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                PatrolVisit.cell_id,
                PatrolVisit.planned_order,
                PatrolVisit.visited,
                PatrolVisit.arrived_at,
                PatrolVisit.dwell_min,
            )
            .join(PatrolLog, PatrolLog.id == PatrolVisit.patrol_id)
            .join(Cso, Cso.id == PatrolLog.cso_id)
            .where(
                PatrolVisit.patrol_id == patrol_id,
                in_boroughs(session, Cso.borough_code, boroughs),
            )
            .order_by(
                PatrolVisit.planned_order.is_(None),
                PatrolVisit.planned_order,
                PatrolVisit.arrived_at.is_(None),
                PatrolVisit.arrived_at,
                PatrolVisit.id,
            )
        ).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=VISIT_COLUMNS)
    return frame.astype(
        {
            "cell_id": "str",
            "planned_order": "Int64",
            "visited": "bool",
            "arrived_at": "datetime64[ns]",
            "dwell_min": "float64",
        }
    )


def dosage_by_cell(
    engine: Engine,
    role: Role | None,
    *,
    since: date | None = None,
    cso_id: int | None = None,
    boroughs: Boroughs = None,
) -> pd.DataFrame:
    """Planned against delivered dosage per hotspot cell, busiest first.

    Parameters
    ----------
    engine
        The store.
    role
        Must hold ``VIEW_CSOS``, as for ``patrol_logs``.
    since
        Only patrols on or after this date; None for all.
    cso_id
        Only this CSO's patrols; None for everyone's.
    boroughs
        Whose CSOs' patrols (see ``dashboard.store.scope``).

    Returns
    -------
    pandas.DataFrame
        ``DOSAGE_COLUMNS``, one row per cell in any logged patrol: ``planned_visits`` (the
        patrols that planned it), ``planned_minutes`` (their planned minutes per stop, summed),
        ``delivered_visits`` (the patrols that visited it, planned or not),
        ``delivered_minutes`` (the minutes recorded there, a visit without minutes counting 0)
        and ``visits_without_dwell`` (those visits). Sorted by delivered minutes, delivered
        visits and planned visits, most first, then by cell id.
    """
    require(role, Permission.VIEW_CSOS)
    visited = PatrolVisit.visited.is_(True)
    planned = PatrolVisit.planned_order.is_not(None)
    query = (
        select(
            PatrolVisit.cell_id,
            func.sum(case((planned, 1), else_=0)),
            func.sum(case((planned, PatrolLog.planned_dwell_min), else_=0.0)),
            func.sum(case((visited, 1), else_=0)),
            func.sum(case((visited, func.coalesce(PatrolVisit.dwell_min, 0.0)), else_=0.0)),
            func.sum(case((and_(visited, PatrolVisit.dwell_min.is_(None)), 1), else_=0)),
        )
        .join(PatrolLog, PatrolLog.id == PatrolVisit.patrol_id)
        .join(Cso, Cso.id == PatrolLog.cso_id)
        .group_by(PatrolVisit.cell_id)
    )
    if cso_id is not None:
        query = query.where(PatrolLog.cso_id == cso_id)
    if since is not None:
        query = query.where(PatrolLog.patrol_date >= since)
    with session_scope(engine) as session:
        rows = session.execute(query.where(in_boroughs(session, Cso.borough_code, boroughs))).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=DOSAGE_COLUMNS).astype(
        {
            "cell_id": "str",
            "planned_visits": "int64",
            "planned_minutes": "float64",
            "delivered_visits": "int64",
            "delivered_minutes": "float64",
            "visits_without_dwell": "int64",
        }
    )
    frame = frame.sort_values(
        ["delivered_minutes", "delivered_visits", "planned_visits", "cell_id"],
        ascending=[False, False, False, True],
        kind="stable",
    )
    return frame.reset_index(drop=True)
