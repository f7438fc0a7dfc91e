"""The Patrol plan page's widgets and caches.

The whole plan is a ``PatrolRequest``, mirrored into the page's query parameters on every run,
so the address bar is always a link that reopens the same plan, removed and added stops
included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, time, timedelta

import geopandas as gpd
import pandas as pd
import streamlit as st

from dashboard import patrol, patrol_exports, patrol_log, patrol_plan, plans
from dashboard.access import Principal, Role
from dashboard.dates import now_in_london, today_in_london, whole_months_window
from dashboard.errors import CommunitySafetyError, InvalidInput
from dashboard.hotspots import DEFAULT_CELL_SIZE_M
from dashboard.patrol import HOT_CLASSES, WEEKDAY_NAMES
from dashboard.patrol_plan import PatrolPlan, PatrolRequest
from dashboard.store import queries
from dashboard.store.models import AssetKind
from dashboard.ui import (
    cached_assets,
    cached_grid,
    cached_incidents,
    cached_schedule,
    cached_span,
    cached_wards,
    engine,
    flash,
)

LOOK_BACK_CHOICES = (3, 6, 12, 24, 36)
CLOCKS = [time(hour, minute) for hour in range(24) for minute in (0, 30)]
ON_A_DATE, EVERY_WEEK = "On a date", "Every week"
_REMOVED, _ADDED, _BASE = "patrol_removed", "patrol_added", "patrol_base"
_SEEDED = "patrol_seeded"


def _clock(value: time) -> str:
    return f"{value:%H:%M}"


def _seed_from_link(
    known_wards: set[str], default_cso: int | None, assignments: pd.DataFrame
) -> None:
    """Fill the widgets once per session: from the link when there is one, else defaults."""
    if st.session_state.get(_SEEDED):
        return
    st.session_state[_SEEDED] = True
    params = {key: st.query_params[key] for key in st.query_params}
    request = None
    if "from" in params:
        try:
            request = patrol_plan.from_query_params(params, known_wards)
        except InvalidInput as error:
            st.error(f"This patrol link cannot be opened as it is: {error}. Starting afresh.")
    if request is None:
        wards = patrol_plan.wards_of_cso(assignments, default_cso) if default_cso else ()
        st.session_state.update(patrol_cso=default_cso, patrol_wards=list(wards))
        return
    st.session_state.update(
        patrol_cso=request.cso_id,
        patrol_wards=list(request.ward_codes),
        patrol_mode=ON_A_DATE if request.on_date else EVERY_WEEK,
        patrol_date=request.on_date or today_in_london(),
        patrol_days=list(request.weekdays),
        patrol_from=request.starts_at if request.starts_at in CLOCKS else time(18, 0),
        patrol_to=request.ends_at if request.ends_at in CLOCKS else time(22, 0),
        patrol_months=request.look_back_months,
        patrol_stops=request.stop_count,
        patrol_min=request.min_class,
        patrol_dwell=int(request.dwell_min),
        patrol_every=int(request.revisit_every_min),
    )
    st.session_state[_REMOVED] = list(request.removed)
    st.session_state[_ADDED] = list(request.added)
    st.session_state[_BASE] = replace(request, removed=(), added=())


def _widget_defaults() -> None:
    """Give every widget its starting value through Session State, never also as ``value``.

    Keys a link set are kept; keys Streamlit dropped after a visit to another page come back.
    """
    defaults = {
        "patrol_cso": None,
        "patrol_wards": [],
        "patrol_mode": ON_A_DATE,
        "patrol_date": today_in_london(),
        "patrol_days": [4],
        "patrol_from": time(18, 0),
        "patrol_to": time(22, 0),
        "patrol_months": 12,
        "patrol_stops": patrol_plan.DEFAULT_STOP_COUNT,
        "patrol_min": patrol.DEFAULT_MIN_CLASS,
        "patrol_dwell": int(patrol.DEFAULT_DWELL_MIN),
        "patrol_every": int(patrol.DEFAULT_REVISIT_EVERY_MIN),
    }
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


def _take_cso_wards(assignments: pd.DataFrame) -> None:
    cso_id = st.session_state.get("patrol_cso")
    if cso_id is not None:
        st.session_state["patrol_wards"] = list(patrol_plan.wards_of_cso(assignments, cso_id))


def request_widgets(
    user: Principal, wards: gpd.GeoDataFrame, assignments: pd.DataFrame, csos: pd.DataFrame
) -> PatrolRequest | None:
    """Whose patrol, where, when and how; None (with a message) until wards are picked."""
    names = dict(zip(wards["code"], wards["name"], strict=True))
    _seed_from_link(set(names), user.cso_id, assignments)
    _widget_defaults()
    cso_names = dict(zip(csos["cso_id"], csos["cso_name"], strict=True))
    cso_id = st.selectbox(
        "CSO",
        options=[None, *cso_names],
        format_func=lambda key: "Nobody: I pick wards" if key is None else cso_names[key],
        key="patrol_cso",
        on_change=_take_cso_wards,
        args=(assignments,),
        help="Picking a CSO picks their wards; you can change the wards below.",
    )
    ward_codes = st.multiselect(
        "Wards",
        options=list(names),
        format_func=names.__getitem__,
        key="patrol_wards",
        placeholder="Pick the wards to patrol",
    )
    mode = st.radio("When", [ON_A_DATE, EVERY_WEEK], horizontal=True, key="patrol_mode")
    on_date, weekdays = None, ()
    if mode == ON_A_DATE:
        on_date = st.date_input("Date", key="patrol_date", format="DD/MM/YYYY")
    else:
        weekdays = tuple(
            st.multiselect(
                "Weekdays",
                options=list(range(7)),
                format_func=WEEKDAY_NAMES.__getitem__,
                key="patrol_days",
            )
        )
    from_col, to_col = st.columns(2)
    starts_at = from_col.selectbox("From", CLOCKS, format_func=_clock, key="patrol_from")
    ends_at = to_col.selectbox(
        "To",
        CLOCKS,
        format_func=_clock,
        key="patrol_to",
        help="An end before the start runs past midnight (22:00 to 02:00).",
    )
    with st.expander("Plan settings"):
        months = st.select_slider(
            "Look back",
            options=LOOK_BACK_CHOICES,
            format_func=lambda value: f"{value} months",
            key="patrol_months",
            help="A single evening a week holds few incidents: a longer look-back finds more "
            "significant hotspots, a shorter one follows recent change.",
        )
        stop_count = st.slider("Stops", 1, 12, key="patrol_stops")
        min_class = st.selectbox(
            "Weakest hotspot to visit",
            options=list(HOT_CLASSES),
            key="patrol_min",
        )
        dwell = st.slider(
            "Minutes at each stop",
            5,
            20,
            key="patrol_dwell",
            help="About 10-15 minutes a visit deters for longest after the patrol leaves "
            "(Koper 1995).",
        )
        every = st.slider(
            "Revisit each hotspot every (minutes)",
            60,
            240,
            step=15,
            key="patrol_every",
            help="The Sacramento hot-spots trial visited each hotspot about every two hours.",
        )
    if not ward_codes:
        st.info("Pick a CSO or at least one ward to plan a patrol.")
        return None
    if mode == EVERY_WEEK and not weekdays:
        st.info("Pick at least one weekday.")
        return None
    if starts_at == ends_at:
        st.warning("The patrol starts and ends at the same time; give it an end time.")
        return None
    base = PatrolRequest(
        ward_codes=tuple(ward_codes),
        weekdays=weekdays,
        starts_at=starts_at,
        ends_at=ends_at,
        cso_id=cso_id,
        on_date=on_date,
        look_back_months=int(months),
        stop_count=int(stop_count),
        min_class=min_class,
        dwell_min=float(dwell),
        revisit_every_min=float(every),
    )
    if st.session_state.get(_BASE) != base:  # a new question: the old changes no longer apply
        st.session_state[_BASE] = base
        st.session_state[_REMOVED], st.session_state[_ADDED] = [], []
    request = replace(
        base,
        removed=tuple(st.session_state.get(_REMOVED, [])),
        added=tuple(st.session_state.get(_ADDED, [])),
    )
    st.query_params.from_dict(request.query_params())
    return request


def _change_stops(change: Callable[[PatrolRequest], PatrolRequest]) -> None:
    """Apply ``change`` to the current request and keep its removed and added cells."""
    current = replace(
        st.session_state[_BASE],
        removed=tuple(st.session_state[_REMOVED]),
        added=tuple(st.session_state[_ADDED]),
    )
    changed = change(current)
    st.session_state[_REMOVED] = list(changed.removed)
    st.session_state[_ADDED] = list(changed.added)


def remove_stop(cell_id: str) -> None:
    """Take a stop off the route (a button's callback)."""
    _change_stops(lambda request: request.without_stop(cell_id))


def add_stop(cell_id: str | None) -> None:
    """Put a cell on the route (a button's callback); nothing when no cell is chosen."""
    if cell_id:
        _change_stops(lambda request: request.with_stop(cell_id))


@st.cache_data(show_spinner=False, max_entries=32)
def cached_plan(
    version: str,
    role: Role | None,
    boroughs: tuple[str, ...],
    request: PatrolRequest,
    today: date,
) -> PatrolPlan | None:
    """The plan for ``request`` in ``boroughs``; None when no incidents are loaded."""
    span = cached_span(version, role, boroughs)
    if span is None:
        return None
    start, end = whole_months_window(span[0], span[1], request.look_back_months)
    incidents = cached_incidents(
        version, role, queries.IncidentFilter(start=start, end=end, boroughs=boroughs)
    )
    return patrol_plan.build(
        request,
        incidents,
        cached_grid(version, role, boroughs, DEFAULT_CELL_SIZE_M),
        bins_wgs84=cached_assets(version, role, AssetKind.KNIFE_BIN, boroughs),
        bus_stops_wgs84=cached_assets(version, role, AssetKind.YOUTH_BUS_STOP, boroughs),
        schedule=cached_schedule(version, role, boroughs),
        actions=plans.actions(engine(), role, today, boroughs=boroughs),
    )


def brief_pdf(
    plan: PatrolPlan,
    cso_name: str,
    synthetic: bool,
    version: str,
    role: Role | None,
    boroughs: tuple[str, ...],
) -> Callable[[], bytes]:
    """The printable brief, drawn only when it is downloaded."""
    wards = cached_wards(version, role, boroughs)
    today = today_in_london()

    def build() -> bytes:
        picture = patrol_exports.route_map_png(
            plan.route, wards, plan.assets, plan.actions, synthetic=synthetic
        )
        return patrol_exports.patrol_brief_pdf(
            plan.route,
            cso_name,
            plan.request.shift,
            plan.assets,
            plan.actions,
            today=today,
            map_png=picture,
            on_date=plan.request.on_date,
            synthetic=synthetic,
            notes=plan.notes_for_brief,
        )

    return build


def log_form(user: Principal, plan: PatrolPlan, link: str) -> None:
    """Record the patrol as done: which stops were visited, when, for how long."""
    request = plan.request
    if request.cso_id is None:
        st.caption("Pick the CSO whose patrol this is to log it.")
        return
    if user.cso_id is not None and user.cso_id != request.cso_id:
        st.caption("You can log your own patrols only.")
        return
    stops = plan.route.stops
    if stops.empty:
        st.caption("The route has no stops to log yet.")
        return
    day = request.on_date or today_in_london()
    default_minutes = [round(value) for value in stops["dwell_min"]]
    table = pd.DataFrame(
        {
            "Stop": stops["order"].astype(int).to_numpy(),
            "Cell": stops["cell_id"].to_numpy(),
            "Visited": True,
            "Arrived": [
                arrive if isinstance(arrive, time) else None for arrive in stops["arrive_at"]
            ],
            "Minutes": default_minutes,
        }
    )
    with st.form("patrol_log_form"):
        patrol_date = st.date_input("Date of the patrol", value=day, format="DD/MM/YYYY")
        edited = st.data_editor(
            table,
            hide_index=True,
            disabled=["Stop", "Cell"],
            column_config={
                "Arrived": st.column_config.TimeColumn("Arrived", format="HH:mm", step=60),
                "Minutes": st.column_config.NumberColumn("Minutes", min_value=0, max_value=240),
            },
            key="patrol_log_table",
        )
        notes = st.text_area("Notes", max_chars=patrol_log.NOTES_MAX, key="patrol_log_notes")
        submitted = st.form_submit_button("Log this patrol as done", icon=":material/task_alt:")
    if not submitted:
        return
    visits = []
    for row in edited.itertuples(index=False):
        visited = bool(row.Visited)
        arrived = row.Arrived if visited and isinstance(row.Arrived, time) else None
        when = None
        if arrived is not None:
            when = datetime.combine(patrol_date, arrived)
            if request.shift.crosses_midnight and arrived < request.starts_at:
                when = datetime.combine(patrol_date + timedelta(days=1), arrived)
        minutes = None if pd.isna(row.Minutes) or not visited else float(row.Minutes)
        visits.append(
            patrol_log.VisitRecord(
                cell_id=str(row.Cell),
                planned_order=int(row.Stop),
                visited=visited,
                arrived_at=when,
                dwell_min=minutes,
            )
        )
    try:
        patrol_id = patrol_log.log_patrol(
            engine(),
            user,
            cso_id=int(request.cso_id),
            patrol_date=patrol_date,
            shift_label=request.shift.label,
            starts_at=request.starts_at,
            ends_at=request.ends_at,
            ward_codes=request.ward_codes,
            planned_dwell_min=request.dwell_min,
            visits=visits,
            notes=notes or None,
            plan_link=link,
            now=now_in_london(),
        )
    except CommunitySafetyError as error:
        st.error(str(error))
        return
    visited = sum(visit.visited for visit in visits)
    flash(f"Patrol {patrol_id} logged: {visited} of {len(visits)} stops visited.")
    st.rerun()


WIDEST_LOOK_BACK = LOOK_BACK_CHOICES[-1]
WIDEST_CLASS = HOT_CLASSES[-1]


def _widen() -> None:
    st.session_state["patrol_months"] = WIDEST_LOOK_BACK
    st.session_state["patrol_min"] = WIDEST_CLASS


def widening_offer(
    version: str, role: Role | None, boroughs: tuple[str, ...], request: PatrolRequest, today: date
) -> None:
    """When the plan has no stops, say whether a longer look-back and the 90% class find some."""
    if (request.look_back_months, request.min_class) == (WIDEST_LOOK_BACK, WIDEST_CLASS):
        return
    wider = cached_plan(
        version,
        role,
        boroughs,
        replace(request, look_back_months=WIDEST_LOOK_BACK, min_class=WIDEST_CLASS),
        today,
    )
    found = 0 if wider is None else len(wider.route.stops)
    if not found:
        st.caption(
            f"Even {WIDEST_LOOK_BACK} months and the {WIDEST_CLASS} class find no hotspot in "
            "these wards for this window: pick stops by hand below, or another window."
        )
        return
    st.button(
        f"Look back {WIDEST_LOOK_BACK} months and include {WIDEST_CLASS}: "
        f"{found} stop{'s' if found != 1 else ''}",
        on_click=_widen,
        icon=":material/zoom_out_map:",
        key="patrol_widen",
    )
