"""Two boroughs in one store, through the pages: each user sees their own borough's internal data
only, on every page, unless they have London-wide access; then they pick the borough (or all of
London on the pages that can show it) in the sidebar."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import users
from dashboard.access import PAGE_PERMISSIONS, Role
from dashboard.store.session import make_engine
from tests.app.conftest import metric, signed_in
from tests.second_borough import LAMBETH_ANALYST, SECRET

ADMIN = "demo-admin@example.org"
CSO = "demo-cso@example.org"
VRU = "vru@london.example.org"  # London-wide
DEMO_PLAN = "Clapham Junction evening violence"  # a Wandsworth plan of the demo


@pytest.fixture
def two_borough_app(london_db_url, monkeypatch) -> None:
    """The app on a private two-borough store, with a London-wide administrator."""
    monkeypatch.setenv("DATABASE_URL", london_db_url)
    monkeypatch.setenv("MAP_TILES", "none")
    monkeypatch.delenv("BOROUGH_CODE", raising=False)
    engine = make_engine(london_db_url)
    users.add_user(
        engine,
        "test",
        email=VRU,
        display_name="VRU analyst",
        role=Role.ADMIN,
        london_wide=True,
    )
    engine.dispose()


def shown(at: AppTest) -> str:
    """Everything the page sent to the browser, as text: every element, maps included."""
    texts: list[str] = []

    def walk(node: object) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            texts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(texts)


def borough_picker(at: AppTest):
    return next((box for box in at.sidebar.selectbox if box.label == "Borough"), None)


@pytest.mark.parametrize("page", list(PAGE_PERMISSIONS))
def test_a_wandsworth_user_sees_nothing_of_lambeth_on_any_page(two_borough_app, page):
    at = signed_in(ADMIN)
    at.run()
    at.switch_page(page).run()

    assert not at.exception, at.exception
    assert at.title  # the page drew
    assert SECRET not in shown(at)
    assert borough_picker(at) is None  # nothing to pick without London-wide access


def test_the_patrol_page_of_a_wandsworth_cso_has_no_lambeth_cso_or_patrol(two_borough_app, lambeth):
    at = signed_in(CSO)
    at.run()
    at.switch_page("pages/patrol.py").run()

    assert not at.exception
    assert SECRET not in shown(at)
    assert lambeth.cso_name not in next(box for box in at.selectbox if box.label == "CSO").options


def test_another_boroughs_plan_by_its_address_is_not_there(two_borough_app, lambeth):
    at = signed_in(ADMIN)
    at.query_params["plan"] = str(lambeth.plan_id)
    at.run()
    at.switch_page("pages/plans.py").run()

    assert not at.exception
    assert f"There is no plan {lambeth.plan_id}; showing all plans." in [
        warning.value for warning in at.warning
    ]
    assert SECRET not in shown(at)


def test_the_stored_counts_are_the_users_boroughs(two_borough_app, lambeth):
    at = signed_in(ADMIN)
    at.run()
    at.switch_page("pages/about.py").run()

    counts = dict(zip(at.table[0].value.iloc[:, 0], at.table[0].value.iloc[:, 1], strict=True))
    assert counts["incident"] == lambeth.incidents  # Wandsworth's alone, not both boroughs'
    assert "action_update" not in counts  # a trail of both boroughs' actions: not counted


def test_a_lambeth_user_sees_lambeth_and_not_wandsworth(two_borough_app, lambeth):
    at = signed_in(LAMBETH_ANALYST)
    at.run()

    assert not at.exception
    assert at.title[0].value == "Lambeth: community safety map"
    assert metric(at, "Incidents shown") > 0
    at.switch_page("pages/plans.py").run()
    everything = shown(at)
    assert lambeth.plan_title in everything
    assert DEMO_PLAN not in everything


def test_london_wide_access_picks_a_borough_or_all_of_london(two_borough_app):
    at = signed_in(VRU)
    at.run()
    picker = borough_picker(at)
    assert picker is not None
    assert picker.options == ["Wandsworth", "Lambeth", "All of London"]
    wandsworth = metric(at, "Incidents shown")

    picker.select("E09000022").run()
    assert at.title[0].value == "Lambeth: community safety map"
    lambeth_count = metric(at, "Incidents shown")
    assert lambeth_count == wandsworth  # the copy holds the same incidents

    borough_picker(at).select("london").run()
    assert at.title[0].value == "All of London: community safety map"
    assert metric(at, "Incidents shown") == wandsworth + lambeth_count
    assert SECRET in shown(at)

    # the Hotspots page works on one borough at a time: it shows the user's own
    at.switch_page("pages/hotspots.py").run()
    assert not at.exception
    assert borough_picker(at).options == ["Wandsworth", "Lambeth"]
    assert at.title[0].value == "Wandsworth: hotspots"
