import pandas as pd
from streamlit.testing.v1 import AppTest

from dashboard.store.session import make_engine
from dashboard.users import add_user, change_user, list_users, principal_for_email
from tests.app.conftest import signed_in

ADMIN, CSO, PARTNER = "demo-admin@example.org", "demo-cso@example.org", "demo-partner@example.org"
WANDSWORTH, LAMBETH = "E09000032", "E09000022"


def give_london_wide_access(store_url: str, email: str) -> None:
    """As the operator at the terminal (of no borough), who may give London-wide access."""
    engine = make_engine(store_url)
    operator = principal_for_email(engine, ADMIN)
    user = principal_for_email(engine, email)
    users = list_users(engine, operator)
    version = int(users.loc[users["user_id"] == user.user_id, "version"].iloc[0])
    change_user(engine, operator, user.user_id, version, london_wide=True)
    engine.dispose()


def admin_on_users_page() -> AppTest:
    at = signed_in(ADMIN)
    at.run()
    at.switch_page("pages/users.py").run()
    assert not at.exception
    return at


def edit_key(user_id: int, field: str, generation: int = 0) -> str:
    """The key of a widget of the change form for ``user_id``; a save or reload starts anew."""
    return f"edit_user_{user_id}_g{generation}_{field}"


def row_of(at: AppTest, email: str) -> pd.Series:
    users = at.table[0].value
    return users[users["Email"] == email].iloc[0]


def test_an_admin_adds_a_partner_who_then_appears_with_their_history(seeded_db):
    at = admin_on_users_page()
    before = len(at.table[0].value)

    at.text_input(key="new_email").input("Kim.Lee@Example.org")
    at.text_input(key="new_name").input("Kim Lee")
    at.selectbox(key="new_role").set_value(at.selectbox(key="new_role").options[2])  # partner
    at.text_input(key="new_agency").input("Probation Service")
    at.button(key="new_save").click().run()

    assert not at.exception
    assert at.success[0].value == "Added kim.lee@example.org."
    assert len(at.table[0].value) == before + 1
    kim = row_of(at, "kim.lee@example.org")
    assert (kim["Name"], kim["Role"], kim["Agency"]) == ("Kim Lee", "partner", "Probation Service")
    assert kim["Borough"].startswith("This deployment's borough")
    assert not kim["London-wide access"]


def test_an_admin_adds_a_user_of_another_borough_with_london_wide_access(seeded_db):
    give_london_wide_access(seeded_db, ADMIN)
    at = admin_on_users_page()

    at.text_input(key="new_email").input("sam@example.org")
    at.text_input(key="new_name").input("Sam")
    at.selectbox(key="new_borough").set_value(LAMBETH)
    at.checkbox(key="new_london_wide").check()
    at.button(key="new_save").click().run()

    assert not at.exception
    assert at.success[0].value == "Added sam@example.org."
    sam = row_of(at, "sam@example.org")
    assert (sam["Borough"], sam["London-wide access"]) == ("Lambeth", True)
    signed = principal_for_email(make_engine(seeded_db), "sam@example.org", WANDSWORTH)
    assert (signed.borough_code, signed.london_wide) == (LAMBETH, True)


def test_a_boroughs_admin_cannot_give_london_wide_access_or_see_other_boroughs(seeded_db):
    engine = make_engine(seeded_db)
    admin = principal_for_email(engine, ADMIN)
    add_user(
        engine, "test", email="l@example.org", display_name="L", role="cso", borough_code=LAMBETH
    )
    at = admin_on_users_page()  # of Wandsworth, the deployment's borough, not London-wide
    assert "l@example.org" not in set(at.table[0].value["Email"])

    at.text_input(key="new_email").input("sam@example.org")
    at.text_input(key="new_name").input("Sam")
    at.checkbox(key="new_london_wide").check()
    at.button(key="new_save").click().run()

    assert "Only an administrator with London-wide access" in at.error[0].value
    assert "sam@example.org" not in set(list_users(engine, admin)["email"])


def test_the_borough_box_offers_this_deployments_then_londons_boroughs_by_name(seeded_db):
    at = admin_on_users_page()

    names = at.selectbox(key="new_borough").options

    assert len(names) == 34
    assert names[0].startswith("This deployment's borough (")
    assert names[1:3] == ["Barking and Dagenham", "Barnet"]
    assert "Wandsworth" in names
    assert "every borough's internal data" in at.checkbox(key="new_london_wide").help


