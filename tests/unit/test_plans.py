"""Plans and actions: the rules, the update trail, optimistic edits and who may do what."""

from __future__ import annotations

import json
from datetime import date

import pytest
import shapely
from shapely.geometry import Point
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from dashboard import plans
from dashboard.access import Principal, Role
from dashboard.dates import now_in_london
from dashboard.errors import EditConflict, InvalidInput, NotAllowed
from dashboard.geo import BNG, WGS84
from dashboard.plans import ActionDraft, PlanDraft, action_flag
from dashboard.store import queries
from dashboard.store.models import (
    ActionStatus,
    ActionUpdate,
    AppUser,
    Cso,
    PlanStatus,
    PlanWard,
    SaraStage,
    Ward,
)
from dashboard.store.session import make_engine, session_scope
from dashboard.users import principal_for_email

WANDSWORTH = "E09000032"
TODAY = date(2026, 11, 27)


@pytest.fixture
def engine(demo_db_url):
    store = make_engine(demo_db_url)
    yield store
    store.dispose()


@pytest.fixture
def wards(engine):
    return queries.current_wards(engine, WANDSWORTH, Role.ANALYST)


def person(engine, email: str) -> Principal:
    found = principal_for_email(engine, email)
    assert found is not None
    return found


def circle_wgs84(longitude: float, latitude: float, radius_m: float):
    import geopandas as gpd

    centre = gpd.GeoSeries([Point(longitude, latitude)], crs=WGS84).to_crs(BNG).iloc[0]
    return gpd.GeoSeries([centre.buffer(radius_m)], crs=BNG).to_crs(WGS84).iloc[0]


def draft(**overrides) -> PlanDraft:
    fields = {
        "title": "Northcote Road evening robbery",
        "problem": "Phone snatches from people leaving bars, Fridays 21:00-01:00.",
        "sara_stage": SaraStage.SCANNING,
        "started_on": date(2026, 11, 2),
        "area_wgs84": circle_wgs84(-0.1665, 51.4560, 200),
        "partners": ("Metropolitan Police", "Licensing", "metropolitan police"),
        "review_on": date(2027, 2, 1),
    }
    fields.update(overrides)
    return PlanDraft(**fields)


def police_action(**overrides) -> ActionDraft:
    fields = {
        "description": "Licensing visits to the four late bars",
        "vru_theme": 2,
        "owner_agency": "Metropolitan Police",
        "due_on": date(2026, 12, 18),
        "owner_name": "PC Dana Kerr",
    }
    fields.update(overrides)
    return ActionDraft(**fields)


# --- rules ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "due_on", "flag"),
    [
        ("on_track", date(2026, 11, 26), "Overdue"),  # due yesterday, still open
        ("at_risk", date(2026, 11, 1), "Overdue"),  # a missed date outranks "at risk"
        ("at_risk", date(2027, 3, 1), "At risk"),
        ("not_started", date(2026, 11, 27), "Due soon"),  # due today is not yet overdue
        ("on_track", date(2026, 12, 11), "Due soon"),  # 14 days away
        ("on_track", date(2026, 12, 12), "On track"),  # 15 days away
        ("not_started", date(2027, 1, 5), "Not started"),
        ("done", date(2026, 1, 1), "Done"),  # done long after its date is not overdue
        ("dropped", date(2026, 1, 1), "Dropped"),
    ],
)
def test_action_flag_on_27_november_2026(status, due_on, flag):
    assert action_flag(status, due_on, TODAY) == flag
    assert plans.is_overdue(status, due_on, TODAY) is (flag == "Overdue")
    assert plans.needs_attention(flag) is (flag in ("Overdue", "At risk"))


def test_field_checks_say_which_field_is_wrong():
    with pytest.raises(InvalidInput, match="The title is required"):
        plans.clean_plan_fields({"title": "   "})
    with pytest.raises(InvalidInput, match="The title is 201 characters; at most 200"):
        plans.clean_plan_fields({"title": "x" * 201})
    with pytest.raises(InvalidInput, match="VRU theme must be 1 to 8, got 9"):
        plans.clean_action_fields({"vru_theme": 9})
    with pytest.raises(InvalidInput, match="Unknown action status 'finished'"):
        plans.clean_action_fields({"status": "finished"})
    with pytest.raises(InvalidInput, match="needs both a longitude and a latitude"):
        plans.clean_action_fields({"longitude": -0.17})
    cleaned = plans.clean_plan_fields({"partners": ["Police", " police ", "", "Housing"]})
    assert cleaned["partners"] == "Police\nHousing"


