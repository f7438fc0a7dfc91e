"""Users and their roles, managed by administrators; every change is kept with who and when."""

from __future__ import annotations

import json
import logging
import re

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from dashboard.access import Permission, Principal, Role, require
from dashboard.dates import now_in_london
from dashboard.errors import EditConflict, InvalidInput
from dashboard.store.models import AppUser, UserChange
from dashboard.store.session import session_scope

log = logging.getLogger(__name__)

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EDITABLE_FIELDS = ("display_name", "role", "agency", "cso_id", "active")


def _clean_email(email: str) -> str:
    cleaned = email.strip().lower()
    if not EMAIL_PATTERN.match(cleaned):
        raise InvalidInput(
            f"{email!r} is not an e-mail address; use the one the person signs in with"
        )
    return cleaned


def _clean_role(role: str | Role | None) -> str | None:
    if role in (None, ""):
        return None
    try:
        return Role(role).value
    except ValueError as error:
        known = ", ".join(r.value for r in Role)
        raise InvalidInput(f"Unknown role {role!r}; choose one of {known}") from error


def principal_for_email(engine: Engine, email: str) -> Principal | None:
    """The stored user signed in as ``email``, or None when nobody is registered under it.

    A deactivated user comes back with no role, so they can open nothing.
    """
    with session_scope(engine) as session:
        user = session.scalar(select(AppUser).where(AppUser.email == email.strip().lower()))
        if user is None:
            return None
        return Principal(
            user_id=user.id,
            email=user.email,
            display_name=user.display_name,
            role=Role(user.role) if user.role and user.active else None,
            agency=user.agency,
            cso_id=user.cso_id,
        )


def list_users(engine: Engine, actor: Principal) -> pd.DataFrame:
    """Every user, for the Users page: id, email, name, role, agency, active, version."""
    require(actor.role, Permission.MANAGE_USERS)
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                AppUser.id,
                AppUser.email,
                AppUser.display_name,
                AppUser.role,
                AppUser.agency,
                AppUser.active,
                AppUser.version,
            ).order_by(AppUser.display_name)
        ).all()
    frame = pd.DataFrame(
        rows, columns=["user_id", "email", "name", "role", "agency", "active", "version"]
    )
    # keep "no role" and "no agency" as None, not NaN, so a form shows them as empty
    for column in ("role", "agency"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def _record(
    session: Session, user: AppUser, changed_by: str, changes: dict[str, list[object]]
) -> None:
    session.add(
        UserChange(
            user_id=user.id,
            changed_by=changed_by,
            changed_at=now_in_london(),
            changes=json.dumps(changes),
        )
    )


def add_user(
    engine: Engine,
    changed_by: str,
    *,
    email: str,
    display_name: str,
    role: str | Role | None,
    agency: str | None = None,
    cso_id: int | None = None,
) -> int:
    """Register a person so they can sign in; returns their user id.

    ``changed_by`` is who did it (an administrator's e-mail, or "cli" for the first admin).
    Raises InvalidInput for a bad e-mail, an empty name, an unknown role or a duplicate.
    Callers on a page must check ``Permission.MANAGE_USERS`` first (``add_user_as`` does).
    """
    email, role = _clean_email(email), _clean_role(role)
    if not display_name.strip():
        raise InvalidInput("The name is empty; give the name colleagues know the person by")
    with session_scope(engine) as session:
        if session.scalar(select(func.count(AppUser.id)).where(AppUser.email == email)):
            raise InvalidInput(f"{email} is already registered; change that user instead")
        user = AppUser(
            email=email,
            display_name=display_name.strip(),
            role=role,
            agency=(agency or "").strip() or None,
            cso_id=cso_id,
            active=True,
            created_at=now_in_london(),
        )
        session.add(user)
        session.flush()
        _record(session, user, changed_by, {"created": [None, {"email": email, "role": role}]})
        user_id = user.id
    log.info("user %d added with role %s", user_id, role)
    return user_id


def add_user_as(engine: Engine, actor: Principal, **fields: object) -> int:
    """``add_user`` on behalf of a signed-in administrator."""
    require(actor.role, Permission.MANAGE_USERS)
    return add_user(engine, actor.email, **fields)


def change_user(
    engine: Engine, actor: Principal, user_id: int, seen_version: int, **changes: object
) -> None:
    """Change a user's name, role, agency, CSO link or active flag, as ``actor``.

    ``seen_version`` is the version the administrator was looking at: if someone else changed
    the user since, EditConflict says who and when and nothing is written. An administrator
    cannot take away their own administrator role or deactivate themselves (no lock-out).
    """
    require(actor.role, Permission.MANAGE_USERS)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"These fields cannot be changed here: {', '.join(sorted(unknown))}")
    if "role" in changes:
        changes["role"] = _clean_role(changes["role"])  # type: ignore[arg-type]
    if "agency" in changes:
        changes["agency"] = str(changes["agency"] or "").strip() or None
    if user_id == actor.user_id and (
        changes.get("active") is False or ("role" in changes and changes["role"] != Role.ADMIN)
    ):
        raise InvalidInput("You cannot remove your own administrator access; ask another admin")
    try:
        with session_scope(engine) as session:
            user = session.get(AppUser, user_id)
            if user is None:
                raise InvalidInput(f"There is no user {user_id}")
            if user.version != seen_version:
                latest = session.scalar(
                    select(UserChange)
                    .where(UserChange.user_id == user_id)
                    .order_by(UserChange.id.desc())
                )
                who = (
                    f"{latest.changed_by} at {latest.changed_at:%H:%M on %d %b %Y}"
                    if latest
                    else "someone"
                )
                raise EditConflict(
                    f"{user.email} was changed by {who} after you opened it; reload to see the "
                    "change, then make yours again"
                )
            diff = {
                field: [getattr(user, field), value]
                for field, value in changes.items()
                if getattr(user, field) != value
            }
            if not diff:
                return
            for field, (_old, new) in diff.items():
                setattr(user, field, new)
            session.flush()
            _record(session, user, actor.email, diff)
    except StaleDataError as error:  # a write landed between our read and our update
        raise EditConflict(
            "This user was changed by someone else just now; reload and retry"
        ) from error
    log.info("user %d changed: %s", user_id, ", ".join(sorted(diff)))


def user_history(engine: Engine, actor: Principal, user_id: int) -> pd.DataFrame:
    """The user's audit trail, newest first: when, who, what changed."""
    require(actor.role, Permission.MANAGE_USERS)
    with session_scope(engine) as session:
        rows = session.execute(
            select(UserChange.changed_at, UserChange.changed_by, UserChange.changes)
            .where(UserChange.user_id == user_id)
            .order_by(UserChange.id.desc())
        ).all()
    return pd.DataFrame(
        [(at, by, describe_changes(changes)) for at, by, changes in rows],
        columns=["when", "who", "what changed"],
    )


def describe_changes(changes_json: str) -> str:
    """Readable summary of a stored change, e.g. "role: partner -> analyst"."""
    changes = json.loads(changes_json)
    if "created" in changes:
        created = changes["created"][1]
        return f"added with role {created.get('role') or 'none'}"
    return "; ".join(f"{field}: {old} -> {new}" for field, (old, new) in changes.items())
