"""The one Streamlit-aware module: cached loaders keyed on the data version, and shared widgets."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from dashboard import boroughs, hotspot_stats, hotspots, plans
from dashboard.access import ROLE_LABELS, Permission, Principal, Role, can, require
from dashboard.config import Settings, load_settings
from dashboard.dates import short_date, today_in_london, whole_months_window
from dashboard.demo import DEMO_USERS, is_demo_loaded
from dashboard.errors import CommunitySafetyError, EditConflict, NotAllowed
from dashboard.geo import BNG
from dashboard.importers.validation import ROWS_SHOWN_ON_SCREEN, ImportReport
from dashboard.maps import MapStyle
from dashboard.store import queries
from dashboard.store.models import AssetKind
from dashboard.store.scope import stored_boroughs
from dashboard.store.session import data_version as store_data_version
from dashboard.store.session import make_engine, reachable, require_current_schema
from dashboard.store.spatial import Place
from dashboard.taxonomy import Taxonomy, load_taxonomy
from dashboard.users import principal_for_email

log = logging.getLogger(__name__)

DEFAULT_LOOK_BACK_MONTHS = 12


def settings() -> Settings:
    """The app's settings; a configuration problem stops the page with a message on what to fix."""
    try:
        return load_settings()
    except CommunitySafetyError as error:
        st.error(str(error))
        st.stop()
        raise  # unreachable: st.stop() raises


@st.cache_resource
def _engine(database_url: str) -> Engine:
    # the engine only: it connects when asked, so an outage is never cached here, and its pool
    # is emptied when one is met (``reachable``)
    return make_engine(database_url)


def engine() -> Engine:
    """The store's engine, checked to be reachable and at the newest schema.

    Otherwise the page stops with a message saying what to do: an unreachable database is
    reported plainly (the technical reason goes to the log) and checked again on every run, so
    the page works again as soon as the database is back.
    """
    store = _engine(settings().database_url)
    try:
        with reachable(store):
            require_current_schema(store)
    except CommunitySafetyError as error:
        st.error(str(error))
        st.stop()
    return store


def data_version() -> str:
    """The key of every cached result: changes with each import, undo or migration.

    The database URL is part of it so that two stores never share cached results.
    """
    url_digest = hashlib.sha256(settings().database_url.encode()).hexdigest()[:12]
    store = engine()
    try:
        with reachable(store):  # the database may go between the check and this query
            version = store_data_version(store)
    except CommunitySafetyError as error:
        st.error(str(error))
        st.stop()
    return f"{url_digest}:{version}"


@st.cache_resource
def taxonomy() -> Taxonomy:
    """The serious-violence taxonomy (configuration, read once per process)."""
    return load_taxonomy()


def map_style() -> MapStyle:
    """Assets prefix and tiles for every map, from the settings."""
    config = settings()
    return MapStyle(config.static_url_prefix, config.tiles_url, config.tiles_attribution)


@st.cache_data(show_spinner=False)
def cached_stored_boroughs(version: str) -> list[str]:
    """The boroughs whose wards the store holds."""
    return stored_boroughs(engine())


@st.cache_data(show_spinner=False)
def cached_wards(version: str, role: Role | None, boroughs: tuple[str, ...]) -> gpd.GeoDataFrame:
    """Current wards of the boroughs (EPSG:4326)."""
    return queries.current_wards(engine(), boroughs, role)


@st.cache_data(show_spinner=False)
def cached_assignments(
    version: str, role: Role | None, on: date, boroughs: tuple[str, ...]
) -> pd.DataFrame:
    """Current CSO per ward."""
    return queries.current_cso_assignments(engine(), on, role, boroughs=boroughs)


@st.cache_data(show_spinner=False)
def cached_assets(
    version: str, role: Role | None, kind: AssetKind, boroughs: tuple[str, ...]
) -> gpd.GeoDataFrame:
    """Assets of one kind (EPSG:4326)."""
    return queries.assets(engine(), kind, role, boroughs=boroughs)


@st.cache_data(show_spinner=False)
def cached_schedule(version: str, role: Role | None, boroughs: tuple[str, ...]) -> pd.DataFrame:
    """The Youth Bus timetable."""
    return queries.youth_bus_schedule(engine(), role, boroughs=boroughs)


@st.cache_data(show_spinner=False)
def cached_incidents(
    version: str, role: Role | None, selection: queries.IncidentFilter
) -> pd.DataFrame:
    """Incidents matching ``selection`` as plain columns."""
    return queries.incidents(engine(), selection, role)


@st.cache_data(show_spinner=False)
def cached_grid(
    version: str, role: Role | None, boroughs: tuple[str, ...], cell_size_m: float
) -> gpd.GeoDataFrame:
    """The boroughs' fixed hotspot grid (EPSG:27700)."""
    return hotspots.borough_grid(cached_wards(version, role, boroughs).to_crs(BNG), cell_size_m)


@st.cache_data(show_spinner=False)
def cached_cells(
    version: str,
    role: Role | None,
    selection: queries.IncidentFilter,
    cell_size_m: float,
) -> gpd.GeoDataFrame:
    """The selection's boroughs' hotspot grid (EPSG:27700), counting incidents it matches."""
    frame = cached_incidents(version, role, selection)
    return hotspots.count_on_grid(
        cached_grid(version, role, selection_boroughs(selection), cell_size_m),
        frame["x_bng"].to_numpy(),
        frame["y_bng"].to_numpy(),
        cell_size_m,
    )


