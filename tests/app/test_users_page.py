from streamlit.testing.v1 import AppTest

from tests.app.conftest import signed_in


def admin_on_users_page() -> AppTest:
    at = signed_in("demo-admin@example.org")
    at.run()
    at.switch_page("pages/users.py").run()
    assert not at.exception
    return at


def test_an_admin_adds_a_partner_who_then_appears_with_their_history(seeded_db):
    at = admin_on_users_page()
    before = len(at.table[0].value)

    at.text_input(key="new_email").input("Kim.Lee@Example.org")
    at.text_input(key="new_name").input("Kim Lee")
    at.selectbox(key="new_role").set_value(at.selectbox(key="new_role").options[2])  # partner
    at.text_input(key="new_agency").input("Probation Service")
    at.button[0].click().run()

    assert not at.exception
    assert at.success[0].value == "Added kim.lee@example.org."
    users = at.table[0].value
    assert len(users) == before + 1
    kim = users[users["Email"] == "kim.lee@example.org"].iloc[0]
    assert (kim["Name"], kim["Role"], kim["Agency"]) == ("Kim Lee", "partner", "Probation Service")


def test_a_bad_address_is_refused_on_the_page_and_nothing_is_added(seeded_db):
    at = admin_on_users_page()
    before = len(at.table[0].value)

    at.text_input(key="new_email").input("kim at example")
    at.text_input(key="new_name").input("Kim")
    at.button[0].click().run()

    assert "is not an e-mail address" in at.error[0].value
    assert len(at.table[0].value) == before


def test_changing_a_role_is_saved_and_shown_in_the_history(seeded_db):
    at = admin_on_users_page()

    at.selectbox(key="edit_user").set_value(2)  # the demo CSO
    at.selectbox(key="edit_role").set_value(at.selectbox(key="edit_role").options[3])  # analyst
    at.button[1].click().run()

    assert not at.exception
    assert at.success[0].value == "Saved."
    users = at.table[0].value
    assert users.loc[users["Email"] == "demo-cso@example.org", "Role"].iloc[0] == "analyst"
    history = at.table[1].value
    assert history["What changed"].iloc[0] == "role: cso -> analyst"
    assert history["Who"].iloc[0] == "demo-admin@example.org"
