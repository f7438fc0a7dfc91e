"""One quarter's report for the Violence Strategic Delivery Group: what the page and the pack show.

``build_report`` turns what the store holds (``ReportInputs``) into a ``QuarterlyReport``: the
headline figures, wards, hotspots over eight quarters, trends, the action plan by VRU theme, and
the data's sources, with small numbers suppressed when asked. The Quarterly page renders it and
the pack prints it, so the two never disagree. ``read_inputs`` reads the store; the rest is
pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import Engine

from dashboard import action_plan, emerging_hotspots, hotspot_analysis, hotspots, plans, quarterly
from dashboard.access import Permission, Role, can, require
from dashboard.dates import month_end
from dashboard.geo import BNG
from dashboard.quarterly import Quarter
from dashboard.store import queries
from dashboard.taxonomy import Taxonomy, load_taxonomy

TREND_MONTHS = 36
HOTSPOT_QUARTERS = 8
DEFAULT_THRESHOLD = 10
DEFAULT_BASE = 5


@dataclass(frozen=True, eq=False)
class ReportInputs:
    """What a report is built from, as the store's queries return it.

    ``incidents`` is every incident held (``queries.incidents`` over the whole span, with
    ``ward_code``, ``x_bng``/``y_bng`` and ``occurred_at``); ``wards`` the current wards with
    ``population`` (EPSG:4326); ``grid_bng`` the borough's hotspot grid; ``actions`` and
    ``plans`` as ``plans.actions``/``plans.plans`` give them now, with their update trails;
    ``sources`` from ``queries.incident_sources``.
    """

    incidents: pd.DataFrame
    wards: gpd.GeoDataFrame
    grid_bng: gpd.GeoDataFrame
    actions: pd.DataFrame
    action_trail: pd.DataFrame
    plans: pd.DataFrame
    plan_trail: pd.DataFrame
    sources: pd.DataFrame
    taxonomy: Taxonomy
    synthetic: bool = False

    @property
    def data_span(self) -> tuple[date, date] | None:
        """First and last day the incidents cover; a month-only source covers its whole month."""
        if self.incidents.empty:
            return None
        days = pd.to_datetime(self.incidents["occurred_on"])
        first, last = days.min().date(), days.max().date()
        month_only = self.incidents["date_precision"].astype(str) == "month"
        if month_only.any():
            last = max(last, month_end(days[month_only].max().date()))
        return first, last


def quarters_available(inputs: ReportInputs) -> list[Quarter]:
    """The complete quarters the data covers, newest first."""
    span = inputs.data_span
    return [] if span is None else list(reversed(Quarter.of_span(*span)))


def default_quarter(inputs: ReportInputs, today: date) -> Quarter | None:
    """The last complete quarter, or the data's newest complete quarter when that is earlier."""
    available = quarters_available(inputs)
    if not available:
        return None
    latest = Quarter.last_complete(today)
    return next((quarter for quarter in available if quarter <= latest), available[-1])


@dataclass(frozen=True, eq=False)
class QuarterlyReport:
    """Everything the Quarterly page and the pack show for one quarter.

    Count columns hold text ("<10", rounded counts) when ``suppressed``; ``notes`` say where
    suppression or gaps in the data apply.
    """

    quarter: Quarter
    suppressed: bool
    threshold: int
    headline: pd.DataFrame
    suppressed_cells: int
    wards: pd.DataFrame
    ward_map: gpd.GeoDataFrame
    rate_classes: quarterly.RateClasses
    hotspot_patterns: pd.DataFrame
    hotspot_cells: gpd.GeoDataFrame
    pattern_counts: dict[str, int]
    hotspot_rules: str
    monthly: pd.DataFrame
    weekday_hour: pd.DataFrame | None
    themes: pd.DataFrame
    due_next: pd.DataFrame
    overdue: pd.DataFrame
    plans_opened: pd.DataFrame
    plans_closed: pd.DataFrame
    sources: pd.DataFrame
    synthetic: bool
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def title(self) -> str:
        """E.g. "2025/26 Q2 (July to September 2025, with an en dash)"."""
        return f"{self.quarter.label} ({self.quarter.months_label})"