@st.cache_data(show_spinner=False)
def cached_significance(
    version: str,
    role: Role | None,
    selection: queries.IncidentFilter,
    cell_size_m: float,
) -> gpd.GeoDataFrame:
    """The same cells as ``cached_cells`` with their Gi* class, for the map's significance layer.

    No permutations: the classes use the analytical p-values, as on the Hotspots page.
    """
    return hotspot_stats.getis_ord_gi_star(
        cached_cells(version, role, selection, cell_size_m),
        permutations=0,
        min_count=settings().hotspot_min_count,
    )


@st.cache_data(show_spinner=False)
def cached_span(
    version: str, role: Role | None, boroughs: tuple[str, ...]
) -> tuple[date, date] | None:
    """First and last incident dates."""
    return queries.incident_span(engine(), role, boroughs=boroughs)


@st.cache_data(show_spinner=False)
def cached_categories(version: str, role: Role | None, boroughs: tuple[str, ...]) -> list[str]:
    """Categories present among the incidents."""
    return queries.incident_categories(engine(), role, boroughs=boroughs)


def selection_boroughs(selection: queries.IncidentFilter) -> tuple[str, ...]:
    """The boroughs a selection made on a page covers (pages always say)."""
    if selection.boroughs is None:
        raise NotAllowed("The page did not say whose incidents it shows")
    return selection.boroughs


@st.cache_data(show_spinner=False)
def cached_dataset_info(version: str) -> dict[str, str]:
    """Facts about the loaded data set."""
    return queries.dataset_info(engine())


def synthetic_banner(version: str) -> bool:
    """Say plainly when the data on screen are the synthetic demo; True when they are."""
    synthetic = cached_dataset_info(version).get("synthetic") == "true"
    if synthetic:
        st.info(
            "**Demo data.** Ward boundaries and the two knife-bin sites are real; incidents, CSOs, "
            "the Youth Bus schedule, populations and plans are synthetic.",
            icon=":material/science:",
        )
    return synthetic


def incident_filter_widgets(
    version: str, role: Role | None, wards: gpd.GeoDataFrame, boroughs: tuple[str, ...]
) -> queries.IncidentFilter | None:
    """Date range, category, flag and ward filters over ``boroughs``' incidents.

    None when they have no incidents at all.
    """
    span = cached_span(version, role, boroughs)
    if span is None:
        st.warning("No incidents are loaded yet. Import a police.uk file or the police extract.")
        return None
    first, last = span
    default_start, last = whole_months_window(first, last, DEFAULT_LOOK_BACK_MONTHS)
    first = first.replace(day=1)
    start = st.date_input(
        "From",
        value=default_start,
        min_value=first,
        max_value=last,
        key="date_from",
        format="DD/MM/YYYY",
        help=f"Incidents are held from {first:%d %b %Y} to {last:%d %b %Y}.",
    )
    end = st.date_input(
        "To", value=last, min_value=first, max_value=last, key="date_to", format="DD/MM/YYYY"
    )
    if start > end:
        st.warning("The start date is after the end date; showing the end date only.")
        start = end
    labels = category_labels(version, role, boroughs)
    categories = st.multiselect(
        "Serious-violence category",
        options=list(labels),
        format_func=labels.__getitem__,
        key="categories",
        placeholder="All categories",
    )
    knife_only = st.checkbox("Knife-enabled only", key="knife_only")
    domestic_abuse_only = st.checkbox("Domestic abuse only", key="domestic_abuse_only")
    under_25_only = st.checkbox(
        "Victim under 25 only",
        key="under_25_only",
        help="Only sources that record the victim's age can be counted; police.uk does not.",
    )
    names = dict(zip(wards["code"], wards["name"], strict=True))
    ward_codes = st.multiselect(
        "Wards",
        options=list(names),
        format_func=names.__getitem__,
        key="ward_codes",
        placeholder="All wards",
    )
    return queries.IncidentFilter(
        start=start,
        end=end,
        categories=tuple(sorted(categories)),
        ward_codes=tuple(sorted(ward_codes)),
        knife_only=knife_only,
        domestic_abuse_only=domestic_abuse_only,
        under_25_only=under_25_only,
        boroughs=boroughs,
    )


def category_labels(version: str, role: Role | None, boroughs: tuple[str, ...]) -> dict[str, str]:
    """Readable label of every category present in ``boroughs``' incidents."""
    return {key: taxonomy().label(key) for key in cached_categories(version, role, boroughs)}


COLUMN_HEADERS = {"rate_per_1000": "Per 1,000 residents", "population": "Residents", "cso": "CSO"}


def show_table(frame: pd.DataFrame) -> None:
    """An accessible HTML table (screen readers read it as a table) with readable headers.

    Underscores become spaces, rates show one decimal, missing values a hyphen.
    """
    headers = {
        column: COLUMN_HEADERS.get(column, column.replace("_", " ").capitalize())
        for column in frame.columns
    }
    formats = {
        headers[c]: "{:.5f}" if c.startswith("centre_") else "{:.1f}"
        for c in frame.columns
        if pd.api.types.is_float_dtype(frame[c])
    }
    styled = frame.rename(columns=headers).style.format(formats, na_rep="-", thousands=",")
    st.table(styled, hide_index=True)


# --- who is signed in ---------------------------------------------------------------------------

DEMO_USER_KEY = "demo_user_email"


def _demo_principal() -> Principal:
    """Demo mode: a demo user of any role, no password; only ever on the demo database."""
    store = engine()
    if not is_demo_loaded(store):
        st.error(
            "DEMO_MODE is on, but this database is not the demo database. Demo mode signs people "
            "in without a password, so it refuses to run on real data: unset DEMO_MODE, or point "
            "DATABASE_URL at a new file and run `python -m dashboard prepare`."
        )
        st.stop()
    email = st.session_state.get(DEMO_USER_KEY) or DEMO_USERS[0][0]  # the menu sets it
    principal = principal_for_email(store, email, settings().borough_code)
    if principal is None:  # the demo users are part of the demo data set
        st.error(f"The demo user {email} is missing; reload the demo database.")
        st.stop()
    return principal


