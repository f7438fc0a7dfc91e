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
from dashboard.boroughs import LONDON_BOROUGHS, ONS_BOROUGH_CODE, borough_name
from dashboard.dates import now_in_london
from dashboard.errors import EditConflict, InvalidInput, NotAllowed
from dashboard.store.models import AppUser, UserChange
from dashboard.store.session import session_scope

log = logging.getLogger(__name__)

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EDITABLE_FIELDS = (
    "display_name",
    "role",
    "agency",
    "cso_id",
    "active",
    "borough_code",
    "london_wide",
)


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


def _clean_borough(code: str | None) -> str | None:
    cleaned = (code or "").strip().upper() or None
    if cleaned is not None and not ONS_BOROUGH_CODE.fullmatch(cleaned):
        raise InvalidInput(
            f"{code!r} is not an ONS borough code such as E09000032 (Wandsworth); choose a "
            "borough, or none for this deployment's"
        )
    return cleaned


def borough_choices(current: str | None = None) -> list[str | None]:
    """The boroughs a user can be given, for a select box: None first, then London's by name.

    None means the deployment's own borough. ``current``, a user's stored borough, is added
    at the end when it is not a London borough, so editing that user does not lose it.
    """
    choices: list[str | None] = [None, *sorted(LONDON_BOROUGHS, key=LONDON_BOROUGHS.__getitem__)]
    if current is not None and current not in choices:
        choices.append(current)
    return choices


def borough_label(code: str | None, home_borough_name: str) -> str:
    """A user's borough as people read it: its name, or the deployment's for None."""
    if code is None:
        return f"This deployment's borough ({home_borough_name})"
    return borough_name(code)


