"""The Quarterly page's caches, quarter picker and tables.

Whether small numbers are hidden is decided here on the server from the signed-in role
(``quarterly_report.must_suppress``), never by what the page shows or hides.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pandas as pd
import streamlit as st

from dashboard import quarterly, quarterly_report
from dashboard.access import Role
from dashboard.dates import today_in_london
from dashboard.errors import InvalidInput
from dashboard.quarterly import Quarter
from dashboard.quarterly_report import QuarterlyReport, ReportInputs
from dashboard.ui import cached_dataset_info, engine, settings

QUARTER_PARAM = "quarter"


@st.cache_data(show_spinner=False, max_entries=2)
def cached_inputs(version: str, role: Role | None, borough_code: str, today: date) -> ReportInputs:
    """Everything a report is built from (every incident held, the plans and their trails)."""
    synthetic = cached_dataset_info(version).get("synthetic") == "true"
    return quarterly_report.read_inputs(engine(), role, borough_code, today, synthetic)


@st.cache_data(show_spinner=False, max_entries=16)
def cached_report(
    version: str,
    role: Role | None,
    borough_code: str,
    today: date,
    quarter: Quarter,
    suppress: bool,
    threshold: int,
) -> QuarterlyReport:
    """The report for ``quarter`` (suppressed or not, as decided by the caller's role)."""
    inputs = cached_inputs(version, role, borough_code, today)
    return quarterly_report.build_report(inputs, quarter, suppress=suppress, threshold=threshold)


def quarter_picker(inputs: ReportInputs, today: date) -> Quarter | None:
    """A quarter of the data, the last complete one first; mirrored into ``?quarter=``."""
    available = quarterly_report.quarters_available(inputs)
    if not available:
        st.warning("No complete quarter of incidents is loaded yet.")
        return None
    default = quarterly_report.default_quarter(inputs, today)
    asked = st.query_params.get(QUARTER_PARAM)
    if asked and "quarterly_quarter" not in st.session_state:
        try:
            chosen = Quarter.parse(asked)
        except InvalidInput as error:
            st.error(f"The link's quarter cannot be read: {error}")
        else:
            if chosen in available:
                default = chosen
            else:
                st.warning(f"The data does not cover {chosen.label}; showing {default.label}.")
    quarter = st.selectbox(
        "Quarter (UK financial year)",
        options=available,
        index=available.index(default),
        format_func=lambda q: f"{q.label} ({q.months_label})",
        key="quarterly_quarter",
        help="Q1 is April to June. The last complete quarter is chosen first.",
    )
    st.query_params[QUARTER_PARAM] = quarter.label.replace(" ", "-")
    return quarter


HEADLINE_HEADERS = {
    "label": "Measure",
    "this_quarter": "This quarter",
    "previous_quarter": "Previous quarter",
    "same_quarter_last_year": "Same quarter last year",
    "rolling_12_months": "Rolling 12 months",
    "previous_12_months": "Previous 12 months",
    "vs_previous_quarter_words": "Against the previous quarter",
    "vs_same_quarter_last_year_words": "Against the same quarter last year",
    "rolling_vs_previous_12_months_words": "Rolling 12 months against the 12 before",
    "note": "Note",
}


def headline_frame(report: QuarterlyReport) -> pd.DataFrame:
    """The headline table as people read it: counts, then each change in words."""
    table = report.headline
    columns = [column for column in HEADLINE_HEADERS if column in table.columns]
    shown = table[columns].rename(columns=HEADLINE_HEADERS)
    count_columns = [HEADLINE_HEADERS[c] for c in quarterly.PERIOD_COLUMNS if c in table.columns]
    # counts are whole numbers, "<10", or missing where the data does not cover the period
    shown[count_columns] = (
        shown[count_columns].astype(object).where(shown[count_columns].notna(), "not covered")
    )
    return shown.astype(str)


WARD_HEADERS = {
    "name": "Ward",
    "code": "ONS code",
    "population": "Residents",
    "count": "Serious violence",
    "rate_per_1000": "Per 1,000 residents",
    "rate_class": "Class",
}


def ward_frame(report: QuarterlyReport) -> pd.DataFrame:
    """Wards with their count and rate, highest rate first (sortable on the page)."""
    wards = report.wards.sort_values("rate_per_1000", ascending=False, na_position="last")
    return wards[list(WARD_HEADERS)].rename(columns=WARD_HEADERS)


PATTERN_HEADERS = {
    "cell_id": "Cell",
    "pattern": "Pattern",
    "hot_periods": "Quarters hot",
    "trend": "Trend",
    "trend_p": "Trend p",
    "incident_count": "Incidents this quarter",
}


def pattern_frame(report: QuarterlyReport) -> pd.DataFrame:
    """The cells that were ever hot, by pattern."""
    shown = report.hotspot_patterns
    if shown.empty:
        return pd.DataFrame(columns=list(PATTERN_HEADERS.values()))
    columns = [column for column in PATTERN_HEADERS if column in shown.columns]
    return shown[columns].rename(columns=PATTERN_HEADERS)


THEME_HEADERS = {
    "vru_theme": "Theme",
    "theme": "VRU theme",
    "rag": "RAG",
    "why": "Why",
    "actions": "Actions",
    "done": "Done",
    "on_track": "On track",
    "not_started": "Not started",
    "at_risk": "At risk",
    "overdue": "Overdue",
    "dropped": "Dropped",
}
RAG_STYLES = {
    "Red": "background-color: #f4cccc; font-weight: bold",
    "Amber": "background-color: #fce5cd; font-weight: bold",
    "Green": "background-color: #d9ead3",
    "No actions": "color: #666666",
}


def theme_table(report: QuarterlyReport) -> None:
    """The action plan by VRU theme, the RAG shaded and written out (it reads in greyscale)."""
    frame = report.themes[list(THEME_HEADERS)].rename(columns=THEME_HEADERS)
    styled = frame.style.map(lambda value: RAG_STYLES.get(value, ""), subset=["RAG"])
    st.dataframe(styled, hide_index=True, width="stretch")


ACTION_HEADERS = {
    "due_on": "Due",
    "flag": "Flag",
    "plan_title": "Plan",
    "description": "Action",
    "theme": "VRU theme",
    "owner_agency": "Owner",
}


def action_frame(actions: pd.DataFrame) -> pd.DataFrame:
    """Actions as the Quarterly page lists them."""
    if actions.empty:
        return pd.DataFrame(columns=list(ACTION_HEADERS.values()))
    return actions[list(ACTION_HEADERS)].rename(columns=ACTION_HEADERS)


def pack_file(
    report: Callable[[], QuarterlyReport], kind: str, borough_name: str
) -> Callable[[], bytes]:
    """The borough's pack as a PDF (``kind`` "pdf") or its tables as a workbook ("xlsx").

    Built only when downloaded, from ``report()``: the pack's report is often not the one on
    screen (an analyst sees exact figures, the pack is suppressed), and building it is seconds
    of work nobody waits for until they download. The drawing libraries load then too.
    """
    config = settings()
    generated = today_in_london()

    def build() -> bytes:
        from dashboard import quarterly_pack

        pack_report = report()
        if kind == "pdf":
            return quarterly_pack.pack_pdf(
                pack_report,
                borough_name=borough_name,
                generated_on=generated,
                marking=config.protective_marking,
            )
        return quarterly_pack.pack_workbook(
            pack_report,
            marking=config.protective_marking,
            generated_on=generated,
            borough_name=borough_name,
        )

    return build