def current_principal() -> Principal | None:
    """The signed-in person; None when nobody is signed in.

    Someone signed in with the identity provider but unknown to the store (or deactivated) comes
    back with no role, so they see only the "ask an administrator" page.
    """
    if settings().demo_mode:
        return _demo_principal()
    if not st.user.is_logged_in:
        return None
    email = str(st.user.get("email") or "")
    known = principal_for_email(engine(), email, settings().borough_code) if email else None
    if known is not None:
        return known
    name = str(st.user.get("name") or email or "unknown user")
    return Principal(
        user_id=0, email=email, display_name=name, role=None, borough_code=settings().borough_code
    )


def run_through_the_app() -> None:
    """Make sure a page runs inside ``streamlit_app.py``, never on its own.

    Until ``st.navigation`` is first called in a server process, Streamlit treats a ``pages/``
    folder the old way: the first request of a fresh server to a page's address would run that
    page alone, without the sign-in and navigation of the entry script. Recording that this app
    navigates with ``st.navigation`` and rerunning sends the request through the entry script.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def principal() -> Principal:
    """The signed-in person on a page (``streamlit_app.py`` has already let them in)."""
    run_through_the_app()
    found = current_principal()
    if found is None:
        st.error("You are signed out. Sign in again from the app's first page.")
        st.stop()
    return found


def require_page(permission: Permission) -> Principal:
    """Stop the page with a clear message unless the signed-in user's role allows it.

    Pages call this first, so a page opened by its address is refused like any other way in.
    """
    user = principal()
    try:
        require(user.role, permission)
    except NotAllowed as error:
        st.error(str(error))
        st.stop()
    return user


@dataclass(frozen=True)
class BoroughView:
    """Whose internal data a page shows: one borough, or all of London (``ALL_LONDON``)."""

    code: str  # an ONS code, or ALL_LONDON
    codes: tuple[str, ...]  # the boroughs it covers, for reads
    name: str  # e.g. "Wandsworth" or "All of London"


BOROUGH_CHOICE_KEY = "borough_choice"


def borough_view(
    user: Principal, *, all_of_london: bool = False, to_load: bool = False
) -> BoroughView:
    """The borough this page shows ``user``: their own, or the one a London-wide user picks.

    A London-wide user picks in the sidebar (the choice follows them from page to page); pages
    that work on one borough at a time (``all_of_london`` False) offer single boroughs only and
    show the user's own borough when "All of London" was picked elsewhere. ``to_load`` (the
    Data page) offers every London borough, so a new one's boundaries can be loaded. The choice
    is checked against the user's access here, on the server, whatever the browser sent.
    """
    version = data_version()
    stored = cached_stored_boroughs(version)
    if to_load:
        stored = sorted({*stored, *boroughs.LONDON_BOROUGHS})
    home = settings().borough_code
    choices = [
        code
        for code in boroughs.visible_boroughs(user, home, stored)
        if all_of_london or code != boroughs.ALL_LONDON
    ]
    chosen = st.session_state.get(BOROUGH_CHOICE_KEY)
    if chosen not in choices:
        chosen = choices[0]
    if len(choices) > 1:
        chosen = st.sidebar.selectbox(
            "Borough",
            options=choices,
            index=choices.index(chosen),
            format_func=boroughs.borough_name,
            key=f"borough_picker_{'london' if all_of_london else 'one'}",
            help="You have London-wide access: pick whose data to see.",
        )
        st.session_state[BOROUGH_CHOICE_KEY] = chosen
    try:
        boroughs.require_borough(user, home, stored, chosen)
    except NotAllowed as error:
        st.error(str(error))
        st.stop()
    return BoroughView(
        code=chosen,
        codes=boroughs.scope_codes(chosen, stored),
        name=settings().borough_name if chosen == home else boroughs.borough_name(chosen),
    )


def account_menu(user: Principal) -> None:
    """The sidebar's account block: who is signed in, as what, and how to leave or switch."""
    with st.sidebar:
        role = ROLE_LABELS.get(user.role, "no role") if user.role else "no role"
        st.caption(f"Signed in as **{user.display_name}** ({role})")
        if settings().demo_mode:
            emails = [email for email, _label in DEMO_USERS]
            labels = dict(DEMO_USERS)
            st.selectbox(
                "Demo user",
                options=emails,
                format_func=labels.__getitem__,
                key=DEMO_USER_KEY,
                help="Demo mode: switch to a demo user of another role. No password.",
                persist_state="session",  # the default forgets the choice on a page switch
            )
        elif st.button("Sign out", key="sign_out"):
            st.logout()


def demo_banner(user: Principal | None) -> None:
    """On every page in demo mode: say that nobody had to sign in (``user`` is who is in)."""
    if settings().demo_mode:
        who = user.display_name if user else "a demo user"
        st.warning(
            f"**Demo mode**: you are {who}, without a password, on the demo database. "
            "Never use demo mode with real data.",
            icon=":material/theater_comedy:",
        )