def test_plan_status_rules():
    closed, opened = PlanStatus.CLOSED, PlanStatus.OPEN
    with pytest.raises(InvalidInput, match="outcome was before closing"):
        plans.check_plan_change({"status": opened}, {"status": closed, "outcome": None}, "")
    with pytest.raises(InvalidInput, match="Reopening a closed plan needs a comment"):
        plans.check_plan_change({"status": closed}, {"status": opened}, " ")
    with pytest.raises(InvalidInput, match="review date is before the start date"):
        plans.check_plan_change(
            {}, {"started_on": date(2026, 5, 1), "review_on": date(2026, 4, 30)}, ""
        )
    plans.check_plan_change({"status": closed}, {"status": opened}, "Robberies are back")


def test_action_status_rules():
    done, dropped, on_track = ActionStatus.DONE, ActionStatus.DROPPED, ActionStatus.ON_TRACK
    with pytest.raises(InvalidInput, match="Dropping an action needs a comment"):
        plans.check_action_change({"status": on_track}, {"status": dropped}, "")
    with pytest.raises(InvalidInput, match="Reopening an action marked done needs a comment"):
        plans.check_action_change({"status": done}, {"status": on_track}, "")
    plans.check_action_change({"status": on_track}, {"status": dropped}, "Bar closed for good")


def test_plan_areas_are_checked(wards):
    with pytest.raises(InvalidInput, match="must be a polygon or circle; got a point"):
        plans.check_plan_area(Point(-0.17, 51.46), wards)
    with pytest.raises(InvalidInput, match=r"The area is \d+ m²; a plan area must be at least 100"):
        plans.check_plan_area(circle_wgs84(-0.17, 51.46, 4), wards)
    with pytest.raises(InvalidInput, match="0% of the area is in the borough"):
        plans.check_plan_area(circle_wgs84(-0.05, 51.50, 300), wards)  # the City, not Wandsworth
    bow_tie = shapely.Polygon(
        [(-0.170, 51.460), (-0.165, 51.465), (-0.165, 51.460), (-0.170, 51.465)]
    )
    repaired = plans.check_plan_area(bow_tie, wards)  # self-crossing: repaired, not refused
    assert repaired.is_valid
    assert repaired.geom_type == "MultiPolygon"


def test_area_from_geojson_reads_features_and_refuses_what_is_not_a_polygon():
    square = {
        "type": "Polygon",
        "coordinates": [[[-0.17, 51.46], [-0.16, 51.46], [-0.16, 51.47], [-0.17, 51.46]]],
    }
    feature = json.dumps({"type": "Feature", "properties": {}, "geometry": square})
    assert plans.area_from_geojson(feature).geom_type == "Polygon"
    with pytest.raises(InvalidInput, match="holds no polygon"):
        plans.area_from_geojson(json.dumps({"type": "Point", "coordinates": [-0.17, 51.46]}))
    with pytest.raises(InvalidInput, match="not GeoJSON"):
        plans.area_from_geojson("Northcote Road")


# --- writing, history, permissions -------------------------------------------------------------


def test_an_analyst_opens_a_plan_covering_the_wards_under_its_area(engine, wards):
    analyst = person(engine, "demo-analyst@example.org")

    plan_id = plans.create_plan(engine, analyst, draft(), wards, WANDSWORTH)

    record = plans.plan_record(engine, Role.PARTNER, plan_id)
    assert record.title == "Northcote Road evening robbery"
    assert record.partners == ("Metropolitan Police", "Licensing")  # the duplicate went
    assert record.ward_names == ("Northcote",)
    assert 10 < record.area_ha < 14  # a 200 m circle is 12.6 ha
    assert (record.status, record.version) == (PlanStatus.OPEN, 1)
    history = plans.plan_history(engine, Role.PARTNER, plan_id)
    assert history[["who", "what changed"]].values.tolist() == [["Demo analyst", "created"]]


def test_partners_may_not_open_plans(engine, wards):
    partner = person(engine, "demo-partner@example.org")
    with pytest.raises(NotAllowed, match="does not allow manage plans"):
        plans.create_plan(engine, partner, draft(), wards, WANDSWORTH)


