from datetime import date

import pytest

from dashboard.access import Role
from dashboard.demo import is_demo_loaded, seed_demo
from dashboard.errors import DataError
from dashboard.store import queries
from dashboard.store.models import AssetKind
from dashboard.store.session import make_engine
from dashboard.taxonomy import load_taxonomy

WANDSWORTH = "E09000032"
ANALYST = Role.ANALYST


def test_the_demo_borough_loads_22_wards_7_csos_2_bins_and_three_years_of_incidents(demo_db_url):
    engine = make_engine(demo_db_url)

    wards = queries.current_wards(engine, WANDSWORTH, ANALYST)
    assignments = queries.current_cso_assignments(engine, date(2026, 11, 27), ANALYST)
    bins = queries.assets(engine, AssetKind.KNIFE_BIN, ANALYST)
    first, last = queries.incident_span(engine, ANALYST)

    assert len(wards) == 22
    assert wards["population"].notna().all()
    assert sorted(assignments["ward_code"]) == sorted(wards["code"])
    assert assignments["cso_id"].nunique() == 7
    assert sorted(bins["name"]) == [
        "Roehampton Library knife amnesty bin",
        "St George's Hospital knife amnesty bin",
    ]
    assert bins["public"].all()
    assert (first, last) == (date(2023, 11, 1), date(2026, 10, 31))
    assert is_demo_loaded(engine)


def test_every_demo_incident_is_in_a_ward_and_carries_its_category(demo_db_url):
    engine = make_engine(demo_db_url)
    everything = queries.IncidentFilter(date(2023, 11, 1), date(2026, 10, 31))

    incidents = queries.incidents(engine, everything, ANALYST)

    assert len(incidents) > 12_000
    assert incidents["ward_code"].notna().all()
    assert set(incidents["category"].unique()) >= {"abh", "gbh", "robbery", "rape", "homicide"}
    # the offence implies the flag: every bladed-article possession is knife-enabled
    assert incidents["knife"].sum() > 1000


def test_assignment_history_keeps_an_earlier_cso(demo_db_url):
    engine = make_engine(demo_db_url)

    earlier = queries.current_cso_assignments(engine, date(2022, 6, 1), ANALYST)
    now = queries.current_cso_assignments(engine, date(2026, 11, 27), ANALYST)

    moved = earlier.merge(now, on="ward_code", suffixes=("_then", "_now"))
    assert 1 <= (moved["cso_id_then"] != moved["cso_id_now"]).sum() < 22


def test_seeding_twice_changes_nothing(demo_db_url):
    engine = make_engine(demo_db_url)

    report = seed_demo(engine, WANDSWORTH, load_taxonomy())

    assert report.created is False
    assert len(queries.current_wards(engine, WANDSWORTH, ANALYST)) == 22


def test_the_demo_refuses_another_borough(empty_db_url):
    with pytest.raises(DataError, match="demo data set is for Wandsworth"):
        seed_demo(make_engine(empty_db_url), "E09000022", load_taxonomy())