def test_a_bad_address_is_refused_on_the_page_and_nothing_is_added(seeded_db):
    at = admin_on_users_page()
    before = len(at.table[0].value)

    at.text_input(key="new_email").input("kim at example")
    at.text_input(key="new_name").input("Kim")
    at.button(key="new_save").click().run()

    assert "is not an e-mail address" in at.error[0].value
    assert len(at.table[0].value) == before


def test_changing_a_role_is_saved_and_shown_in_the_history(seeded_db):
    cso_id = principal_for_email(make_engine(seeded_db), CSO).user_id
    at = admin_on_users_page()

    at.selectbox(key="edit_user").set_value(cso_id).run()
    at.selectbox(key=edit_key(cso_id, "role")).set_value(
        at.selectbox(key=edit_key(cso_id, "role")).options[3]  # analyst
    )
    at.button(key=edit_key(cso_id, "save")).click().run()

    assert not at.exception
    assert at.success[0].value == "Saved."
    assert row_of(at, CSO)["Role"] == "analyst"
    history = at.table[1].value
    assert history["What changed"].iloc[0] == "role: cso -> analyst"
    assert history["Who"].iloc[0] == ADMIN


def test_changing_a_users_borough_is_saved_and_shown_in_the_history(seeded_db):
    give_london_wide_access(seeded_db, ADMIN)
    cso_id = principal_for_email(make_engine(seeded_db), CSO).user_id
    at = admin_on_users_page()

    at.selectbox(key="edit_user").set_value(cso_id).run()
    at.selectbox(key=edit_key(cso_id, "borough")).set_value(LAMBETH)
    at.checkbox(key=edit_key(cso_id, "london_wide")).check()
    at.button(key=edit_key(cso_id, "save")).click().run()

    assert not at.exception
    assert at.success[0].value == "Saved."
    cso = row_of(at, CSO)
    assert (cso["Borough"], cso["London-wide access"], cso["Role"]) == ("Lambeth", True, "cso")
    history = at.table[1].value
    assert history["What changed"].iloc[0] == (
        "borough: this deployment's -> Lambeth; London-wide access: no -> yes"
    )
    # the form now shows the saved values, ready for the next change
    assert at.selectbox(key=edit_key(cso_id, "borough", generation=1)).value == LAMBETH


def test_each_user_opens_with_their_own_values_not_the_last_users(seeded_db):
    engine = make_engine(seeded_db)
    cso_id = principal_for_email(engine, CSO).user_id
    partner_id = principal_for_email(engine, PARTNER).user_id
    at = admin_on_users_page()
    at.selectbox(key="edit_user").set_value(cso_id).run()
    at.checkbox(key=edit_key(cso_id, "london_wide")).check()  # ticked, never saved

    at.selectbox(key="edit_user").set_value(partner_id).run()

    assert at.selectbox(key=edit_key(partner_id, "role")).value.value == "partner"
    assert at.text_input(key=edit_key(partner_id, "agency")).value == "Metropolitan Police"
    assert at.checkbox(key=edit_key(partner_id, "london_wide")).value is False


def test_a_form_opened_before_another_admins_change_is_refused_on_saving(seeded_db):
    give_london_wide_access(seeded_db, ADMIN)
    engine = make_engine(seeded_db)
    admin = principal_for_email(engine, ADMIN)
    cso_id = principal_for_email(engine, CSO).user_id
    at = admin_on_users_page()
    at.selectbox(key="edit_user").set_value(cso_id).run()
    # another administrator, elsewhere, moves the CSO to Lambeth
    users = list_users(engine, admin)
    version = int(users.loc[users["user_id"] == cso_id, "version"].iloc[0])
    change_user(engine, admin, cso_id, version, borough_code=LAMBETH)

    at.checkbox(key=edit_key(cso_id, "london_wide")).check()
    at.button(key=edit_key(cso_id, "save")).click().run()

    assert "after you opened it" in at.error[0].value
    stored = principal_for_email(engine, CSO)
    assert (stored.borough_code, stored.london_wide) == (LAMBETH, False)  # theirs kept, not ours

    at.button(key=f"edit_user_{cso_id}_latest").click().run()  # "Show the latest"

    assert at.selectbox(key=edit_key(cso_id, "borough", generation=1)).value == LAMBETH
    assert at.checkbox(key=edit_key(cso_id, "london_wide", generation=1)).value is False