def auth_configured() -> bool:
    """True when ``.streamlit/secrets.toml`` has an ``[auth]`` section for ``st.login``."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:
        return False


def rejected_rows_table(report: ImportReport) -> pd.DataFrame:
    """The first rejected rows of an import report, as the Data page lists them."""
    shown = report.rejected[:ROWS_SHOWN_ON_SCREEN]
    return pd.DataFrame(
        {
            "file": [error.file_name for error in shown],
            "line": [error.line for error in shown],
            "column": [error.column for error in shown],
            "value": [error.value for error in shown],
            "reason": [error.reason for error in shown],
        }
    )


BYTES_PER_ROW_ESTIMATE = 110  # a police.uk row is about this long; only for the progress bar


def row_progress(bar: object, total_bytes: int) -> Callable[[int], None]:
    """A progress callback that moves ``bar`` (an ``st.progress``) by rows checked so far."""
    expected_rows = max(total_bytes / BYTES_PER_ROW_ESTIMATE, 1)

    def show(rows: int) -> None:
        bar.progress(min(rows / expected_rows, 1.0), text=f"Checked {rows:,} rows...")

    return show


NOT_IN_FILE = "(not in the file)"


def extract_mapping_editor(header: list[str], saved: list[str], mappings_dir: Path) -> dict | None:
    """Let the analyst say which of their columns is which of ours; returns the mapping.

    Starts from a saved mapping or from ``suggest_mapping``; it can be saved under a name for
    the next file and for ``python -m dashboard import extract --mapping NAME``.
    """
    from dashboard.importers.extract import (
        EXTRACT_COLUMNS,
        REQUIRED_COLUMNS,
        load_mapping,
        save_mapping,
        suggest_mapping,
    )

    st.markdown("**Match the file's columns to ours**")
    chosen = st.selectbox(
        "Start from a saved mapping",
        ["", *saved],
        key="mapping_saved",
        format_func=lambda name: name or "Suggested from the file's headers",
    )
    start = load_mapping(mappings_dir, chosen) if chosen else suggest_mapping(header)
    options = [NOT_IN_FILE, *header]
    mapping: dict[str, str] = {}
    columns = st.columns(3)
    for index, ours in enumerate(EXTRACT_COLUMNS):
        default = start.get(ours)
        picked = columns[index % 3].selectbox(
            f"{ours}{' (required)' if ours in REQUIRED_COLUMNS else ''}",
            options,
            index=options.index(default) if default in options else 0,
            key=f"map_{chosen}_{ours}",
        )
        if picked != NOT_IN_FILE:
            mapping[ours] = picked
    name = st.text_input("Save this mapping as (optional)", key="mapping_name")
    if st.button("Save mapping", key="save_mapping", disabled=not name.strip()):
        try:
            save_mapping(mappings_dir, name.strip(), mapping)
            st.success(f"Saved as {name.strip()}.")
        except CommunitySafetyError as error:
            st.error(str(error))
    return mapping


# --- plans and actions ---------------------------------------------------------------------------

FLASH_KEY = "flash_message"
MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$:=\"'&")


def plain(text: object) -> str:
    """``text`` a person typed, made safe for ``st.markdown``: shown as typed, never as markup.

    Every ASCII punctuation character is backslash-escaped (CommonMark shows it literally), so
    a title such as ``[x](javascript:...)`` or ``:red[...]`` is only text.
    """
    return "".join(f"\\{char}" if char in MARKDOWN_SPECIAL else char for char in str(text))


def flash(message: str) -> None:
    """Show ``message`` after the next rerun (a save is followed by a rerun to show fresh data)."""
    st.session_state[FLASH_KEY] = message


def show_flash() -> None:
    """Show and clear the message a save left for this run.

    The message's slot is there on every run, so what follows keeps its place: otherwise
    Streamlit would take the tabs and expanders below for new ones and reset them after a save.
    """
    slot = st.container()
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        slot.success(message, icon=":material/check_circle:")


FLAG_BADGE_COLOURS = {
    "Overdue": "red",
    "At risk": "orange",
    "Due soon": "blue",
    "Done": "green",
    "Dropped": "gray",
}
FLAG_ICONS = {"Overdue": ":material/error:", "At risk": ":material/warning:"}


def flag_badge(flag: str) -> None:
    """An action's flag as a badge: overdue red, at risk amber, each with an icon too."""
    st.badge(flag, color=FLAG_BADGE_COLOURS.get(flag, "gray"), icon=FLAG_ICONS.get(flag))


def styled_actions(frame: pd.DataFrame, columns: list[str]) -> object:
    """Actions as a Styler for ``st.dataframe``: overdue rows red, at-risk rows amber.

    The flag column says the same in words, so colour is never the only signal.
    """
    shading = {
        plans.FLAG_OVERDUE: "background-color: #fde0dd",
        plans.FLAG_AT_RISK: "background-color: #fff3cd",
    }

    def row_style(row: pd.Series) -> list[str]:
        return [shading.get(frame.loc[row.name, "flag"], "")] * len(row)

    return frame[columns].style.apply(row_style, axis=1)


ACTION_TABLE_COLUMNS = {
    "flag": st.column_config.TextColumn("Flag", help="Overdue and at-risk actions come first"),
    "due_on": st.column_config.DateColumn("Due", format="D MMM YYYY"),
    "description": st.column_config.TextColumn("Action", width="large"),
    "theme": st.column_config.TextColumn("VRU theme"),
    "owner_agency": st.column_config.TextColumn("Owner agency"),
    "owner_name": st.column_config.TextColumn("Owner"),
    "status_label": st.column_config.TextColumn("Status"),
    "plan_title": st.column_config.TextColumn("Plan"),
    "last_update_at": st.column_config.DatetimeColumn("Last update", format="D MMM YYYY HH:mm"),
}


def history_table(frame: pd.DataFrame, key: str) -> None:
    """A plan's or action's update trail, newest first, with readable times."""
    st.dataframe(
        frame,
        hide_index=True,
        key=key,
        column_config={
            "when": st.column_config.DatetimeColumn("When", format="D MMM YYYY, HH:mm"),
            "who": st.column_config.TextColumn("Who"),
            "what changed": st.column_config.TextColumn("What changed", width="large"),
            "comment": st.column_config.TextColumn("Comment", width="large"),
        },
    )


