"""A plan's evidence gathered from the demo store, and the same evidence as the PDF prints it."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import pandas as pd
import pytest

from dashboard import plan_evidence, plan_exports, plans
from dashboard.access import Role
from dashboard.dates import whole_months_window
from dashboard.geo import BNG, WGS84
from dashboard.store import queries
from dashboard.store.models import AssetKind
from dashboard.store.session import make_engine

TODAY = date(2026, 11, 27)
ROLE = Role.ANALYST
ALTON = 1  # "Alton Estate youth violence and exploitation", started 18 May 2026


@pytest.fixture(scope="module")
def store(demo_template_url):
    engine = make_engine(demo_template_url)
    span = queries.incident_span(engine, ROLE)
    incidents = queries.incidents(engine, queries.IncidentFilter(start=span[0], end=span[1]), ROLE)
    bins = queries.assets(engine, AssetKind.KNIFE_BIN, ROLE)
    stops = queries.assets(engine, AssetKind.YOUTH_BUS_STOP, ROLE)
    assets = gpd.GeoDataFrame(
        pd.concat(
            [bins.assign(kind="Knife amnesty bin"), stops.assign(kind="Youth Bus stop")],
            ignore_index=True,
        ),
        geometry="geometry",
        crs=WGS84,
    )
    yield engine, span, incidents, assets, bins, stops
    engine.dispose()


def alton_evidence(store, distance_m: float = 500.0):
    engine, span, incidents, assets, _bins, _stops = store
    record = plans.plan_record(engine, ROLE, ALTON)
    area_bng = gpd.GeoSeries([record.area_wgs84], crs=WGS84).to_crs(BNG).iloc[0]
    evidence = plan_evidence.gather_evidence(
        incidents,
        area_bng,
        ALTON,
        record.started_on,
        whole_months_window(span[0], span[1], 12),
        assets,
        plans.plans(engine, ROLE, TODAY).to_crs(BNG),
        distance_m,
    )
    return record, area_bng, evidence


def test_the_alton_estate_evidence_counts_what_lies_inside_the_area(store):
    _engine, _span, incidents, *_ = store
    record, area_bng, evidence = alton_evidence(store)

    window = incidents[
        incidents["occurred_on"].between(pd.Timestamp("2025-11-01"), pd.Timestamp("2026-10-31"))
    ]
    assert evidence.incidents_in_area == len(plan_evidence.incidents_in_area(window, area_bng))
    assert evidence.incidents_in_area > 0
    assert evidence.cells_bng["incident_count"].sum() == evidence.incidents_in_area
    assert evidence.monthly["incident_count"].sum() == evidence.incidents_in_area
    assert len(evidence.monthly) == 12  # Nov 2025 to Oct 2026
    assert evidence.cells_bng.union_all().area == pytest.approx(area_bng.area, rel=1e-6)
    assert evidence.weeks.plan_started_on == record.started_on == date(2026, 5, 18)
    assert evidence.overlapping.empty  # no other demo plan reaches Roehampton
    assert (evidence.assets["distance_m"] <= 500).all()
    assert evidence.data_note == ""  # the data go back three years


def test_the_evidence_reads_the_same_in_the_pdf(store):
    engine, span, incidents, _assets, bins, stops = store
    record, area_bng, evidence = alton_evidence(store)
    wards = queries.current_wards(engine, "E09000032", ROLE)
    assessment = plan_evidence.assess_area(
        incidents, area_bng, wards.to_crs(BNG).union_all(), record.started_on, span[1]
    )
    actions = plans.actions(engine, ROLE, TODAY, [ALTON])

    summary = plan_exports.evidence_summary(evidence, record, bins, stops, actions, assessment)

    assert summary.incidents_in_area == evidence.incidents_in_area
    assert summary.period_label == "Nov 2025 to Oct 2026"
    assert summary.comparison_lines[0].startswith("12 weeks before the plan (")
    assert summary.area_map_png.startswith(b"\x89PNG\r\n\x1a\n")
    assert summary.assessment_lines[0] == assessment.result.verdict  # plain, no Markdown
    assert not any(line.startswith("|") or "**" in line for line in summary.assessment_lines)
    on_page = plan_evidence.describe_assessment(assessment)
    assert on_page[0] == f"**{assessment.result.verdict}**"
    assert on_page[2].startswith("| | before | after | change |")
