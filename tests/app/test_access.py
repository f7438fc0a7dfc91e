"""The role matrix: every page for every kind of user, as the permission table says."""

import pytest
from sqlalchemy import update

from dashboard import PROJECT_ROOT
from dashboard.access import PAGE_PERMISSIONS, Role, allowed_pages, can
from dashboard.store.models import AppUser
from dashboard.store.session import make_engine, session_scope
from tests.app.conftest import signed_in

PAGE_TITLES = {
    "pages/map.py": "Wandsworth: community safety map",
    "pages/hotspots.py": "Wandsworth: hotspots",
    "pages/quarterly.py": "Quarterly dashboard",
    "pages/patrol.py": "Plan a patrol",
    "pages/plans.py": "Problem-solving plans",
    "pages/new_plan.py": "Open a problem-solving plan",
    "pages/my_actions.py": "My actions",
    "pages/wards.py": "Wards and Community Safety Officers",
    "pages/about.py": "About the data",
    "pages/data.py": "Data",
    "pages/users.py": "Users",
}
USERS = {
    Role.CSO: "demo-cso@example.org",
    Role.PARTNER: "demo-partner@example.org",
    Role.ANALYST: "demo-analyst@example.org",
    Role.ADMIN: "demo-admin@example.org",
}


def titles(at) -> list[str]:
    return [title.value for title in at.title]


@pytest.mark.parametrize("page", list(PAGE_PERMISSIONS))
@pytest.mark.parametrize("role", list(Role))
def test_each_role_opens_exactly_the_pages_the_table_allows(seeded_db, role, page):
    at = signed_in(USERS[role])
    at.run()

    if can(role, PAGE_PERMISSIONS[page]):
        at.switch_page(page).run()
        assert not at.exception
        assert PAGE_TITLES[page] in titles(at)
    else:  # not in this user's navigation at all: its address leads nowhere
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)


@pytest.mark.parametrize("page", list(PAGE_PERMISSIONS))
@pytest.mark.parametrize("role", list(Role))
def test_a_page_script_opened_directly_refuses_a_role_it_does_not_allow(seeded_db, role, page):
    at = signed_in(USERS[role], script=str(PROJECT_ROOT / page))

    at.run()

    allowed = can(role, PAGE_PERMISSIONS[page])
    assert (PAGE_TITLES[page] in titles(at)) is allowed
    refusals = [error.value for error in at.error if "does not allow" in error.value]
    assert bool(refusals) is not allowed


def test_the_navigation_lists_only_allowed_pages():
    assert allowed_pages(Role.PARTNER) == [
        "pages/map.py",
        "pages/hotspots.py",
        "pages/quarterly.py",
        "pages/plans.py",
        "pages/my_actions.py",
        "pages/wards.py",
        "pages/about.py",
    ]
    assert "pages/new_plan.py" in allowed_pages(Role.CSO)
    assert "pages/patrol.py" in allowed_pages(Role.CSO)
    assert "pages/patrol.py" not in allowed_pages(Role.PARTNER)
    assert allowed_pages(Role.ADMIN)[-1] == "pages/users.py"
    assert allowed_pages(None) == []


def test_signed_out_people_see_only_the_sign_in_page(seeded_db):
    at = signed_in(None)
    at.run()

    assert not at.exception
    assert titles(at) == ["Community Safety Map"]
    assert not at.table  # nothing internal
    assert any("Sign-in is not set up" in error.value for error in at.error)
    for page in PAGE_PERMISSIONS:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)


def test_someone_unknown_or_deactivated_is_asked_to_see_an_administrator(seeded_db):
    with session_scope(make_engine(seeded_db)) as session:
        session.execute(
            update(AppUser).where(AppUser.email == USERS[Role.PARTNER]).values(active=False)
        )
    for email in ("stranger@example.org", USERS[Role.PARTNER]):
        at = signed_in(email)
        at.run()

        assert not at.exception
        assert titles(at) == ["You have no access yet"]
        assert "Ask an administrator" in at.markdown[-1].value
        assert not at.table
        for page in PAGE_PERMISSIONS:
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                at.switch_page(page)
