"""The Hotspots page's widgets and caches.

Every result is cached on the data version and the filter values. The big incident frame is
read only when a result is cold, so a warm rerun handles grid-sized tables only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import streamlit as st

from dashboard import hotspot_analysis, hotspot_stats, hotspots
from dashboard.access import Role
from dashboard.dates import whole_months_window
from dashboard.hotspot_analysis import HotspotOptions, When, WhenSelection
from dashboard.patrol import WEEKDAY_NAMES
from dashboard.store import queries
from dashboard.ui import (
    asset_points,
    cached_grid,
    cached_incidents,
    cached_span,
    cached_wards,
    settings,
)
from dashboard.ui import category_labels as _category_labels

LOOK_BACK_CHOICES = (3, 6, 12, 24, 36)
CELL_SIZE_M = hotspots.DEFAULT_CELL_SIZE_M
REPEAT_PLACES_SHOWN = 100  # a table to read, not a dump: the busiest places come first


@dataclass(frozen=True)
class Question:
    """What the Hotspots page is asked (hashable, so it keys the caches)."""

    start: date
    end: date
    categories: tuple[str, ...]
    when: When
    options: HotspotOptions
    ward_codes: tuple[str, ...]  # the area looked at; Gi* always runs on the whole borough
    walking_distance_m: float
    boroughs: tuple[str, ...]  # whose incidents, grid and assets (one borough on this page)


@st.cache_resource(show_spinner=False)
def harm_index(path: str) -> hotspot_stats.HarmIndex:
    """The configured harm index, read and checked once per file."""
    return hotspot_stats.load_harm_index(Path(path))


def _when_selection(version: str, role: Role | None, question: Question) -> WhenSelection:
    # keyed on what selects the incidents only, so changing the map's options reuses it
    return _selected(
        version,
        role,
        question.start,
        question.end,
        question.categories,
        question.when,
        question.boroughs,
    )


@st.cache_data(show_spinner=False, max_entries=4)
def _selected(
    version: str,
    role: Role | None,
    start: date,
    end: date,
    categories: tuple[str, ...],
    when: When,
    boroughs: tuple[str, ...],
) -> WhenSelection:
    selection = queries.IncidentFilter(
        start=start, end=end, categories=categories, boroughs=boroughs
    )
    return hotspot_analysis.select_when(cached_incidents(version, role, selection), when)


@st.cache_data(show_spinner=False, max_entries=32)
def when_counts(version: str, role: Role | None, question: Question) -> tuple[int, int, str]:
    """Incidents in the period, incidents kept by the day and time filters, and the note."""
    selection = _when_selection(version, role, question)
    return selection.total, len(selection.incidents), selection.note


@st.cache_data(show_spinner=False, max_entries=32)
def analysis(
    version: str, role: Role | None, question: Question
) -> hotspot_analysis.HotspotAnalysis:
    """Gi* and concentration for the question, over the whole borough's grid."""
    selection = _when_selection(version, role, question)
    index = harm_index(settings().harm_index_file) if question.options.harm_weighted else None
    return hotspot_analysis.analyse(
        selection.incidents,
        cached_grid(version, role, question.boroughs, CELL_SIZE_M),
        question.options,
        index,
        CELL_SIZE_M,
    )


def _area_incidents(version: str, role: Role | None, question: Question) -> pd.DataFrame:
    incidents = _when_selection(version, role, question).incidents
    if question.ward_codes:
        incidents = incidents[incidents["ward_code"].isin(question.ward_codes)]
    return incidents


@st.cache_data(show_spinner=False, max_entries=32)
def weekday_hours(version: str, role: Role | None, question: Question) -> pd.DataFrame:
    """Weekday by hour counts of the area's timed incidents."""
    return hotspot_analysis.weekday_hour_counts(_area_incidents(version, role, question))


@st.cache_data(show_spinner=False, max_entries=32)
def repeat_places(
    version: str, role: Role | None, question: Question, wards: dict[str, str]
) -> tuple[pd.DataFrame, int]:
    """The ``REPEAT_PLACES_SHOWN`` busiest repeat locations in the area, and how many there are."""
    places = hotspot_analysis.repeat_places(
        _area_incidents(version, role, question),
        analysis(version, role, question).cells,
        wards,
    )
    return places.head(REPEAT_PLACES_SHOWN), len(places)


@st.cache_data(show_spinner=False, max_entries=32)
def assets_against_need(
    version: str, role: Role | None, question: Question, wards: dict[str, str]
) -> hotspot_analysis.AssetsAgainstNeed:
    """Knife bins and Youth Bus stops against the incidents and hot cells near them."""
    result = hotspot_analysis.assets_against_need(
        analysis(version, role, question),
        _when_selection(version, role, question).incidents,
        asset_points(version, role, question.boroughs),
        wards,
        question.walking_distance_m,
    )
    if not question.ward_codes:
        return result
    names = {wards[code] for code in question.ward_codes if code in wards}
    return hotspot_analysis.AssetsAgainstNeed(
        result.assets, result.uncovered[result.uncovered["Ward"].isin(names)], result.distance_m
    )


