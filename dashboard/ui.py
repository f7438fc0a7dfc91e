"""The one Streamlit-aware module: cached loaders keyed on the data version, and shared widgets."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from dashboard import hotspots
from dashboard.access import ROLE_LABELS, Permission, Principal, Role, require
from dashboard.config import Settings, load_settings
from dashboard.dates import whole_months_window
from dashboard.demo import DEMO_USERS, is_demo_loaded
from dashboard.errors import CommunitySafetyError, NotAllowed
from dashboard.geo import BNG
from dashboard.importers.validation import ROWS_SHOWN_ON_SCREEN, ImportReport
from dashboard.maps import MapStyle
from dashboard.store import queries
from dashboard.store.models import AssetKind
from dashboard.store.session import data_version as store_data_version
from dashboard.store.session import make_engine, require_current_schema
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
    return make_engine(database_url)


def engine() -> Engine:
    """The store's engine, checked to be at the newest schema (else the page says how to fix it)."""
    store = _engine(settings().database_url)
    try:
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
    return f"{url_digest}:{store_data_version(engine())}"


@st.cache_resource
def taxonomy() -> Taxonomy:
    """The serious-violence taxonomy (configuration, read once per process)."""
    return load_taxonomy()


def map_style() -> MapStyle:
    """Assets prefix and tiles for every map, from the settings."""
    config = settings()
    return MapStyle(config.static_url_prefix, config.tiles_url, config.tiles_attribution)


@st.cache_data(show_spinner=False)
def cached_wards(version: str, role: Role | None, borough_code: str) -> gpd.GeoDataFrame:
    """Current wards of the borough (EPSG:4326)."""
    return queries.current_wards(engine(), borough_code, role)


@st.cache_data(show_spinner=False)
def cached_assignments(version: str, role: Role | None, on: date) -> pd.DataFrame:
    """Current CSO per ward."""
    return queries.current_cso_assignments(engine(), on, role)


@st.cache_data(show_spinner=False)
def cached_assets(version: str, role: Role | None, kind: AssetKind) -> gpd.GeoDataFrame:
    """Assets of one kind (EPSG:4326)."""
    return queries.assets(engine(), kind, role)


@st.cache_data(show_spinner=False)
def cached_schedule(version: str, role: Role | None) -> pd.DataFrame:
    """The Youth Bus timetable."""
    return queries.youth_bus_schedule(engine(), role)


@st.cache_data(show_spinner=False)
def cached_incidents(
    version: str, role: Role | None, selection: queries.IncidentFilter
) -> pd.DataFrame:
    """Incidents matching ``selection`` as plain columns."""
    return queries.incidents(engine(), selection, role)


@st.cache_data(show_spinner=False)
def cached_grid(
    version: str, role: Role | None, borough_code: str, cell_size_m: float
) -> gpd.GeoDataFrame:
    """The borough's fixed hotspot grid (EPSG:27700)."""
    return hotspots.borough_grid(cached_wards(version, role, borough_code).to_crs(BNG), cell_size_m)


@st.cache_data(show_spinner=False)
def cached_cells(
    version: str,
    role: Role | None,
    borough_code: str,
    selection: queries.IncidentFilter,
    cell_size_m: float,
) -> gpd.GeoDataFrame:
    """The hotspot grid (EPSG:27700) with the count of incidents matching ``selection``."""
    frame = cached_incidents(version, role, selection)
    return hotspots.count_on_grid(
        cached_grid(version, role, borough_code, cell_size_m),
        frame["x_bng"].to_numpy(),
        frame["y_bng"].to_numpy(),
        cell_size_m,
    )


@st.cache_data(show_spinner=False)
def cached_span(version: str, role: Role | None) -> tuple[date, date] | None:
    """First and last incident dates."""
    return queries.incident_span(engine(), role)


@st.cache_data(show_spinner=False)
def cached_categories(version: str, role: Role | None) -> list[str]:
    """Categories present among the incidents."""
    return queries.incident_categories(engine(), role)


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
    version: str, role: Role | None, wards: gpd.GeoDataFrame
) -> queries.IncidentFilter | None:
    """Date range, category, flag and ward filters; None when there are no incidents at all."""
    span = cached_span(version, role)
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
    labels = category_labels(version, role)
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
    )


def category_labels(version: str, role: Role | None) -> dict[str, str]:
    """Readable label of every category present."""
    return {key: taxonomy().label(key) for key in cached_categories(version, role)}


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
    principal = principal_for_email(store, email)
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
    known = principal_for_email(engine(), email) if email else None
    if known is not None:
        return known
    name = str(st.user.get("name") or email or "unknown user")
    return Principal(user_id=0, email=email, display_name=name, role=None)


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