def principal_for_email(
    engine: Engine, email: str, home_borough: str | None = None
) -> Principal | None:
    """The stored user signed in as ``email``, or None when nobody is registered under it.

    A deactivated user comes back with no role, so they can open nothing. A user given no
    borough belongs to ``home_borough``, the deployment's (``BOROUGH_CODE``); the app always
    passes it, so a signed-in person is always of a borough.
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
            borough_code=user.borough_code or home_borough,
            london_wide=bool(user.london_wide),
        )


def _governs_everyone(actor: Principal) -> bool:
    # London-wide administrators, and the operator at the terminal (of no borough)
    return actor.london_wide or actor.borough_code is None


def _require_user_rights(
    actor: Principal, borough_code: str | None, london_wide: bool, home_borough: str | None
) -> None:
    """Raise NotAllowed unless ``actor`` may manage a user of that borough and access.

    A borough's administrator manages their own borough's users, and cannot give London-wide
    access (or take it, or move someone to another borough): only a London-wide one can.
    """
    if _governs_everyone(actor):
        return
    if london_wide:
        raise NotAllowed(
            "Only an administrator with London-wide access can give or take London-wide access"
        )
    if (borough_code or home_borough) != actor.borough_code:
        raise NotAllowed(
            f"You manage {borough_name(actor.borough_code or '')}'s users; another borough's are "
            "managed by its administrators or a London-wide one"
        )


def list_users(engine: Engine, actor: Principal, home_borough: str | None = None) -> pd.DataFrame:
    """The users ``actor`` manages, for the Users page.

    All of them for a London-wide administrator; otherwise their own borough's (a user of no
    borough is ``home_borough``'s), without London-wide ones.

    Columns: id, email, name, role, agency, borough (None: the deployment's), London-wide
    access, active, version.
    """
    require(actor.role, Permission.MANAGE_USERS)
    with session_scope(engine) as session:
        query = select(
            AppUser.id,
            AppUser.email,
            AppUser.display_name,
            AppUser.role,
            AppUser.agency,
            AppUser.borough_code,
            AppUser.london_wide,
            AppUser.active,
            AppUser.version,
        ).order_by(AppUser.display_name)
        if not _governs_everyone(actor):
            own = AppUser.borough_code == actor.borough_code
            if actor.borough_code == home_borough:
                own = own | AppUser.borough_code.is_(None)
            query = query.where(own, AppUser.london_wide.is_(False))
        rows = session.execute(query).all()
    frame = pd.DataFrame(
        rows,
        columns=[
            "user_id",
            "email",
            "name",
            "role",
            "agency",
            "borough_code",
            "london_wide",
            "active",
            "version",
        ],
    )
    # keep "no role", "no agency" and "the home borough" as None, not NaN, so a form shows them
    for column in ("role", "agency", "borough_code"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    frame["london_wide"] = frame["london_wide"].astype(bool)
    return frame


def users_table(users: pd.DataFrame, home_borough_name: str) -> pd.DataFrame:
    """``list_users`` as the Users page shows it: boroughs by name, no version column."""
    shown = users.drop(columns=["version"])
    shown["borough_code"] = [
        borough_label(code, home_borough_name) for code in shown["borough_code"]
    ]
    return shown.rename(columns={"borough_code": "borough", "london_wide": "London-wide access"})


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
    borough_code: str | None = None,
    london_wide: bool = False,
) -> int:
    """Register a person so they can sign in; returns their user id.

    ``borough_code`` is the borough whose internal data they see (None: the deployment's own);
    ``london_wide`` lets them see every borough's.

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
            borough_code=_clean_borough(borough_code),
            london_wide=bool(london_wide),
            active=True,
            created_at=now_in_london(),
        )
        session.add(user)
        session.flush()
        created = {"email": email, "role": role}
        if user.borough_code or user.london_wide:
            created |= {"borough_code": user.borough_code, "london_wide": user.london_wide}
        _record(session, user, changed_by, {"created": [None, created]})
        user_id = user.id
    log.info("user %d added with role %s", user_id, role)
    return user_id


def add_user_as(
    engine: Engine, actor: Principal, home_borough: str | None = None, **fields: object
) -> int:
    """``add_user`` on behalf of a signed-in administrator.

    Of their own borough unless they have London-wide access (a user given no borough is
    ``home_borough``'s).
    """
    require(actor.role, Permission.MANAGE_USERS)
    _require_user_rights(
        actor,
        _clean_borough(fields.get("borough_code")),  # type: ignore[arg-type]
        bool(fields.get("london_wide")),
        home_borough,
    )
    return add_user(engine, actor.email, **fields)


def change_user(
    engine: Engine,
    actor: Principal,
    user_id: int,
    seen_version: int,
    *,
    home_borough: str | None = None,
    **changes: object,
) -> None:
    """Change a user's name, role, agency, CSO link, borough, London-wide access or active flag.

    ``seen_version`` is the version the administrator was looking at: if someone else changed
    the user since, EditConflict says who and when and nothing is written. An administrator
    cannot take away their own administrator role or deactivate themselves (no lock-out).
    Each change is kept in the user's history (``user_history``), as ``actor``'s.
    """
    require(actor.role, Permission.MANAGE_USERS)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"These fields cannot be changed here: {', '.join(sorted(unknown))}")
    if "role" in changes:
        changes["role"] = _clean_role(changes["role"])  # type: ignore[arg-type]
    if "agency" in changes:
        changes["agency"] = str(changes["agency"] or "").strip() or None
    if "borough_code" in changes:
        changes["borough_code"] = _clean_borough(changes["borough_code"])  # type: ignore[arg-type]
    if "london_wide" in changes:
        changes["london_wide"] = bool(changes["london_wide"])
    if user_id == actor.user_id and (
        changes.get("active") is False or ("role" in changes and changes["role"] != Role.ADMIN)
    ):
        raise InvalidInput("You cannot remove your own administrator access; ask another admin")
    try:
        with session_scope(engine) as session:
            user = session.get(AppUser, user_id)
            if user is None:
                raise InvalidInput(f"There is no user {user_id}")
            _require_user_rights(actor, user.borough_code, user.london_wide, home_borough)
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
            _require_user_rights(
                actor,
                changes.get("borough_code", user.borough_code),  # type: ignore[arg-type]
                bool(changes.get("london_wide", user.london_wide)),
                home_borough,
            )
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


FIELD_LABELS = {"borough_code": "borough", "london_wide": "London-wide access"}


def _describe_value(field: str, value: object) -> str:
    if field == "borough_code":
        # stored as codes; named here so the history reads "Lambeth", not "E09000022"
        return borough_name(str(value)) if value else "this deployment's"
    if field == "london_wide":
        return "yes" if value else "no"
    return str(value)


def describe_changes(changes_json: str) -> str:
    """Readable summary of a stored change, e.g. "role: partner -> analyst".

    Boroughs are named ("borough: this deployment's -> Lambeth") and London-wide access reads
    yes or no; other fields show their stored values.
    """
    changes = json.loads(changes_json)
    if "created" in changes:
        created = changes["created"][1]
        summary = f"added with role {created.get('role') or 'none'}"
        if created.get("borough_code"):
            summary += f", borough {_describe_value('borough_code', created['borough_code'])}"
        if created.get("london_wide"):
            summary += ", London-wide access"
        return summary
    return "; ".join(
        f"{FIELD_LABELS.get(field, field)}: {_describe_value(field, old)} -> "
        f"{_describe_value(field, new)}"
        for field, (old, new) in changes.items()
    )
