from datetime import date

import pytest

from dashboard.access import PERMISSIONS, Permission, Principal, Role, can, require
from dashboard.errors import NotAllowed
from dashboard.store import queries
from dashboard.store.models import AssetKind
from dashboard.store.session import make_engine
from dashboard.users import list_users

PARTNER = Principal(user_id=3, email="p@example.org", display_name="P", role=Role.PARTNER)


def test_the_permission_table_gives_users_and_imports_only_to_those_roles():
    assert [role for role in Role if can(role, Permission.MANAGE_USERS)] == [Role.ADMIN]
    assert [role for role in Role if can(role, Permission.LOAD_DATA)] == [Role.ANALYST, Role.ADMIN]
    assert all(can(role, Permission.VIEW_MAP) for role in Role)
    assert not any(can(None, permission) for permission in Permission)
    assert PERMISSIONS[Role.ADMIN] == frozenset(Permission)


def test_a_refusal_names_the_role_and_says_who_to_ask():
    with pytest.raises(
        NotAllowed, match=r"Your role \(Partner agency\) does not allow manage users"
    ):
        require(Role.PARTNER, Permission.MANAGE_USERS)
    with pytest.raises(NotAllowed, match=r"Your role \(no role\).*Ask an administrator"):
        require(None, Permission.VIEW_MAP)


@pytest.mark.parametrize(
    "read",
    [
        lambda engine, role: queries.current_wards(engine, "E09000032", role),
        lambda engine, role: queries.current_cso_assignments(engine, date(2026, 1, 1), role),
        lambda engine, role: queries.csos(engine, role),
        lambda engine, role: queries.assets(engine, AssetKind.KNIFE_BIN, role),
        lambda engine, role: queries.youth_bus_schedule(engine, role),
        lambda engine, role: queries.incident_span(engine, role),
        lambda engine, role: queries.incident_categories(engine, role),
        lambda engine, role: queries.incidents(
            engine, queries.IncidentFilter(date(2025, 1, 1), date(2025, 12, 31)), role
        ),
        lambda engine, role: queries.table_counts(engine, ["incident"], role),
    ],
)
def test_every_internal_read_refuses_someone_without_a_role(demo_db_url, read):
    engine = make_engine(demo_db_url)

    with pytest.raises(NotAllowed):
        read(engine, None)
    assert read(engine, Role.CSO) is not None  # and serves a role that may see it


def test_only_administrators_may_list_users(demo_db_url):
    engine = make_engine(demo_db_url)

    with pytest.raises(NotAllowed, match="manage users"):
        list_users(engine, PARTNER)
