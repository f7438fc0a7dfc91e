import pytest

from dashboard.access import Principal, Role
from dashboard.errors import EditConflict, InvalidInput
from dashboard.store.session import make_engine
from dashboard.users import (
    add_user,
    add_user_as,
    change_user,
    list_users,
    principal_for_email,
    user_history,
)


@pytest.fixture
def engine(demo_db_url):
    return make_engine(demo_db_url)


@pytest.fixture
def admin(engine) -> Principal:
    return principal_for_email(engine, "demo-admin@example.org")


def version_of(engine, admin, user_id: int) -> int:
    users = list_users(engine, admin)
    return int(users.loc[users["user_id"] == user_id, "version"].iloc[0])


def test_an_added_user_signs_in_by_email_whatever_its_case(engine, admin):
    user_id = add_user_as(
        engine,
        admin,
        email=" Sam.Jones@Example.org ",
        display_name="Sam Jones",
        role="partner",
        agency="Probation Service",
    )

    found = principal_for_email(engine, "SAM.JONES@example.ORG")

    assert found == Principal(
        user_id=user_id,
        email="sam.jones@example.org",
        display_name="Sam Jones",
        role=Role.PARTNER,
        agency="Probation Service",
        cso_id=None,
    )
    assert principal_for_email(engine, "nobody@example.org") is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "not-an-email", "display_name": "X", "role": "cso"}, "is not an e-mail address"),
        ({"email": "x@example.org", "display_name": "  ", "role": "cso"}, "The name is empty"),
        ({"email": "x@example.org", "display_name": "X", "role": "boss"}, "Unknown role 'boss'"),
        (
            {"email": "DEMO-CSO@example.org", "display_name": "X", "role": "cso"},
            "already registered",
        ),
    ],
)
def test_bad_users_are_refused_with_the_reason(engine, fields, message):
    with pytest.raises(InvalidInput, match=message):
        add_user(engine, "cli", **fields)


def test_every_change_is_kept_with_who_and_when(engine, admin):
    user_id = add_user_as(engine, admin, email="a@example.org", display_name="A", role="partner")

    change_user(engine, admin, user_id, version_of(engine, admin, user_id), role="analyst")
    change_user(engine, admin, user_id, version_of(engine, admin, user_id), active=False)

    history = user_history(engine, admin, user_id)
    assert history["what changed"].tolist() == [
        "active: True -> False",
        "role: partner -> analyst",
        "added with role partner",
    ]
    assert set(history["who"]) == {"demo-admin@example.org"}
    assert principal_for_email(engine, "a@example.org").role is None  # deactivated


def test_a_stale_edit_is_refused_and_says_who_changed_it(engine, admin):
    user_id = add_user_as(engine, admin, email="b@example.org", display_name="B", role="cso")
    seen = version_of(engine, admin, user_id)
    other_admin = principal_for_email(engine, "demo-admin@example.org")
    change_user(engine, other_admin, user_id, seen, role="partner")

    with pytest.raises(EditConflict, match=r"changed by demo-admin@example\.org at"):
        change_user(engine, admin, user_id, seen, role="analyst")

    assert principal_for_email(engine, "b@example.org").role is Role.PARTNER


def test_an_administrator_cannot_lock_themselves_out(engine, admin):
    seen = version_of(engine, admin, admin.user_id)

    with pytest.raises(InvalidInput, match="your own administrator access"):
        change_user(engine, admin, admin.user_id, seen, role="analyst")
    with pytest.raises(InvalidInput, match="your own administrator access"):
        change_user(engine, admin, admin.user_id, seen, active=False)
