import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP


@pytest.fixture
def demo_app(seeded_db, monkeypatch) -> AppTest:
    monkeypatch.setenv("DEMO_MODE", "1")
    at = AppTest.from_file(APP, default_timeout=60)
    at.user = {"is_logged_in": False}  # demo mode needs no identity provider
    return at


def test_demo_mode_opens_on_the_map_as_the_demo_analyst_and_says_so(demo_app):
    demo_app.run()

    assert not demo_app.exception
    assert demo_app.title[0].value == "Wandsworth: community safety map"
    assert "Demo mode" in demo_app.warning[0].value
    assert "Demo analyst" in demo_app.warning[0].value
    assert demo_app.selectbox(key="demo_user_email").value == "demo-analyst@example.org"


def test_switching_the_demo_user_changes_what_the_navigation_offers(demo_app):
    demo_app.run()
    demo_app.selectbox(key="demo_user_email").set_value("demo-admin@example.org").run()
    demo_app.switch_page("pages/users.py").run()
    assert demo_app.title[0].value == "Users"

    demo_app.selectbox(key="demo_user_email").set_value("demo-partner@example.org").run()

    assert "Demo partner" in demo_app.warning[0].value
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        demo_app.switch_page("pages/users.py")


def test_demo_mode_refuses_a_database_that_is_not_the_demo(empty_db_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", empty_db_url)
    monkeypatch.setenv("DEMO_MODE", "true")
    at = AppTest.from_file(APP, default_timeout=60)
    at.user = {"is_logged_in": False}

    at.run()

    assert not at.exception
    assert "this database is not the demo database" in at.error[0].value
    assert not at.title