def actions_table(frame: pd.DataFrame, columns: list[str], key: str) -> None:
    """Actions as a table, overdue and at-risk rows shaded and flagged in words."""
    if frame.empty:
        st.caption("No actions.")
        return
    frame = frame.assign(owner_name=frame["owner_name"].fillna(""))
    st.dataframe(
        styled_actions(frame, columns),
        hide_index=True,
        column_config={c: ACTION_TABLE_COLUMNS[c] for c in columns if c in ACTION_TABLE_COLUMNS},
        key=key,
    )


def seen_snapshot(prefix: str, current: dict[str, object], version: int) -> dict[str, object]:
    """What the person saw when they opened a form: kept until they save or ask for the latest.

    An edit form must compare against, and send the version of, what was on the screen, not
    what the store holds by the time they press Save: otherwise someone else's change in
    between would be silently overwritten, or the submitted form would vanish.
    """
    key = f"{prefix}_seen"
    if key not in st.session_state:
        st.session_state[key] = {**current, "version": version}
    seen = st.session_state[key]
    if seen["version"] != version:
        st.info(
            "Someone else has changed this since you opened it. Your form still shows what you "
            "saw; saving it will show you their change first.",
            icon=":material/info:",
        )
        if st.button("Show the latest", key=f"{prefix}_latest"):
            forget_form(prefix)
            st.rerun()
    return seen


def forget_form(prefix: str) -> None:
    """Drop a form's snapshot and start its widgets afresh, so it shows the stored record.

    The widgets' keys carry a generation number that moves on here: deleting a key alone
    leaves the browser showing the old text (a saved comment would stay, to be saved twice).
    """
    generation = form_generation(prefix) + 1
    for key in [k for k in st.session_state if str(k).startswith(f"{prefix}_")]:
        del st.session_state[key]
    st.session_state[f"generation:{prefix}"] = generation


def form_generation(prefix: str) -> int:
    """How many times the form ``prefix`` has been started afresh (part of its widget keys)."""
    return int(st.session_state.get(f"generation:{prefix}", 0))


def action_update_form(
    action: pd.Series, actor: Principal, agencies: list[str], key_prefix: str
) -> None:
    """The form that updates one action, and what to do when someone else saved first.

    Partners see it only for their own agency's actions. The form keeps what the person saw
    (``seen_snapshot``); a conflict keeps their edit, shows what the other person changed, and
    offers to re-apply the edit on top.
    """
    if not plans.may_update_action(actor, action["owner_agency"]):
        st.caption(f"Only {plain(action['owner_agency'])}, CSOs and analysts update this action.")
        return
    runs_plans = can(actor.role, Permission.MANAGE_PLANS)
    action_id = int(action["action_id"])
    fields = ["status", "due_on", "owner_name", "owner_agency", "description", "vru_theme"]
    current = {name: action[name] for name in fields}
    current["owner_name"] = current["owner_name"] or ""
    current["status"] = plans.ActionStatus(current["status"])
    current["vru_theme"] = int(current["vru_theme"])
    seen = seen_snapshot(key_prefix, current, int(action["version"]))
    widget = f"{key_prefix}_g{form_generation(key_prefix)}"

    def save(version: int, edits: dict[str, object], comment: str) -> None:
        save_edit(
            lambda at, changes, why: plans.update_action(
                engine(), actor, action_id, at, changes, why
            ),
            version,
            edits,
            comment,
            key_prefix,
            "Update saved and added to the action's history.",
        )

    statuses = list(plans.ACTION_STATUS_LABELS)
    agency_choices = sorted({*agencies, str(seen["owner_agency"])}, key=str.casefold)
    with st.form(key=f"{widget}_form"):
        left, right = st.columns(2)
        changes: dict[str, object] = {
            "status": left.selectbox(
                "Status",
                statuses,
                index=statuses.index(seen["status"]),
                format_func=plans.ACTION_STATUS_LABELS.__getitem__,
                key=f"{widget}_status",
            ),
            "due_on": right.date_input(
                "Due", value=seen["due_on"], format="DD/MM/YYYY", key=f"{widget}_due_on"
            ),
            "owner_name": left.text_input(
                "Owner", value=seen["owner_name"], max_chars=120, key=f"{widget}_owner_name"
            ),
        }
        if runs_plans:
            changes["owner_agency"] = right.selectbox(
                "Owner agency",
                agency_choices,
                index=agency_choices.index(seen["owner_agency"]),
                key=f"{widget}_owner_agency",
            )
            changes["description"] = st.text_area(
                "Action", value=seen["description"], max_chars=2000, key=f"{widget}_text"
            )
            changes["vru_theme"] = st.selectbox(
                "VRU theme",
                list(plans.VRU_THEMES),
                index=list(plans.VRU_THEMES).index(seen["vru_theme"]),
                format_func=lambda n: f"{n} {plans.VRU_THEMES[n]}",
                key=f"{widget}_theme",
            )
        comment = st.text_area(
            "Comment (kept in the history)",
            max_chars=2000,
            help="Say what was done or why the status changed. Dropping an action needs one.",
            key=f"{widget}_comment",
        )
        saved = st.form_submit_button("Save update", type="primary")
    if saved:
        edits = {name: value for name, value in changes.items() if value != seen[name]}
        save(int(seen["version"]), edits, comment)
    conflict_panel(
        f"{key_prefix}_pending",
        lambda edit, version: save(version, edit["changes"], edit["comment"]),
    )