def _monthly(incidents: pd.DataFrame, quarter: Quarter) -> pd.DataFrame:
    """Serious violence per month over ``TREND_MONTHS`` months ending with the quarter."""
    last = pd.Period(quarter.end, freq="M")
    months = pd.period_range(end=last, periods=TREND_MONTHS, freq="M")
    counts = pd.to_datetime(incidents["occurred_on"]).dt.to_period("M").value_counts()
    frame = pd.DataFrame(
        {
            "month": months.to_timestamp(),
            "incidents": [int(counts.get(month, 0)) for month in months],
        }
    )
    frame["in_quarter"] = (frame["month"].dt.date >= quarter.start) & (
        frame["month"].dt.date <= quarter.end
    )
    return frame


def _hotspots_over_time(
    incidents: pd.DataFrame, inputs: ReportInputs, quarter: Quarter, notes: list[str]
) -> tuple[pd.DataFrame, gpd.GeoDataFrame, dict[str, int]]:
    span = inputs.data_span
    quarters = [quarter.shifted(offset) for offset in range(1 - HOTSPOT_QUARTERS, 1)]
    covered = [q for q in quarters if span is not None and span[0] <= q.start]
    if len(covered) < HOTSPOT_QUARTERS:
        notes.append(
            f"Hotspots over time use the {len(covered)} quarters the data covers "
            f"(of {HOTSPOT_QUARTERS})."
        )
    empty = pd.DataFrame(columns=["cell_id", "pattern"])
    if len(covered) < emerging_hotspots.MIN_PERIODS:
        notes.append(
            f"Too few quarters of data for hotspots over time (need "
            f"{emerging_hotspots.MIN_PERIODS})."
        )
        return empty, inputs.grid_bng.iloc[0:0], {}
    periods = [(q.label, q.start, q.end) for q in covered]
    by_period = emerging_hotspots.gi_by_period(incidents, inputs.grid_bng, periods)
    classified = emerging_hotspots.classify_trends(by_period)
    shown = classified[classified["pattern"] != "never hot"]
    latest = by_period[by_period["period"] == quarter.label][["cell_id", "incident_count"]]
    shown = shown.merge(latest, on="cell_id", how="left")
    cells = inputs.grid_bng.merge(shown, on="cell_id", how="inner")
    return shown.reset_index(drop=True), cells, emerging_hotspots.pattern_summary(classified)


