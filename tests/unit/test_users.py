import pytest

from dashboard.access import Principal, Role
from dashboard.errors import EditConflict, InvalidInput, NotAllowed
from dashboard.store.session import make_engine
from dashboard.users import (
    add_user,
    add_user_as,
    borough_choices,
    borough_label,
    change_user,
    list_users,
    principal_for_email,
    user_history,
    users_table,
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


WANDSWORTH, LAMBETH = "E09000032", "E09000022"


def test_a_user_given_a_borough_and_london_wide_access_signs_in_with_both(engine, admin):
    user_id = add_user_as(
        engine,
        admin,
        email="lee@example.org",
        display_name="Lee",
        role="analyst",
        borough_code=" e09000022 ",  # as typed: case and spaces do not matter
        london_wide=True,
    )

    found = principal_for_email(engine, "lee@example.org", WANDSWORTH)

    assert (found.user_id, found.borough_code, found.london_wide) == (user_id, LAMBETH, True)
    listed = list_users(engine, admin).set_index("user_id").loc[user_id]
    assert (listed["borough_code"], listed["london_wide"]) == (LAMBETH, True)
    history = user_history(engine, admin, user_id)
    assert history["what changed"].tolist() == [
        "added with role analyst, borough Lambeth, London-wide access"
    ]


def test_a_user_given_no_borough_belongs_to_the_home_borough_passed_in(engine, admin):
    add_user_as(engine, admin, email="ash@example.org", display_name="Ash", role="cso")

    found = principal_for_email(engine, "ash@example.org", LAMBETH)

    assert (found.borough_code, found.london_wide) == (LAMBETH, False)
    # stored as "the deployment's", so a deployment moved to another borough takes them along
    assert principal_for_email(engine, "ash@example.org").borough_code is None
    users = list_users(engine, admin)
    assert users.loc[users["email"] == "ash@example.org", "borough_code"].iloc[0] is None


@pytest.mark.parametrize("code", ["Lambeth", "E0900002", "E090000222", "09000022", "E09-00002"])
def test_a_code_that_is_not_an_ons_code_is_refused_and_nothing_changes(engine, admin, code):
    message = rf"'{code}' is not an ONS borough code such as E09000032 \(Wandsworth\)"
    with pytest.raises(InvalidInput, match=message):
        add_user_as(
            engine, admin, email="x@example.org", display_name="X", role="cso", borough_code=code
        )
    assert principal_for_email(engine, "x@example.org") is None

    cso = principal_for_email(engine, "demo-cso@example.org")
    with pytest.raises(InvalidInput, match=message):
        change_user(
            engine, admin, cso.user_id, version_of(engine, admin, cso.user_id), borough_code=code
        )
    assert principal_for_email(engine, "demo-cso@example.org").borough_code is None


def test_a_borough_outside_london_is_kept_and_shown_by_its_code(engine, admin):
    # the CLI's --borough accepts any ONS code too, so the store may hold such a borough
    user_id = add_user_as(
        engine, admin, email="h@example.org", display_name="H", role="cso", borough_code="E06000001"
    )

    users = list_users(engine, admin)
    shown = users_table(users, "Wandsworth").set_index("user_id").loc[user_id]
    assert shown["borough"] == "E06000001"
    assert borough_choices("E06000001")[-1] == "E06000001"
    assert "E06000001" not in borough_choices(LAMBETH)


def test_the_borough_choices_are_the_deployments_then_londons_33_by_name():
    choices = borough_choices()

    assert choices[0] is None
    assert len(choices) == 34
    assert [borough_label(code, "Wandsworth") for code in choices[:3]] == [
        "This deployment's borough (Wandsworth)",
        "Barking and Dagenham",
        "Barnet",
    ]


def test_changing_a_borough_and_london_wide_access_is_kept_in_the_history(engine, admin):
    cso = principal_for_email(engine, "demo-cso@example.org")

    change_user(
        engine,
        admin,
        cso.user_id,
        version_of(engine, admin, cso.user_id),
        borough_code=LAMBETH,
        london_wide=True,
    )
    moved = principal_for_email(engine, "demo-cso@example.org", WANDSWORTH)
    change_user(
        engine,
        admin,
        cso.user_id,
        version_of(engine, admin, cso.user_id),
        borough_code=None,
        london_wide=False,
    )

    assert (moved.borough_code, moved.london_wide) == (LAMBETH, True)
    back = principal_for_email(engine, "demo-cso@example.org", WANDSWORTH)
    assert (back.borough_code, back.london_wide) == (WANDSWORTH, False)
    history = user_history(engine, admin, cso.user_id)
    assert history["what changed"].tolist()[:2] == [
        "borough: Lambeth -> this deployment's; London-wide access: yes -> no",
        "borough: this deployment's -> Lambeth; London-wide access: no -> yes",
    ]
    assert history["who"].iloc[0] == "demo-admin@example.org"


def test_saving_the_same_borough_again_records_nothing(engine, admin):
    cso = principal_for_email(engine, "demo-cso@example.org")
    before = len(user_history(engine, admin, cso.user_id))

    change_user(
        engine,
        admin,
        cso.user_id,
        version_of(engine, admin, cso.user_id),
        borough_code=None,
        london_wide=False,
    )

    assert len(user_history(engine, admin, cso.user_id)) == before


def test_a_stale_borough_edit_is_refused_and_the_newer_one_kept(engine, admin):
    cso = principal_for_email(engine, "demo-cso@example.org")
    seen = version_of(engine, admin, cso.user_id)
    change_user(engine, admin, cso.user_id, seen, borough_code=LAMBETH)

    with pytest.raises(EditConflict, match="after you opened it"):
        change_user(engine, admin, cso.user_id, seen, london_wide=True)

    after = principal_for_email(engine, "demo-cso@example.org")
    assert (after.borough_code, after.london_wide) == (LAMBETH, False)


def test_a_borough_administrator_manages_their_own_boroughs_users_only(engine, admin):
    home = "E09000032"  # the deployment's; the demo users have no borough of their own
    lambeth_admin = principal_for_email(engine, "demo-admin@example.org", "E09000022")
    wandsworth_admin = principal_for_email(engine, "demo-admin@example.org", home)
    add_user(
        engine,
        "test",
        email="l@example.org",
        display_name="L",
        role="cso",
        borough_code="E09000022",
    )

    listed = list_users(engine, lambeth_admin, home)
    assert list(listed["email"]) == ["l@example.org"]
    wandsworth = set(list_users(engine, wandsworth_admin, home)["email"])
    assert "l@example.org" not in wandsworth
    assert "demo-cso@example.org" in wandsworth
    everyone = list_users(engine, admin)  # the operator's view: no borough of their own
    demo_cso = everyone[everyone["email"] == "demo-cso@example.org"].iloc[0]
    with pytest.raises(NotAllowed, match="You manage Lambeth's users"):
        change_user(
            engine,
            lambeth_admin,
            int(demo_cso["user_id"]),
            int(demo_cso["version"]),
            home_borough=home,
            agency="Lambeth Council",
        )
    with pytest.raises(NotAllowed, match="Only an administrator with London-wide access"):
        add_user_as(
            engine,
            lambeth_admin,
            home,
            email="m@example.org",
            display_name="M",
            role="cso",
            borough_code="E09000022",
            london_wide=True,
        )
    with pytest.raises(NotAllowed, match="You manage Lambeth's users"):
        add_user_as(
            engine, lambeth_admin, home, email="n@example.org", display_name="N", role="cso"
        )
    own = listed.iloc[0]
    with pytest.raises(NotAllowed, match="Only an administrator with London-wide access"):
        change_user(
            engine,
            lambeth_admin,
            int(own["user_id"]),
            int(own["version"]),
            home_borough=home,
            london_wide=True,
        )

    change_user(
        engine,
        lambeth_admin,
        int(own["user_id"]),
        int(own["version"]),
        home_borough=home,
        agency="Lambeth Council",
    )

    assert principal_for_email(engine, "l@example.org").agency == "Lambeth Council"
    assert principal_for_email(engine, "demo-cso@example.org").agency is None