def save_edit(
    write: Callable[[int, dict[str, object], str], object],
    seen_version: int,
    changes: dict[str, object],
    comment: str,
    form_prefix: str,
    saved_message: str,
) -> None:
    """Run ``write(seen_version, changes, comment)``; a conflict keeps the edit for re-applying.

    On success the form is reset to the stored record and the page reruns with
    ``saved_message``; on a conflict the edit, the others' changes and the version to re-apply
    on are kept for ``conflict_panel`` (under ``<form_prefix>_pending``).
    """
    pending_key = f"{form_prefix}_pending"
    try:
        write(seen_version, changes, comment)
    except EditConflict as conflict:
        st.session_state[pending_key] = {
            "message": str(conflict),
            "changes_since": list(conflict.changes_since),
            "version": conflict.current_version,
            "changes": changes,
            "comment": comment,
        }
        st.rerun()
    except CommunitySafetyError as error:
        st.error(str(error))
        return
    forget_form(form_prefix)
    flash(saved_message)
    st.rerun()


def conflict_panel(pending_key: str, reapply: Callable[[dict, int], None]) -> None:
    """When a save met someone else's newer edit: what they changed, and re-apply or discard."""
    pending = st.session_state.get(pending_key)
    if not pending:
        return
    with st.container(border=True):
        st.warning(pending["message"], icon=":material/sync_problem:")
        for line in pending["changes_since"]:
            st.markdown(f"- {plain(line)}")
        mine = "; ".join(f"{name}: {value}" for name, value in pending["changes"].items())
        st.markdown(f"**Your changes:** {plain(mine or 'none')}")
        if pending["comment"]:
            st.markdown(f"**Your comment:** {plain(pending['comment'])}")
        again, drop = st.columns(2)
        if again.button("Re-apply my changes", key=f"{pending_key}_again", type="primary"):
            reapply(pending, pending["version"])
        if drop.button("Discard my changes", key=f"{pending_key}_drop"):
            st.session_state.pop(pending_key, None)
            st.rerun()


def plan_id_from_query(all_plans: pd.DataFrame) -> int | None:
    """The plan named by the address's ``?plan=`` (a link reopens the same plan), if it exists."""
    raw = st.query_params.get("plan")
    if raw is None:
        return None
    if raw.isdigit() and int(raw) in set(all_plans["plan_id"]):
        return int(raw)
    st.warning(f"There is no plan {plain(raw)}; showing all plans.")
    return None


def open_clicked_plan(clicked: dict | None) -> None:
    """Open the plan whose area was clicked on a map (its ``plan_id`` comes back from st_folium)."""
    feature = (clicked or {}).get("last_active_drawing") or {}
    plan_id = (feature.get("properties") or {}).get("plan_id")
    if plan_id is not None:
        st.switch_page("pages/plans.py", query_params={"plan": int(plan_id)})


@st.cache_data(show_spinner=False)
def cached_all_incidents(
    version: str, role: Role | None, boroughs: tuple[str, ...]
) -> pd.DataFrame:
    """Every incident of ``boroughs`` (plain columns), for evidence about an area at any time."""
    span = cached_span(version, role, boroughs)
    if span is None:
        return pd.DataFrame()
    return cached_incidents(
        version, role, queries.IncidentFilter(start=span[0], end=span[1], boroughs=boroughs)
    )


def plan_evidence_for(
    version: str,
    role: Role | None,
    boroughs: tuple[str, ...],
    record: plans.PlanRecord,
    all_plans: gpd.GeoDataFrame,
    look_back_months: int,
    distance_m: float,
) -> object | None:
    """The plan area's evidence (``plan_evidence.PlanEvidence``); None when no incidents exist."""
    from dashboard import plan_evidence

    span = cached_span(version, role, boroughs)
    if span is None:
        return None
    assets = asset_points(version, role, boroughs)
    area_bng = gpd.GeoSeries([record.area_wgs84], crs="EPSG:4326").to_crs(BNG).iloc[0]
    # only the area's incidents leave the store (on PostGIS the database finds them on its index)
    in_area = queries.IncidentFilter(
        start=span[0], end=span[1], place=Place.inside(area_bng), boroughs=boroughs
    )
    return plan_evidence.gather_evidence(
        cached_incidents(version, role, in_area),
        area_bng,
        record.plan_id,
        record.started_on,
        whole_months_window(span[0], span[1], look_back_months),
        assets,
        all_plans.to_crs(BNG),
        distance_m,
        data_start=span[0],
    )


def asset_points(version: str, role: Role | None, boroughs: tuple[str, ...]) -> gpd.GeoDataFrame:
    """Knife bins and Youth Bus stops of ``boroughs`` together (EPSG:4326), with their ``kind``."""
    assets = pd.concat(
        [
            cached_assets(version, role, AssetKind.KNIFE_BIN, boroughs).assign(
                kind="Knife amnesty bin"
            ),
            cached_assets(version, role, AssetKind.YOUTH_BUS_STOP, boroughs).assign(
                kind="Youth Bus stop"
            ),
        ],
        ignore_index=True,
    )
    return gpd.GeoDataFrame(assets, geometry="geometry", crs="EPSG:4326")


def add_action_form(plan_id: int, actor: Principal, agencies: list[str]) -> None:
    """The form that adds an action to a plan (a partner adds only their own agency's)."""
    runs_plans = can(actor.role, Permission.MANAGE_PLANS)
    choices = sorted({*agencies, *([actor.agency] if actor.agency else [])}, key=str.casefold)
    with st.form(key=f"add_action_{plan_id}", clear_on_submit=True):
        description = st.text_area("Action", max_chars=2000, placeholder="What will be done, where")
        left, right = st.columns(2)
        theme = left.selectbox(
            "VRU theme",
            list(plans.VRU_THEMES),
            format_func=lambda n: f"{n} {plans.VRU_THEMES[n]}",
        )
        due_on = right.date_input("Due", value=None, format="DD/MM/YYYY")
        if runs_plans:
            agency = left.selectbox("Owner agency", choices, index=None, accept_new_options=True)
        else:
            agency = actor.agency
            left.text_input("Owner agency", value=agency or "", disabled=True)
        owner_name = right.text_input("Owner (a person)", max_chars=120)
        comment = st.text_input("Comment (kept in the history)", max_chars=2000)
        added = st.form_submit_button("Add action", type="primary")
    if added:
        try:
            plans.add_action(
                engine(),
                actor,
                plan_id,
                plans.ActionDraft(
                    description=description,
                    vru_theme=theme,
                    owner_agency=agency or "",
                    due_on=due_on,  # type: ignore[arg-type]
                    owner_name=owner_name or None,
                ),
                comment,
            )
        except CommunitySafetyError as error:
            st.error(str(error))
            return
        flash("Action added.")
        st.rerun()