def build_report(
    inputs: ReportInputs,
    quarter: Quarter,
    *,
    suppress: bool,
    threshold: int = DEFAULT_THRESHOLD,
    base: int = DEFAULT_BASE,
) -> QuarterlyReport:
    """The report for ``quarter``; with ``suppress``, small counts are hidden as ONS does.

    Suppression (for partners, and the pack unless an analyst turns it off): counts under
    ``threshold`` show as "<10" and others are rounded to ``base``; comparisons that would give
    a hidden count away are blanked; ward rates of hidden counts are left out.
    """
    notes: list[str] = []
    span = inputs.data_span
    serious = inputs.incidents[quarterly.is_serious_violence(inputs.incidents, inputs.taxonomy)]
    headline = quarterly.headline_table(inputs.incidents, quarter, inputs.taxonomy, data_span=span)
    wards = quarterly.rates_by_ward(inputs.incidents, inputs.wards, quarter, inputs.taxonomy)
    suppressed_cells = 0
    if suppress:
        headline, suppressed_cells = quarterly.suppress_headline(headline, threshold, base)
        hidden = wards["count"] < threshold
        wards, ward_cells = quarterly.suppress_table(wards, ["count"], threshold, base)
        # rates from the rounded counts: a rate from the true count, times the population,
        # would give the true count back
        rounded = pd.to_numeric(wards["count"], errors="coerce").to_numpy(dtype=float)
        residents = pd.to_numeric(wards["population"], errors="coerce").to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            rates = np.where(residents > 0, rounded / residents * 1000, np.nan)
        wards["rate_per_1000"] = np.where(hidden.to_numpy(), np.nan, rates)
        suppressed_cells += ward_cells
        if suppressed_cells:
            notes.append(
                f'Counts under {threshold} show as "<{threshold}" and others are rounded to the '
                f"nearest {base} ({suppressed_cells} cells); changes that would reveal a hidden "
                "count are left out, and so are the rates of wards with hidden counts."
            )
        else:
            notes.append(
                f"Counts are rounded to the nearest {base}; no count was under {threshold}."
            )
    # classes from the rates shown: a legend's edge must not print a hidden ward's rate
    classes = quarterly.rate_classes(wards["rate_per_1000"])
    wards = wards.assign(rate_class=classes.classes.to_numpy())
    ward_map = inputs.wards[["code", "geometry"]].merge(wards, on="code", how="left")

    patterns, cells, pattern_counts = _hotspots_over_time(serious, inputs, quarter, notes)
    if suppress and len(patterns):
        shown, _ = quarterly.suppress_table(patterns, ["incident_count"], threshold, base)
        patterns = shown

    in_quarter = serious[
        (pd.to_datetime(serious["occurred_on"]).dt.date >= quarter.start)
        & (pd.to_datetime(serious["occurred_on"]).dt.date <= quarter.end)
    ]
    timed = in_quarter["occurred_at"].notna().sum()
    weekday_hour = hotspot_analysis.weekday_hour_counts(in_quarter) if timed else None
    if not timed and len(in_quarter):
        notes.append("No incident of the quarter has a time of day, so there is no weekday chart.")

    on_day = action_plan.actions_as_of(inputs.actions, inputs.action_trail, quarter.end)
    following = quarter.next()
    opened, closed = action_plan.plans_opened_and_closed(
        inputs.plans, inputs.plan_trail, quarter.start, quarter.end
    )
    overdue = on_day[on_day["flag"] == plans.FLAG_OVERDUE] if len(on_day) else on_day
    return QuarterlyReport(
        quarter=quarter,
        suppressed=suppress,
        threshold=threshold,
        headline=headline,
        suppressed_cells=suppressed_cells,
        wards=wards,
        ward_map=ward_map,
        rate_classes=classes,
        hotspot_patterns=patterns,
        hotspot_cells=cells,
        pattern_counts=pattern_counts,
        hotspot_rules=emerging_hotspots.RULES,
        monthly=_monthly(serious, quarter),
        weekday_hour=weekday_hour,
        themes=action_plan.theme_progress(on_day, quarter.end),
        due_next=action_plan.open_actions_due(on_day, following.start, following.end)
        if len(on_day)
        else on_day,
        overdue=overdue.sort_values("due_on").reset_index(drop=True),
        plans_opened=opened,
        plans_closed=closed,
        sources=inputs.sources,
        synthetic=inputs.synthetic,
        notes=tuple(notes),
    )


def must_suppress(role: Role | None, *, for_pack: bool, internal_pack: bool = False) -> bool:
    """Whether small numbers are hidden for ``role``: on the page, or in a pack.

    Partners always see suppressed figures. Others see the page unsuppressed; a pack is
    suppressed (it goes into the meeting papers) unless someone who may make an internal pack
    asks for one.
    """
    if not can(role, Permission.SEE_SMALL_NUMBERS):
        return True
    if for_pack:
        return not (internal_pack and can(role, Permission.MAKE_INTERNAL_PACK))
    return False


def read_inputs(
    engine: Engine, role: Role | None, borough_code: str, today: date, synthetic: bool
) -> ReportInputs:
    """Read everything a report on ``borough_code`` needs from the store, as ``role``."""
    require(role, Permission.VIEW_PLANS)
    boroughs = (borough_code,)
    span = queries.incident_span(engine, role, boroughs=boroughs)
    start, end = (today, today) if span is None else span
    incidents = queries.incidents(
        engine, queries.IncidentFilter(start=start, end=end, boroughs=boroughs), role
    )
    wards = queries.current_wards(engine, borough_code, role)
    all_actions = plans.actions(engine, role, today, boroughs=boroughs)
    action_trail, plan_trail = plans.update_trails(engine, role, boroughs=boroughs)
    return ReportInputs(
        incidents=incidents,
        wards=wards,
        grid_bng=hotspots.borough_grid(wards.to_crs(BNG), hotspots.DEFAULT_CELL_SIZE_M),
        actions=all_actions,
        action_trail=action_trail,
        plans=plans.plans(engine, role, today, all_actions, boroughs=boroughs),
        plan_trail=plan_trail,
        sources=queries.incident_sources(engine, role, boroughs=boroughs),
        taxonomy=load_taxonomy(),
        synthetic=synthetic,
    )
