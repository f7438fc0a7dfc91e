"""Who may see what: roles, the one permission table, and the public allow-list.

Every function in ``dashboard`` that reads or writes internal data calls ``require`` itself,
so a page reached by its address, or a function called from the wrong page, still refuses.
Hiding pages in the navigation is a convenience on top of this, not the protection.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dashboard.errors import NotAllowed


class Role(enum.StrEnum):
    """What a signed-in user is allowed to do."""

    CSO = "cso"  # their wards by default, can see all; patrols; runs plans and actions
    PARTNER = "partner"  # a Delivery Group agency: reads; updates its own agency's actions
    ANALYST = "analyst"  # everything analytical, imports
    ADMIN = "admin"  # users and settings, and everything else


class Permission(enum.StrEnum):
    """One kind of access to internal data."""

    VIEW_MAP = "view_map"  # wards, CSO assignments, assets, hotspot cells
    VIEW_INCIDENTS = "view_incidents"  # figures derived from incidents
    VIEW_CSOS = "view_csos"  # CSO names and contacts
    VIEW_DATA_SOURCES = "view_data_sources"  # what is stored, sources, counts
    LOAD_DATA = "load_data"  # seed, import, undo
    MANAGE_USERS = "manage_users"  # add users, change roles, deactivate
    VIEW_PLANS = "view_plans"  # problem-solving plans, their actions and history
    MANAGE_PLANS = "manage_plans"  # create and edit plans; add and update any action
    UPDATE_AGENCY_ACTIONS = "update_agency_actions"  # add and update their own agency's actions
    LOG_PATROLS = "log_patrols"  # plan patrols and record them as done
    SEE_SMALL_NUMBERS = "see_small_numbers"  # quarterly counts under the threshold, unrounded
    MAKE_INTERNAL_PACK = "make_internal_pack"  # a quarterly pack without suppression


_EVERYONE_SIGNED_IN = frozenset(
    {
        Permission.VIEW_MAP,
        Permission.VIEW_INCIDENTS,
        Permission.VIEW_CSOS,
        Permission.VIEW_DATA_SOURCES,
        Permission.VIEW_PLANS,
    }
)
# CSOs coordinate the task-and-finish groups; partners act on what their agency owns
_RUNS_PLANS = frozenset({Permission.MANAGE_PLANS, Permission.UPDATE_AGENCY_ACTIONS})
# CSOs log their own patrols; analysts may log one for a CSO (and admins, who hold everything)
_LOGS_PATROLS = frozenset({Permission.LOG_PATROLS})

# The one permission table. A role not listed here (or no role) may do nothing.
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.CSO: _EVERYONE_SIGNED_IN | _RUNS_PLANS | _LOGS_PATROLS | {Permission.SEE_SMALL_NUMBERS},
    Role.PARTNER: _EVERYONE_SIGNED_IN | {Permission.UPDATE_AGENCY_ACTIONS},
    Role.ANALYST: _EVERYONE_SIGNED_IN
    | _RUNS_PLANS
    | _LOGS_PATROLS
    | {Permission.LOAD_DATA, Permission.SEE_SMALL_NUMBERS, Permission.MAKE_INTERNAL_PACK},
    Role.ADMIN: frozenset(Permission),
}

# What each page needs; the navigation shows a user only the pages their role allows.
PAGE_PERMISSIONS: dict[str, Permission] = {
    "pages/map.py": Permission.VIEW_MAP,
    "pages/hotspots.py": Permission.VIEW_INCIDENTS,
    "pages/quarterly.py": Permission.VIEW_PLANS,
    "pages/patrol.py": Permission.LOG_PATROLS,
    "pages/plans.py": Permission.VIEW_PLANS,
    "pages/new_plan.py": Permission.MANAGE_PLANS,
    "pages/my_actions.py": Permission.VIEW_PLANS,
    "pages/wards.py": Permission.VIEW_CSOS,
    "pages/about.py": Permission.VIEW_DATA_SOURCES,
    "pages/data.py": Permission.LOAD_DATA,
    "pages/users.py": Permission.MANAGE_USERS,
}

# The only asset fields that may ever leave the organisation (the public knife-bin map).
PUBLIC_ASSET_FIELDS = ("name", "address", "longitude", "latitude", "guidance")

ROLE_LABELS = {
    Role.CSO: "Community Safety Officer",
    Role.PARTNER: "Partner agency",
    Role.ANALYST: "Analyst",
    Role.ADMIN: "Administrator",
}


@dataclass(frozen=True)
class Principal:
    """The signed-in person as the app knows them (hashable, so it can key caches)."""

    user_id: int
    email: str
    display_name: str
    role: Role | None  # None: signed in but given no role yet
    agency: str | None = None
    cso_id: int | None = None
    borough_code: str | None = None  # their borough; None: the deployment's (BOROUGH_CODE)
    london_wide: bool = False  # may see every borough's internal data (see dashboard.boroughs)


def role_label(role: Role | None) -> str:
    """How a role is named on screen; no role says what it means."""
    return ROLE_LABELS[role] if role else "No role (cannot open anything)"


def can(role: Role | None, permission: Permission) -> bool:
    """True when ``role`` grants ``permission``."""
    return role is not None and permission in PERMISSIONS.get(role, frozenset())


def require(role: Role | None, permission: Permission) -> None:
    """Raise NotAllowed unless ``role`` grants ``permission``."""
    if not can(role, permission):
        held = ROLE_LABELS.get(role, "no role") if role else "no role"
        raise NotAllowed(
            f"Your role ({held}) does not allow {permission.value.replace('_', ' ')}. "
            "Ask an administrator if you need it."
        )


def allowed_pages(role: Role | None) -> list[str]:
    """The page scripts ``role`` may open, in navigation order."""
    return [page for page, permission in PAGE_PERMISSIONS.items() if can(role, permission)]