def plan_edit_form(record: plans.PlanRecord, actor: Principal, boroughs: tuple[str, ...]) -> None:
    """The form that edits a plan's fields, with the same snapshot and conflict handling."""
    cso_table = cached_csos(data_version(), actor.role, boroughs)
    cso_names = dict(zip(cso_table["cso_id"].tolist(), cso_table["cso_name"], strict=True))
    agencies = plans.known_agencies(engine(), actor.role, boroughs=boroughs)
    stages, statuses = list(plans.SARA_LABELS), list(plans.PLAN_STATUS_LABELS)
    prefix = f"plan_{record.plan_id}"
    current = {
        "title": record.title,
        "problem": record.problem,
        "sara_stage": record.sara_stage,
        "status": record.status,
        "lead_cso_id": record.lead_cso_id,
        "partners": record.partners,
        "started_on": record.started_on,
        "review_on": record.review_on,
        "outcome": record.outcome or "",
    }
    seen = seen_snapshot(prefix, current, record.version)
    widget = f"{prefix}_g{form_generation(prefix)}"

    def save(version: int, edits: dict[str, object], comment: str) -> None:
        save_edit(
            lambda at, changes, why: plans.update_plan(
                engine(), actor, record.plan_id, at, changes, why
            ),
            version,
            edits,
            comment,
            prefix,
            "Plan saved and added to its history.",
        )

    with st.form(key=f"{widget}_form"):
        fields: dict[str, object] = {
            "title": st.text_input(
                "Title", value=seen["title"], max_chars=plans.TITLE_MAX, key=f"{widget}_title"
            ),
            "problem": st.text_area(
                "Problem statement", value=seen["problem"], height=140, key=f"{widget}_problem"
            ),
        }
        left, right = st.columns(2)
        fields["sara_stage"] = left.selectbox(
            "SARA stage",
            stages,
            index=stages.index(seen["sara_stage"]),
            format_func=plans.SARA_LABELS.__getitem__,
            key=f"{widget}_stage",
        )
        fields["status"] = right.selectbox(
            "Status",
            statuses,
            index=statuses.index(seen["status"]),
            format_func=plans.PLAN_STATUS_LABELS.__getitem__,
            key=f"{widget}_status",
        )
        fields["lead_cso_id"] = left.selectbox(
            "Lead CSO",
            list(cso_names),
            index=list(cso_names).index(seen["lead_cso_id"]) if seen["lead_cso_id"] else None,
            format_func=cso_names.__getitem__,
            key=f"{widget}_lead",
        )
        fields["partners"] = tuple(
            right.multiselect(
                "Partner agencies",
                sorted({*agencies, *seen["partners"]}, key=str.casefold),
                default=list(seen["partners"]),
                accept_new_options=True,
                key=f"{widget}_partners",
            )
        )
        fields["started_on"] = left.date_input(
            "Started", value=seen["started_on"], format="DD/MM/YYYY", key=f"{widget}_start"
        )
        fields["review_on"] = right.date_input(
            "Review", value=seen["review_on"], format="DD/MM/YYYY", key=f"{widget}_review"
        )
        fields["outcome"] = st.text_area(
            "Outcome",
            value=seen["outcome"],
            help="Required to close the plan.",
            key=f"{widget}_outcome",
        )
        comment = st.text_input(
            "Comment (kept in the history)", max_chars=2000, key=f"{widget}_comment"
        )
        saved = st.form_submit_button("Save plan", type="primary")
    if saved:
        edits = {name: value for name, value in fields.items() if value != seen[name]}
        save(int(seen["version"]), edits, comment)
    conflict_panel(
        f"{prefix}_pending", lambda edit, version: save(version, edit["changes"], edit["comment"])
    )


def plan_summary_pdf(
    record: plans.PlanRecord,
    plan_actions: pd.DataFrame,
    evidence: object | None,
    assessment: object | None,
    synthetic: bool,
    version: str,
    role: Role | None,
    boroughs: tuple[str, ...],
) -> Callable[[], bytes]:
    """The plan's summary PDF for a task-and-finish meeting, built only when it is downloaded.

    Everything it needs is read now, in the page's run; the returned callable only draws.
    """
    from dashboard import plan_exports

    histories = {
        int(action_id): plans.action_history(engine(), role, int(action_id), boroughs=boroughs)
        for action_id in plan_actions["action_id"]
    }
    bins = cached_assets(version, role, AssetKind.KNIFE_BIN, boroughs)
    stops = cached_assets(version, role, AssetKind.YOUTH_BUS_STOP, boroughs)
    today = today_in_london()

    def build() -> bytes:
        summary = plan_exports.evidence_summary(
            evidence, record, bins, stops, plan_actions, assessment
        )
        return plan_exports.plan_summary_pdf(
            record, plan_actions, histories, summary, today=today, synthetic=synthetic
        )

    return build


@st.cache_data(show_spinner=False)
def cached_places(
    version: str, role: Role | None, boroughs: tuple[str, ...], places_file: str
) -> gpd.GeoDataFrame:
    """Named places in the boroughs that a plan area can be picked from (EPSG:4326)."""
    require(role, Permission.VIEW_PLANS)
    return plans.load_places(Path(places_file), cached_wards(version, role, boroughs))


