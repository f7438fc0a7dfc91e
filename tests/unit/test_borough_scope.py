"""A store holding two boroughs: every read keeps to the boroughs asked for, every edit to the
actor's own, and a read that does not say whose data it wants is refused."""

from __future__ import annotations

from datetime import date, time

import pytest

from dashboard import patrol_log, plans, users
from dashboard.access import Principal, Role
from dashboard.errors import InvalidInput, NotAllowed
from dashboard.exports import published_bins
from dashboard.importers.log import list_imports, undo_import
from dashboard.store import queries
from dashboard.store.models import AssetKind
from dashboard.store.scope import stored_boroughs
from dashboard.store.session import make_engine
from tests.second_borough import LAMBETH, SECRET, WANDSWORTH

TODAY = date(2026, 11, 27)
WANDSWORTH_ONLY = (WANDSWORTH,)
LAMBETH_ONLY = (LAMBETH,)
BOTH = (LAMBETH, WANDSWORTH)


@pytest.fixture
def engine(london_db_url):
    store = make_engine(london_db_url)
    yield store
    store.dispose()


def wandsworth_analyst(engine) -> Principal:
    found = users.principal_for_email(engine, "demo-analyst@example.org", WANDSWORTH)
    assert found is not None
    assert found.borough_code == WANDSWORTH
    return found


def everything(engine, boroughs) -> queries.IncidentFilter:
    return queries.IncidentFilter(start=date(2000, 1, 1), end=TODAY, boroughs=boroughs)


def test_the_store_knows_both_boroughs(engine, lambeth):
    assert stored_boroughs(engine) == [LAMBETH, WANDSWORTH]


def test_incident_reads_keep_to_the_boroughs_asked_for(engine, lambeth):
    own = queries.incidents(engine, everything(engine, WANDSWORTH_ONLY), Role.ANALYST)
    theirs = queries.incidents(engine, everything(engine, LAMBETH_ONLY), Role.ANALYST)
    both = queries.incidents(engine, everything(engine, BOTH), Role.ANALYST)

    assert len(theirs) == lambeth.incidents > 0
    assert len(own) == lambeth.incidents  # the copy holds the same incidents, moved east
    assert len(both) == 2 * lambeth.incidents
    assert own["x_bng"].max() < theirs["x_bng"].min()  # different places, not the same rows
    assert set(theirs["ward_code"]) <= set(lambeth.ward_codes)
    assert queries.incident_span(engine, Role.ANALYST, boroughs=LAMBETH_ONLY) is not None
    sources = queries.incident_sources(engine, Role.ANALYST, boroughs=WANDSWORTH_ONLY)
    assert "second-borough" not in set(sources["source"])


def test_a_read_that_does_not_say_whose_data_is_refused_in_a_two_borough_store(engine, lambeth):
    with pytest.raises(NotAllowed, match="several boroughs"):
        queries.incidents(
            engine, queries.IncidentFilter(start=date(2000, 1, 1), end=TODAY), Role.ANALYST
        )
    with pytest.raises(NotAllowed, match="several boroughs"):
        plans.plans(engine, Role.ANALYST, TODAY)
    with pytest.raises(NotAllowed, match="No borough was chosen"):
        queries.csos(engine, Role.ANALYST, boroughs=())


def test_csos_assets_and_the_youth_bus_keep_to_their_borough(engine, lambeth):
    own_csos = queries.csos(engine, Role.ANALYST, boroughs=WANDSWORTH_ONLY)
    assert lambeth.cso_name not in set(own_csos["cso_name"])
    assert len(own_csos) == 7
    assert list(queries.csos(engine, Role.ANALYST, boroughs=LAMBETH_ONLY)["cso_name"]) == [
        lambeth.cso_name
    ]
    assignments = queries.current_cso_assignments(
        engine, TODAY, Role.ANALYST, boroughs=WANDSWORTH_ONLY
    )
    assert not set(assignments["ward_code"]) & set(lambeth.ward_codes)
    bins = queries.assets(engine, AssetKind.KNIFE_BIN, Role.ANALYST, boroughs=WANDSWORTH_ONLY)
    assert lambeth.bin_name not in set(bins["name"])
    assert len(bins) > 0
    schedule = queries.youth_bus_schedule(engine, Role.ANALYST, boroughs=WANDSWORTH_ONLY)
    assert not schedule["activity"].fillna("").str.contains(SECRET).any()
    assert len(queries.youth_bus_schedule(engine, Role.ANALYST, boroughs=LAMBETH_ONLY)) == 1