def test_each_change_is_appended_to_the_history_and_nothing_is_lost(engine, wards):
    cso = person(engine, "demo-cso@example.org")
    plan_id = plans.create_plan(engine, cso, draft(), wards, WANDSWORTH)
    action_id = plans.add_action(engine, cso, plan_id, police_action())

    version = plans.update_action(engine, cso, action_id, 1, {"status": "on_track"})
    version = plans.update_action(
        engine, cso, action_id, version, {"due_on": date(2027, 1, 15)}, "Bars asked for time"
    )
    version = plans.update_action(engine, cso, action_id, version, {}, "Two visits done")

    history = plans.action_history(engine, Role.PARTNER, action_id)
    assert history["what changed"].tolist() == [
        "comment",
        "due date: 18 Dec 2026 -> 15 Jan 2027",
        "status: Not started -> On track",
        "created",
    ]
    assert history["comment"].tolist() == ["Two visits done", "Bars asked for time", "", ""]
    assert set(history["who"]) == {"Demo CSO"}
    assert version == 4  # a comment is an update of its own, with its own version
    with session_scope(engine) as session:
        versions = session.scalars(
            select(ActionUpdate.version)
            .where(ActionUpdate.action_id == action_id)
            .order_by(ActionUpdate.id)
        ).all()
    assert versions == [1, 2, 3, 4]


def test_someone_who_opened_an_action_before_a_comment_is_shown_the_comment(engine, wards):
    cso = person(engine, "demo-cso@example.org")
    partner = person(engine, "demo-partner@example.org")
    plan_id = plans.create_plan(engine, cso, draft(), wards, WANDSWORTH)
    action_id = plans.add_action(engine, cso, plan_id, police_action())
    plans.update_action(engine, cso, action_id, 1, {}, "Licensing officer on leave")

    with pytest.raises(EditConflict) as conflict:
        plans.update_action(engine, partner, action_id, 1, {"status": "on_track"})

    assert conflict.value.current_version == 2
    assert conflict.value.changes_since[0].endswith('comment ("Licensing officer on leave")')


def test_a_stale_edit_is_refused_with_what_changed_and_can_be_reapplied(engine, wards):
    cso = person(engine, "demo-cso@example.org")
    partner = person(engine, "demo-partner@example.org")
    plan_id = plans.create_plan(engine, cso, draft(), wards, WANDSWORTH)
    action_id = plans.add_action(engine, cso, plan_id, police_action())
    # both open the action at version 1; the CSO saves first
    plans.update_action(engine, cso, action_id, 1, {"status": "at_risk"}, "No licensing officer")

    with pytest.raises(EditConflict) as conflict:
        plans.update_action(engine, partner, action_id, 1, {"owner_name": "PC Ade Bello"})

    assert conflict.value.current_version == 2
    (line,) = conflict.value.changes_since
    assert line.startswith("Demo CSO at ")
    assert line.endswith('status: Not started -> At risk ("No licensing officer")')
    stored = plans.actions(engine, Role.PARTNER, TODAY, [plan_id]).iloc[0]
    assert (stored["owner_name"], stored["status"]) == ("PC Dana Kerr", "at_risk")

    plans.update_action(engine, partner, action_id, 2, {"owner_name": "PC Ade Bello"})  # re-apply

    stored = plans.actions(engine, Role.PARTNER, TODAY, [plan_id]).iloc[0]
    assert (stored["owner_name"], stored["status"], stored["version"]) == (
        "PC Ade Bello",
        "at_risk",
        3,
    )


def test_a_stale_plan_edit_is_refused_too(engine, wards):
    analyst = person(engine, "demo-analyst@example.org")
    cso = person(engine, "demo-cso@example.org")
    plan_id = plans.create_plan(engine, analyst, draft(), wards, WANDSWORTH)
    plans.update_plan(engine, cso, plan_id, 1, {"sara_stage": "analysis"})

    with pytest.raises(EditConflict) as conflict:
        plans.update_plan(engine, analyst, plan_id, 1, {"title": "Northcote Road robbery"})

    assert conflict.value.changes_since[0].endswith("SARA stage: Scanning -> Analysis")
    assert plans.plan_record(engine, Role.CSO, plan_id).title == "Northcote Road evening robbery"


def test_partners_update_only_their_own_agencys_actions(engine, wards):
    cso = person(engine, "demo-cso@example.org")
    partner = person(engine, "demo-partner@example.org")  # Metropolitan Police
    plan_id = plans.create_plan(engine, cso, draft(), wards, WANDSWORTH)
    police = plans.add_action(engine, cso, plan_id, police_action())
    housing = plans.add_action(engine, cso, plan_id, police_action(owner_agency="Housing"))

    plans.update_action(engine, partner, police, 1, {"status": "on_track"}, "Started")
    with pytest.raises(NotAllowed, match="This action belongs to Housing"):
        plans.update_action(engine, partner, housing, 1, {"status": "on_track"})
    with pytest.raises(NotAllowed, match="cannot hand an action to another agency"):
        plans.update_action(engine, partner, police, 2, {"owner_agency": "Housing"})
    with pytest.raises(NotAllowed, match="belongs to Housing"):
        plans.add_action(engine, partner, plan_id, police_action(owner_agency="Housing"))
    own = plans.add_action(engine, partner, plan_id, police_action(description="Test purchase"))
    assert plans.may_update_action(partner, "metropolitan police")  # agency names ignore case
    assert own > housing