@st.cache_data(show_spinner=False)
def cached_csos(version: str, role: Role | None, boroughs: tuple[str, ...]) -> pd.DataFrame:
    """The boroughs' CSOs (``cso_id``, ``cso_name``, ``contact``, ``active``)."""
    return queries.csos(engine(), role, boroughs=boroughs)


def recent_cells(version: str, role: Role | None, boroughs: tuple[str, ...]) -> gpd.GeoDataFrame:
    """The boroughs' hotspot cells (EPSG:27700) counted over the last 12 months of data."""
    span = cached_span(version, role, boroughs)
    if span is None:
        return cached_grid(version, role, boroughs, hotspots.DEFAULT_CELL_SIZE_M).assign(
            incident_count=0
        )
    start, end = whole_months_window(span[0], span[1], DEFAULT_LOOK_BACK_MONTHS)
    selection = queries.IncidentFilter(start=start, end=end, boroughs=boroughs)
    return cached_cells(version, role, selection, hotspots.DEFAULT_CELL_SIZE_M)


def cells_area(cells_bng: gpd.GeoDataFrame, cell_ids: list[str]) -> object | None:
    """The union of the chosen cells in EPSG:4326, or None when none are chosen."""
    chosen = cells_bng[cells_bng["cell_id"].isin(cell_ids)]
    if chosen.empty:
        return None
    return gpd.GeoSeries([chosen.geometry.union_all()], crs=BNG).to_crs("EPSG:4326").iloc[0]


def area_hectares(area_wgs84: object) -> float:
    """Size of an EPSG:4326 area in hectares."""
    return float(gpd.GeoSeries([area_wgs84], crs="EPSG:4326").to_crs(BNG).area.iloc[0]) / 10_000


def preselect_ward_from_query(ward_codes: set[str]) -> None:
    """Start a new plan on the ward the address names (``?ward=E05...``), once per address."""
    code = st.query_params.get("ward")
    if code in ward_codes and st.session_state.get("plan_ward_from_query") != code:
        st.session_state["plan_ward_from_query"] = code
        st.session_state["area_how"] = "ward"
        st.session_state["plan_ward"] = code


def take_map_click(how: str, map_key: str, cells_bng: gpd.GeoDataFrame | None) -> None:
    """Let a click on the area map pick the ward, or add or remove a cell, before the widgets draw.

    A click comes back from st_folium on the next run and stays there, so each click is acted
    on once (the last one handled is remembered).
    """
    feature = (st.session_state.get(map_key) or {}).get("last_active_drawing") or {}
    properties = feature.get("properties") or {}
    click = (how, properties.get("ward_code"), properties.get("cell_id"))
    if click == st.session_state.get(f"{map_key}_last_click"):
        return
    st.session_state[f"{map_key}_last_click"] = click
    if how == "ward" and properties.get("ward_code"):
        st.session_state["plan_ward"] = properties["ward_code"]
    elif how == "cells" and cells_bng is not None and properties.get("cell_id"):
        picked = list(st.session_state.get("plan_cells", []))
        cell_id = properties["cell_id"]
        if cell_id in set(cells_bng["cell_id"]):
            if cell_id in picked:
                picked.remove(cell_id)
            else:
                picked.append(cell_id)
            st.session_state["plan_cells"] = picked


def live_plans(
    role: Role | None, today: date, boroughs: tuple[str, ...]
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The boroughs' open and monitored plans (EPSG:4326) and their open actions, worst first."""
    listed = plans.actions(engine(), role, today, boroughs=boroughs)
    every = plans.plans(engine(), role, today, listed, boroughs=boroughs)
    live = every[every["status"] != plans.PlanStatus.CLOSED.value].reset_index(drop=True)
    open_statuses = [status.value for status in plans.OPEN_ACTION_STATUSES]
    listed = listed[listed["plan_id"].isin(live["plan_id"]) & listed["status"].isin(open_statuses)]
    return live, listed.reset_index(drop=True)


def open_actions_panel(
    live: gpd.GeoDataFrame, open_actions: pd.DataFrame, ward_codes: tuple[str, ...]
) -> None:
    """Beside the map: the open actions of the plans in the wards shown, worst flag first.

    With no ward filter every open or monitored plan counts. The map itself lists the actions
    of the plans in view as it moves; this list is the same for keyboard and screen readers.
    """
    st.subheader("Open actions")
    shown = live
    if ward_codes:
        wanted = set(ward_codes)
        shown = live[[bool(wanted & set(codes.split(","))) for codes in live["ward_codes"]]]
    where = "in the wards chosen" if ward_codes else "in the borough"
    if shown.empty:
        st.caption(f"No open plans {where}.")
        return
    listed = open_actions[open_actions["plan_id"].isin(shown["plan_id"])]
    overdue = int((listed["flag"] == plans.FLAG_OVERDUE).sum())
    at_risk = int((listed["flag"] == plans.FLAG_AT_RISK).sum())
    st.caption(
        f"{len(listed)} open actions of {len(shown)} plans {where}: {overdue} overdue, "
        f"{at_risk} at risk."
    )
    for plan in shown.itertuples():
        st.page_link(
            "pages/plans.py",
            label=plan.title,
            query_params={"plan": plan.plan_id},
            icon=":material/assignment:",
        )
        for action in listed[listed["plan_id"] == plan.plan_id].head(5).itertuples():
            marker = f"**{action.flag.upper()}** · " if plans.needs_attention(action.flag) else ""
            st.markdown(
                f"- {marker}{short_date(action.due_on)}: {plain(action.description[:90])} "
                f"({plain(action.owner_agency)})"
            )
