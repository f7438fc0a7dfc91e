"""The plan pages for each role: list, one plan, opening a plan, updating actions, my actions."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from dashboard import PROJECT_ROOT, plans
from dashboard.dates import today_in_london
from dashboard.store.session import make_engine
from dashboard.users import principal_for_email
from tests.app.conftest import signed_in

CSO = "demo-cso@example.org"
PARTNER = "demo-partner@example.org"  # Metropolitan Police
ANALYST = "demo-analyst@example.org"


def on_page(email: str, page: str, **query: str) -> AppTest:
    at = signed_in(email)
    at.run()
    at.switch_page(page)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    return "\n".join(
        [m.value for m in at.markdown]
        + [c.value for c in at.caption]
        + [e.label for e in at.expander]
    )


def test_the_plans_list_shows_the_demo_plans_with_overdue_actions_flagged(seeded_db):
    at = on_page(PARTNER, "pages/plans.py")

    assert at.title[0].value == "Problem-solving plans"
    shown = texts(at)
    assert "lead CSO" in shown
    overdue = [m.value for m in at.markdown if m.value.startswith(":red-badge[")]
    assert overdue == [
        ":red-badge[:material/error: 2 overdue]",
        ":red-badge[:material/error: 2 overdue]",
        ":red-badge[:material/error: 1 overdue]",
    ]
    open_actions = at.dataframe[0].value
    assert open_actions["flag"].iloc[0] == "Overdue"  # worst first
    assert set(open_actions["flag"]) <= {
        "Overdue",
        "At risk",
        "Due soon",
        "Not started",
        "On track",
    }


def test_a_plan_opens_from_its_address_with_evidence_actions_and_history(seeded_db):
    at = on_page(PARTNER, "pages/plans.py", plan="1")

    assert at.title[0].value == "Alton Estate youth violence and exploitation"
    incidents = next(m for m in at.metric if m.label.startswith("Incidents in the area"))
    assert int(incidents.value.replace(",", "")) > 0
    assert "Roehampton" in texts(at)
    assert len(at.expander) == 6  # one per action
    history = [frame.value for frame in at.dataframe if "what changed" in frame.value.columns]
    assert history
    assert history[-1]["what changed"].iloc[-1] == "created"


def test_an_unknown_plan_in_the_address_falls_back_to_the_list(seeded_db):
    at = on_page(PARTNER, "pages/plans.py", plan="999")

    assert at.title[0].value == "Problem-solving plans"
    assert "There is no plan 999" in at.warning[0].value


def save_button(at: AppTest, form_key: str):
    return next(b for b in at.button if b.proto.form_id == form_key)


def test_a_partner_updates_their_agencys_action_and_sees_it_in_the_history(seeded_db):
    engine = make_engine(seeded_db)
    partner = principal_for_email(engine, PARTNER)
    listed = plans.actions(engine, partner.role, today_in_london())
    police = listed[
        (listed["owner_agency"] == "Metropolitan Police")
        & listed["status"].isin(["not_started", "on_track", "at_risk"])
    ].iloc[0]
    at = on_page(PARTNER, "pages/plans.py", plan=str(police["plan_id"]))
    prefix = f"action_{police['action_id']}_g0"

    at.selectbox(key=f"{prefix}_status").set_value(plans.ActionStatus.DONE)
    at.text_area(key=f"{prefix}_comment").input("Officers moved to the Broadway")
    save_button(at, f"{prefix}_form").click().run()

    assert not at.exception
    assert at.success[0].value == "Update saved and added to the action's history."
    history = plans.action_history(engine, partner.role, int(police["action_id"]))
    assert history["who"].iloc[0] == "Demo partner, Metropolitan Police"
    assert history["comment"].iloc[0] == "Officers moved to the Broadway"
    assert history["what changed"].iloc[0].endswith("-> Done")


def test_partners_cannot_open_plans_and_see_no_edit_form(seeded_db):
    at = on_page(PARTNER, "pages/plans.py", plan="1")
    assert "CSOs and analysts edit plans" in texts(at)
    pages = [link.proto.label for link in at.get("page_link")]
    assert "Open a new plan" not in pages

    direct = signed_in(PARTNER, script=str(PROJECT_ROOT / "pages/new_plan.py"))
    direct.run()
    assert "does not allow manage plans" in direct.error[0].value


def test_a_cso_opens_a_plan_for_a_ward_and_lands_on_it(seeded_db):
    at = on_page(CSO, "pages/new_plan.py")
    at.radio(key="area_how").set_value("ward").run()
    at.selectbox(key="plan_ward").set_value("E05014016").run()  # Northcote
    assert "Area chosen:" in at.success[0].value
    assert "Northcote" in at.success[0].value

    at.text_input[0].input("Northcote Road robbery")
    at.text_area[0].input("Phone snatches, Friday nights")
    next(b for b in at.button if b.label == "Open the plan").click().run()

    assert not at.exception
    assert at.title[0].value == "Northcote Road robbery"
    assert at.success[0].value == "Plan opened. Add its actions below."
    engine = make_engine(seeded_db)
    opened = plans.plans(engine, principal_for_email(engine, CSO).role, today_in_london())
    assert "Northcote Road robbery" in set(opened["title"])


def test_my_actions_lists_only_the_partners_agency_soonest_due_first(seeded_db):
    at = on_page(PARTNER, "pages/my_actions.py")

    listed = at.dataframe[0].value
    assert set(listed["owner_agency"]) == {"Metropolitan Police"}
    assert listed["due_on"].is_monotonic_increasing
    overdue = next(m for m in at.metric if m.label == "Overdue")
    assert int(overdue.value) == int((listed["flag"] == "Overdue").sum())


def test_a_stale_edit_shows_what_changed_and_can_be_reapplied(seeded_db):
    engine = make_engine(seeded_db)
    analyst = principal_for_email(engine, ANALYST)
    at = on_page(CSO, "pages/plans.py", plan="1")
    action = plans.actions(engine, analyst.role, today_in_london(), [1]).iloc[0]
    prefix = f"action_{action['action_id']}_g0"
    # someone else saves while the CSO has the form open
    plans.update_action(
        engine, analyst, int(action["action_id"]), int(action["version"]), {"owner_name": "Sam Ode"}
    )

    at.text_input(key=f"{prefix}_owner_name").input("Jo Park")
    save_button(at, f"{prefix}_form").click().run()

    assert "changed by someone else after you opened it" in at.warning[0].value
    theirs = [m.value for m in at.markdown if "Demo analyst at " in m.value]  # who, and when
    assert len(theirs) == 1
    assert "Sam Ode" in theirs[0]
    stored = plans.actions(engine, analyst.role, today_in_london(), [1]).iloc[0]
    assert stored["owner_name"] == "Sam Ode"  # nothing overwritten yet
    next(b for b in at.button if b.label == "Re-apply my changes").click().run()

    assert at.success[0].value == "Update saved and added to the action's history."
    history = plans.action_history(engine, analyst.role, int(action["action_id"]))
    assert history["what changed"].iloc[0] == "owner: Sam Ode -> Jo Park"
    assert history["who"].tolist()[:2] == ["Demo CSO", "Demo analyst"]


def test_a_plan_opened_from_a_ward_on_the_map_starts_on_that_ward(seeded_db):
    at = on_page(CSO, "pages/new_plan.py", ward="E05014016")  # the map links here

    assert at.radio(key="area_how").value == "ward"
    assert at.selectbox(key="plan_ward").value == "E05014016"
    assert at.success[0].value.startswith("Area chosen: ")
    assert at.success[0].value.endswith(" ha in Northcote.")


def test_a_ward_picked_on_the_map_offers_a_plan_for_it_to_those_who_run_plans(seeded_db):
    def links(email: str) -> list[str]:
        at = on_page(email, "pages/map.py")
        at.selectbox(key="ward_detail").set_value("E05014016").run()
        return [link.proto.label for link in at.get("page_link")]

    assert "Open a plan for Northcote" in links(CSO)
    assert "Open a plan for Northcote" not in links(PARTNER)


def test_an_action_closed_by_someone_else_stays_listed_so_the_save_meets_the_conflict(seeded_db):
    engine = make_engine(seeded_db)
    analyst = principal_for_email(engine, ANALYST)
    partner = principal_for_email(engine, PARTNER)
    at = on_page(PARTNER, "pages/my_actions.py")
    listed = plans.my_actions(engine, partner, today_in_london()).iloc[0]
    action_id, version = int(listed["action_id"]), int(listed["version"])
    # the analyst closes it while the partner has its form open
    plans.update_action(engine, analyst, action_id, version, {"status": "done"}, "Finished")
    prefix = f"mine_{action_id}_g0"

    at.text_input(key=f"{prefix}_owner_name").input("PC Jo Park")
    save_button(at, f"{prefix}_form").click().run()

    assert not at.exception, at.exception
    assert action_id not in set(plans.my_actions(engine, partner, today_in_london())["action_id"])
    assert len([w for w in at.warning if "changed by someone else" in w.value]) == 1
    assert any("Finished" in m.value and "Done" in m.value for m in at.markdown)  # theirs
    assert any("PC Jo Park" in m.value for m in at.markdown)  # what the partner tried to save
    history = plans.action_history(engine, analyst.role, action_id)
    assert "PC Jo Park" not in " ".join(history["what changed"])  # nothing saved over it
    next(b for b in at.button if b.label == "Discard my changes").click().run()
    assert not [w for w in at.warning if "changed by someone else" in w.value]
    assert at.session_state["mine_shown"] >= {action_id}


def test_my_actions_drops_closed_actions_on_a_new_visit(seeded_db):
    engine = make_engine(seeded_db)
    partner = principal_for_email(engine, PARTNER)
    listed = plans.my_actions(engine, partner, today_in_london()).iloc[0]
    plans.update_action(
        engine, partner, int(listed["action_id"]), int(listed["version"]), {"status": "done"}
    )

    at = on_page(PARTNER, "pages/my_actions.py")

    assert int(listed["action_id"]) not in set(at.session_state["mine_shown"])