def test_closed_plans_take_no_new_actions_until_reopened(engine, wards):
    cso = person(engine, "demo-cso@example.org")
    plan_id = plans.create_plan(engine, cso, draft(), wards, WANDSWORTH)
    version = plans.update_plan(
        engine, cso, plan_id, 1, {"status": "closed", "outcome": "Robbery down by half"}
    )
    with pytest.raises(InvalidInput, match="is closed; reopen it before adding actions"):
        plans.add_action(engine, cso, plan_id, police_action())
    with pytest.raises(InvalidInput, match="Nothing changed"):
        plans.update_plan(engine, cso, plan_id, version, {"status": "closed"})

    plans.update_plan(engine, cso, plan_id, version, {"status": "open"}, "Robberies are back")

    assert plans.add_action(engine, cso, plan_id, police_action()) > 0


def test_my_actions_lists_the_agencys_open_actions_soonest_due_first(engine):
    partner = person(engine, "demo-partner@example.org")

    mine = plans.my_actions(engine, partner, TODAY)

    assert set(mine["owner_agency"]) == {"Metropolitan Police"}
    assert mine["due_on"].is_monotonic_increasing
    assert not set(mine["status"]) & {"done", "dropped"}
    everything = plans.my_actions(engine, partner, TODAY, include_closed=True)
    assert len(everything) > len(mine)


def test_demo_plans_come_with_their_actions_and_flags(engine):
    shown = plans.plans(engine, Role.PARTNER, TODAY)

    assert len(shown) == 4
    assert shown["total_actions"].sum() == 23
    assert (shown["overdue_actions"] > 0).any()  # the demo has overdue actions to show
    listed = plans.actions(engine, Role.PARTNER, TODAY)
    assert listed["flag"].iloc[0] == "Overdue"  # worst first
    assert listed.loc[listed["flag"] == "Overdue", "due_on"].max() < TODAY


# --- nothing is orphaned -------------------------------------------------------------------------


def test_a_cso_or_user_a_plan_refers_to_cannot_be_deleted(engine, wards):
    cso = person(engine, "demo-cso@example.org")
    plan_id = plans.create_plan(engine, cso, draft(lead_cso_id=1), wards, WANDSWORTH)
    with session_scope(engine) as session:  # a user with no history of their own but this action
        owner = AppUser(
            email="owner@example.org",
            display_name="PC Dana Kerr",
            role="partner",
            agency="Metropolitan Police",
            active=True,
            created_at=now_in_london(),
        )
        session.add(owner)
        session.flush()
        owner_id = owner.id
    plans.add_action(engine, cso, plan_id, police_action(owner_user_id=owner_id))

    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.execute(delete(Cso).where(Cso.id == 1))
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.execute(delete(AppUser).where(AppUser.id == owner_id))
    with session_scope(engine) as session:
        assert session.get(Cso, 1) is not None
        assert session.get(AppUser, owner_id) is not None
        assert plans.user_has_plan_history(session, owner_id)


def test_a_ward_a_plan_covers_cannot_be_removed(engine):
    alton_estate_wards = ["E05014017", "E05014030"]  # Roehampton, West Putney
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.execute(delete(Ward).where(Ward.code == alton_estate_wards[0]))
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Ward)) == 22
        assert session.scalar(select(func.count()).select_from(PlanWard)) == 10
        assert plans.plans_using_wards(session, alton_estate_wards, "2022") == [
            "Alton Estate youth violence and exploitation"
        ]


def test_an_action_without_an_owner_has_none_not_nan_beside_actions_with_one(engine, wards):
    cso = person(engine, "demo-cso@example.org")
    plan_id = plans.create_plan(engine, cso, draft(), wards, WANDSWORTH)
    plans.add_action(engine, cso, plan_id, police_action(owner_name=None))

    listed = plans.actions(engine, Role.PARTNER, TODAY)  # the demo's actions all name an owner

    ownerless = listed.loc[listed["plan_id"] == plan_id, "owner_name"].tolist()
    assert ownerless == [None]
    assert listed["owner_name"].notna().sum() == len(listed) - 1