def test_plans_actions_histories_and_patrols_keep_to_their_borough(engine, lambeth):
    own_plans = plans.plans(engine, Role.ANALYST, TODAY, boroughs=WANDSWORTH_ONLY)
    assert lambeth.plan_title not in set(own_plans["title"])
    assert len(own_plans) > 0
    own_actions = plans.actions(engine, Role.ANALYST, TODAY, boroughs=WANDSWORTH_ONLY)
    assert lambeth.action_id not in set(own_actions["action_id"])
    with pytest.raises(InvalidInput, match=f"There is no plan {lambeth.plan_id}"):
        plans.plan_record(engine, Role.ANALYST, lambeth.plan_id, boroughs=WANDSWORTH_ONLY)
    assert plans.plan_record(engine, Role.ANALYST, lambeth.plan_id, boroughs=LAMBETH_ONLY)
    assert plans.plan_history(engine, Role.ANALYST, lambeth.plan_id, boroughs=WANDSWORTH_ONLY).empty
    assert plans.action_history(
        engine, Role.ANALYST, lambeth.action_id, boroughs=WANDSWORTH_ONLY
    ).empty
    assert len(plans.action_history(engine, Role.ANALYST, lambeth.action_id, boroughs=BOTH)) == 1
    action_trail, plan_trail = plans.update_trails(engine, Role.ANALYST, boroughs=WANDSWORTH_ONLY)
    assert lambeth.action_id not in set(action_trail["action_id"])
    assert lambeth.plan_id not in set(plan_trail["plan_id"])
    logs = patrol_log.patrol_logs(engine, Role.ANALYST, boroughs=WANDSWORTH_ONLY)
    assert lambeth.patrol_id not in set(logs["patrol_id"])
    assert patrol_log.patrol_visits(
        engine, Role.ANALYST, lambeth.patrol_id, boroughs=WANDSWORTH_ONLY
    ).empty
    assert len(patrol_log.patrol_visits(engine, Role.ANALYST, lambeth.patrol_id, boroughs=BOTH))
    assert (
        patrol_log.dosage_by_cell(engine, Role.ANALYST, boroughs=WANDSWORTH_ONLY)["cell_id"]
        .ne("545000_175000")
        .all()
    )


def test_another_boroughs_records_cannot_be_changed(engine, lambeth):
    analyst = wandsworth_analyst(engine)
    record = plans.plan_record(engine, Role.ANALYST, lambeth.plan_id, boroughs=LAMBETH_ONLY)
    with pytest.raises(NotAllowed, match="belongs to Lambeth; you work on Wandsworth"):
        plans.update_plan(engine, analyst, lambeth.plan_id, record.version, {"title": "Mine"})
    with pytest.raises(NotAllowed, match="belongs to Lambeth"):
        plans.add_action(
            engine,
            analyst,
            lambeth.plan_id,
            plans.ActionDraft(
                description="Take it over", vru_theme=1, owner_agency="Council", due_on=TODAY
            ),
        )
    with pytest.raises(NotAllowed, match="belongs to Lambeth"):
        plans.update_action(engine, analyst, lambeth.action_id, 1, {}, "a comment")
    with pytest.raises(NotAllowed, match="belongs to Lambeth"):
        patrol_log.log_patrol(
            engine,
            analyst,
            cso_id=lambeth.cso_id,
            patrol_date=TODAY,
            shift_label="Friday",
            starts_at=time(18, 0),
            ends_at=time(22, 0),
            ward_codes=[],
            planned_dwell_min=10,
            visits=[patrol_log.VisitRecord("545000_175000", 1, visited=False)],
        )
    unchanged = plans.plan_record(engine, Role.ANALYST, lambeth.plan_id, boroughs=LAMBETH_ONLY)
    assert (unchanged.title, unchanged.version) == (lambeth.plan_title, record.version)


def test_london_wide_access_may_change_any_borough(engine, lambeth):
    users.add_user(
        engine,
        "test",
        email="vru@london.example.org",
        display_name="VRU analyst",
        role=Role.ANALYST,
        london_wide=True,
    )
    vru = users.principal_for_email(engine, "vru@london.example.org", WANDSWORTH)
    record = plans.plan_record(engine, Role.ANALYST, lambeth.plan_id, boroughs=LAMBETH_ONLY)

    version = plans.update_plan(
        engine, vru, lambeth.plan_id, record.version, {}, "Reviewed at the VRU"
    )

    assert version == record.version + 1


def test_the_import_log_and_undo_keep_to_the_borough(engine, lambeth):
    own = list_imports(engine, Role.ANALYST, boroughs=WANDSWORTH_ONLY)
    assert lambeth.import_id not in set(own["import_id"])
    assert len(own) >= 1
    with pytest.raises(InvalidInput, match=f"There is no import {lambeth.import_id}"):
        undo_import(engine, Role.ANALYST, "someone", lambeth.import_id, boroughs=WANDSWORTH_ONLY)
    left = queries.incidents(engine, everything(engine, LAMBETH_ONLY), Role.ANALYST)
    assert len(left) == lambeth.incidents


def test_a_councils_public_map_shows_its_own_bins_only(engine, lambeth):
    own = [published.name for published in published_bins(engine, WANDSWORTH)]
    theirs = [published.name for published in published_bins(engine, LAMBETH)]

    assert own
    assert lambeth.bin_name not in own
    assert theirs == [lambeth.bin_name]
    with pytest.raises(NotAllowed, match="several boroughs"):
        published_bins(engine)