@st.cache_data(show_spinner=False, max_entries=16)
def density(version: str, role: Role | None, question: Question) -> hotspot_analysis.DensityRaster:
    """The kernel density surface over the borough."""
    borough = cached_wards(version, role, question.boroughs).union_all()
    incidents = _when_selection(version, role, question).incidents
    weights = None
    if question.options.harm_weighted:
        weights = hotspot_stats.harm_weights(
            incidents["category"].astype(str), harm_index(settings().harm_index_file).weights
        ).to_numpy()
    return hotspot_analysis.density_raster(
        incidents, borough, question.options.bandwidth_m, weights
    )


def _clock_choices() -> list[time]:
    return [time(hour, minute) for hour in range(24) for minute in (0, 30)]


def question_widgets(
    version: str, role: Role | None, wards: gpd.GeoDataFrame, boroughs: tuple[str, ...]
) -> Question | None:
    """The page's filters on ``boroughs``' incidents; None (with a message) when none are loaded."""
    span = cached_span(version, role, boroughs)
    if span is None:
        st.warning("No incidents are loaded yet. Import a police.uk file or the police extract.")
        return None
    months = st.select_slider(
        "Look back",
        options=LOOK_BACK_CHOICES,
        value=12,
        format_func=lambda value: f"{value} months",
        key="hotspot_months",
        help="Whole calendar months up to the newest incident held.",
    )
    start, end = whole_months_window(span[0], span[1], months)
    st.caption(f"{start:%d %b %Y} to {end:%d %b %Y}")
    days = st.multiselect(
        "Weekdays",
        options=list(range(7)),
        format_func=WEEKDAY_NAMES.__getitem__,
        key="hotspot_days",
        placeholder="Every day",
    )
    band = st.toggle("Only a time band", key="hotspot_band")
    starts_at = ends_at = None
    if band:
        clocks = _clock_choices()
        from_col, to_col = st.columns(2)
        starts_at = from_col.selectbox(
            "From", clocks, index=36, format_func=lambda t: f"{t:%H:%M}", key="hotspot_from"
        )
        ends_at = to_col.selectbox(
            "To",
            clocks,
            index=44,
            format_func=lambda t: f"{t:%H:%M}",
            key="hotspot_to",
            help="An end before the start runs past midnight (22:00 to 02:00).",
        )
        if starts_at == ends_at:
            st.warning("The band starts and ends at the same time; showing the whole day.")
            starts_at = ends_at = None
    labels = _category_labels(version, role, boroughs)
    categories = st.multiselect(
        "Serious-violence category",
        options=list(labels),
        format_func=labels.__getitem__,
        key="hotspot_categories",
        placeholder="All categories",
    )
    names = dict(zip(wards["code"], wards["name"], strict=True))
    ward_codes = st.multiselect(
        "Area",
        options=list(names),
        format_func=names.__getitem__,
        key="hotspot_wards",
        placeholder="The whole borough",
        help="Zooms the map and narrows the tables and chart. Gi* always compares each cell "
        "with the whole borough.",
    )
    harm = st.toggle(
        "Weigh by harm",
        key="hotspot_harm",
        help="Weigh each incident by the harm index instead of counting it as 1.",
    )
    with st.expander("Statistics settings"):
        neighbourhood = st.radio(
            "Neighbours of a cell",
            options=list(hotspot_analysis.NEIGHBOURHOODS),
            format_func=hotspot_analysis.NEIGHBOURHOODS.__getitem__,
            key="hotspot_neighbours",
        )
        min_count = st.number_input(
            "Fewest incidents for a hotspot",
            min_value=0,
            max_value=100,
            value=settings().hotspot_min_count,
            key="hotspot_min_count",
            help="A cell with fewer incidents is never labelled a hotspot (HOTSPOT_MIN_COUNT).",
        )
        bandwidth = st.select_slider(
            "Density radius",
            options=(200, 300, 400, 500, 750, 1000),
            value=int(hotspot_analysis.DEFAULT_BANDWIDTH_M),
            format_func=lambda value: f"{value} m",
            key="hotspot_bandwidth",
        )
        walking = st.select_slider(
            "Walking distance to an asset",
            options=(200, 300, 400, 600, 800),
            value=int(hotspot_analysis.DEFAULT_WALKING_DISTANCE_M),
            format_func=lambda value: f"{value} m",
            key="hotspot_walking",
        )
    return Question(
        start=start,
        end=end,
        categories=tuple(sorted(categories)),
        when=When(tuple(days), starts_at, ends_at),
        options=HotspotOptions(
            harm_weighted=harm,
            neighbourhood=neighbourhood,
            min_count=int(min_count),
            bandwidth_m=float(bandwidth),
        ),
        ward_codes=tuple(sorted(ward_codes)),
        walking_distance_m=float(walking),
        boroughs=boroughs,
    )
