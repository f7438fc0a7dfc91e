"""Problem-solving plans and their task-and-finish actions: rules, edits and the update trail.

Every change to a plan or an action is written with an append-only update (who, when, what
changed, a comment); nothing is deleted, and dropping an action is a status. Edits are optimistic:
the caller says which version it was looking at, and a newer stored version raises EditConflict
listing what the others changed, so nobody's edit is silently overwritten.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from dashboard.access import Permission, Principal, Role, can, require
from dashboard.boroughs import require_borough_access
from dashboard.dates import now_in_london
from dashboard.errors import DataError, EditConflict, InvalidInput, NotAllowed
from dashboard.geo import BNG, WGS84
from dashboard.store.models import (
    Action,
    ActionStatus,
    ActionUpdate,
    AppUser,
    Cso,
    Plan,
    PlanStatus,
    PlanUpdate,
    PlanWard,
    SaraStage,
    Ward,
)
from dashboard.store.scope import Boroughs, in_boroughs
from dashboard.store.session import session_scope, write_scope

log = logging.getLogger(__name__)

# The London VRU delivery plan's eight themes; every action belongs to one (DESIGN.md section 1)
VRU_THEMES: dict[int, str] = {
    1: "Governance",
    2: "Analysis and enforcement",
    3: "Reducing access to weapons",
    4: "Safeguarding and educating children and young people",
    5: "Working with communities and neighbourhoods",
    6: "Supporting victims of violence and vulnerability",
    7: "Positive diversion from violence",
    8: "Tackling violence against women and girls",
}
SARA_LABELS: dict[SaraStage, str] = {
    SaraStage.SCANNING: "Scanning",
    SaraStage.ANALYSIS: "Analysis",
    SaraStage.RESPONSE: "Response",
    SaraStage.ASSESSMENT: "Assessment",
}
PLAN_STATUS_LABELS: dict[PlanStatus, str] = {
    PlanStatus.OPEN: "Open",
    PlanStatus.MONITORING: "Monitoring",
    PlanStatus.CLOSED: "Closed",
}
ACTION_STATUS_LABELS: dict[ActionStatus, str] = {
    ActionStatus.NOT_STARTED: "Not started",
    ActionStatus.ON_TRACK: "On track",
    ActionStatus.AT_RISK: "At risk",
    ActionStatus.DONE: "Done",
    ActionStatus.DROPPED: "Dropped",
}
OPEN_ACTION_STATUSES = frozenset(
    {ActionStatus.NOT_STARTED, ActionStatus.ON_TRACK, ActionStatus.AT_RISK}
)
AREA_SOURCES = ("drawn", "ward", "cells", "place", "uploaded")
DUE_SOON_DAYS = 14  # a fortnight: the usual gap between task-and-finish meetings
MIN_AREA_M2 = 100.0  # smaller than a house plot: almost certainly a slip of the mouse
MIN_WARD_SHARE = 0.05  # a plan "covers" a ward holding at least 5 % of its area
MAX_AREA_VERTICES = 2_000  # an uploaded area is simplified beyond this; a drawn one never is
TITLE_MAX = 200
TEXT_MAX = 10_000
AGENCY_MAX = 80
NAME_MAX = 120

# How an action stands, for the flags shown wherever actions appear (worst first)
FLAG_OVERDUE = "Overdue"
FLAG_AT_RISK = "At risk"
FLAG_DUE_SOON = "Due soon"
FLAG_ORDER = (
    FLAG_OVERDUE,
    FLAG_AT_RISK,
    FLAG_DUE_SOON,
    "Not started",
    "On track",
    "Done",
    "Dropped",
)

PLAN_FIELDS = (
    "title",
    "problem",
    "sara_stage",
    "status",
    "outcome",
    "lead_cso_id",
    "partners",
    "started_on",
    "review_on",
    "place_name",
)
ACTION_FIELDS = (
    "description",
    "vru_theme",
    "owner_agency",
    "owner_name",
    "owner_user_id",
    "due_on",
    "status",
    "longitude",
    "latitude",
)
FIELD_LABELS = {
    "title": "title",
    "problem": "problem statement",
    "sara_stage": "SARA stage",
    "status": "status",
    "outcome": "outcome",
    "lead_cso_id": "lead CSO",
    "partners": "partners",
    "started_on": "start date",
    "review_on": "review date",
    "place_name": "place",
    "area": "area",
    "description": "description",
    "vru_theme": "VRU theme",
    "owner_agency": "owner agency",
    "owner_name": "owner",
    "owner_user_id": "owner's account",
    "due_on": "due date",
    "longitude": "place on the map",
    "latitude": "place on the map",
}


# --- rules ---------------------------------------------------------------------------------------


def action_flag(status: ActionStatus | str, due_on: date, today: date) -> str:
    """How an action stands on ``today``: "Overdue", "At risk", "Due soon", or its status.

    Overdue: still open (not started, on track or at risk) after its due date; this outranks "at
    risk", because a date already missed is the more urgent fact. Due soon: open and due within
    ``DUE_SOON_DAYS`` days. Done and dropped actions are never overdue.
    """
    status = ActionStatus(status)
    if status in OPEN_ACTION_STATUSES and due_on < today:
        return FLAG_OVERDUE
    if status is ActionStatus.AT_RISK:
        return FLAG_AT_RISK
    if status in OPEN_ACTION_STATUSES and due_on <= today + timedelta(days=DUE_SOON_DAYS):
        return FLAG_DUE_SOON
    return ACTION_STATUS_LABELS[status]


def is_overdue(status: ActionStatus | str, due_on: date, today: date) -> bool:
    """True when an open action's due date has passed."""
    return ActionStatus(status) in OPEN_ACTION_STATUSES and due_on < today


def needs_attention(flag: str) -> bool:
    """True for the flags that must stand out: overdue and at risk."""
    return flag in (FLAG_OVERDUE, FLAG_AT_RISK)


def _text(value: object, label: str, max_length: int, *, required: bool) -> str | None:
    text = str(value or "").strip()
    if not text:
        if required:
            raise InvalidInput(f"The {label} is required")
        return None
    if len(text) > max_length:
        raise InvalidInput(f"The {label} is {len(text):,} characters; at most {max_length:,}")
    return text


def _partners(value: object) -> str:
    items = value.splitlines() if isinstance(value, str) else list(value or ())
    cleaned = []
    for item in items:
        text = _text(item, "partner agency name", AGENCY_MAX, required=False)
        if text and text.casefold() not in {p.casefold() for p in cleaned}:
            cleaned.append(text)
    return "\n".join(cleaned)


def clean_plan_fields(fields: Mapping[str, object]) -> dict[str, object]:
    """Check and normalise plan fields a person typed; InvalidInput says which and why.

    Only the fields given are checked (an edit may change one). Text is stripped, partners are
    de-duplicated (one agency per line), enums are parsed.
    """
    unknown = set(fields) - set(PLAN_FIELDS)
    if unknown:
        raise InvalidInput(f"These plan fields do not exist: {', '.join(sorted(unknown))}")
    cleaned: dict[str, object] = {}
    for name, value in fields.items():
        if name == "title":
            cleaned[name] = _text(value, "title", TITLE_MAX, required=True)
        elif name == "problem":
            cleaned[name] = _text(value, "problem statement", TEXT_MAX, required=True)
        elif name == "outcome":
            cleaned[name] = _text(value, "outcome", TEXT_MAX, required=False)
        elif name == "place_name":
            cleaned[name] = _text(value, "place name", TITLE_MAX, required=False)
        elif name == "partners":
            cleaned[name] = _partners(value)
        elif name == "sara_stage":
            cleaned[name] = _enum(SaraStage, value, "SARA stage")
        elif name == "status":
            cleaned[name] = _enum(PlanStatus, value, "plan status")
        elif name in ("started_on", "review_on"):
            if value is None and name == "review_on":
                cleaned[name] = None
            elif not isinstance(value, date):
                raise InvalidInput(f"The {FIELD_LABELS[name]} must be a date")
            else:
                cleaned[name] = value
        elif name == "lead_cso_id":
            cleaned[name] = None if value in (None, "") else int(value)  # type: ignore[arg-type]
    return cleaned


def clean_action_fields(fields: Mapping[str, object]) -> dict[str, object]:
    """Check and normalise action fields a person typed; InvalidInput says which and why."""
    unknown = set(fields) - set(ACTION_FIELDS)
    if unknown:
        raise InvalidInput(f"These action fields do not exist: {', '.join(sorted(unknown))}")
    cleaned: dict[str, object] = {}
    for name, value in fields.items():
        if name == "description":
            cleaned[name] = _text(value, "description", TEXT_MAX, required=True)
        elif name == "owner_agency":
            cleaned[name] = _text(value, "owner agency", AGENCY_MAX, required=True)
        elif name == "owner_name":
            cleaned[name] = _text(value, "owner's name", NAME_MAX, required=False)
        elif name == "vru_theme":
            theme = int(value) if str(value).strip().isdigit() else 0  # type: ignore[arg-type]
            if theme not in VRU_THEMES:
                raise InvalidInput(f"The VRU theme must be 1 to 8, got {value!r}")
            cleaned[name] = theme
        elif name == "status":
            cleaned[name] = _enum(ActionStatus, value, "action status")
        elif name == "due_on":
            if not isinstance(value, date):
                raise InvalidInput("The due date is required")
            cleaned[name] = value
        elif name == "owner_user_id":
            cleaned[name] = None if value in (None, "") else int(value)  # type: ignore[arg-type]
        elif name in ("longitude", "latitude"):
            cleaned[name] = None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]
    if ("longitude" in cleaned) != ("latitude" in cleaned) or (
        (cleaned.get("longitude") is None) != (cleaned.get("latitude") is None)
    ):
        raise InvalidInput("A place on the map needs both a longitude and a latitude")
    return cleaned


def _enum(kind: type, value: object, label: str):  # returns a member of ``kind``
    try:
        return kind(value)
    except ValueError as error:
        known = ", ".join(member.value for member in kind)
        raise InvalidInput(f"Unknown {label} {value!r}; choose one of {known}") from error


def check_plan_change(before: Mapping[str, object], after: Mapping[str, object], comment: str):
    """Refuse plan changes the rules forbid (InvalidInput says why).

    - a review date before the start date;
    - closing without saying the outcome;
    - reopening a closed plan without a comment saying why.
    """
    started_on, review_on = after.get("started_on"), after.get("review_on")
    if review_on is not None and started_on is not None and review_on < started_on:  # type: ignore[operator]
        raise InvalidInput("The review date is before the start date")
    if after.get("status") is PlanStatus.CLOSED and not after.get("outcome"):
        raise InvalidInput("Say what the outcome was before closing the plan")
    if (
        before.get("status") is PlanStatus.CLOSED
        and after.get("status") is not PlanStatus.CLOSED
        and not comment.strip()
    ):
        raise InvalidInput("Reopening a closed plan needs a comment saying why")


def check_action_change(before: Mapping[str, object], after: Mapping[str, object], comment: str):
    """Refuse action changes the rules forbid (InvalidInput says why).

    - dropping an action without a comment saying why (dropped actions stay in the record);
    - reopening a done or dropped action without a comment.
    """
    old, new = before.get("status"), after.get("status")
    if new is ActionStatus.DROPPED and old is not ActionStatus.DROPPED and not comment.strip():
        raise InvalidInput("Dropping an action needs a comment saying why")
    if (
        old in (ActionStatus.DONE, ActionStatus.DROPPED)
        and new in OPEN_ACTION_STATUSES
        and not comment.strip()
    ):
        raise InvalidInput(
            f"Reopening an action marked {ACTION_STATUS_LABELS[old].lower()} needs a comment"  # type: ignore[index]
        )


def may_update_action(actor: Principal, owner_agency: str) -> bool:
    """True when ``actor`` may update an action owned by ``owner_agency``.

    CSOs, analysts and administrators update any action; a partner only their own agency's.
    """
    if can(actor.role, Permission.MANAGE_PLANS):
        return True
    return (
        can(actor.role, Permission.UPDATE_AGENCY_ACTIONS)
        and bool(actor.agency)
        and actor.agency.casefold() == owner_agency.casefold()  # type: ignore[union-attr]
    )


def _require_action_rights(actor: Principal, owner_agency: str) -> None:
    if may_update_action(actor, owner_agency):
        return
    if can(actor.role, Permission.UPDATE_AGENCY_ACTIONS):
        raise NotAllowed(
            f"This action belongs to {owner_agency}; partners update their own agency's actions "
            f"({actor.agency or 'no agency is set on your account: ask an administrator'})."
        )
    require(actor.role, Permission.UPDATE_AGENCY_ACTIONS)  # raises with the role's message


# --- areas ---------------------------------------------------------------------------------------


def check_plan_area(area_wgs84: BaseGeometry, wards_wgs84: gpd.GeoDataFrame) -> BaseGeometry:
    """A plan area that can be stored: polygonal, valid, big enough, and in the borough.

    ``area_wgs84`` is in EPSG:4326; ``wards_wgs84`` the current wards (their union is the
    borough). Self-crossing outlines are repaired (``make_valid``); uploaded areas with very many
    vertices are simplified to 1 m. Raises InvalidInput saying what is wrong with the area.
    """
    if area_wgs84 is None or area_wgs84.is_empty:
        raise InvalidInput("The plan has no area: draw one, or pick a ward, cells or a place")
    area = shapely.make_valid(area_wgs84) if not area_wgs84.is_valid else area_wgs84
    polygons = [
        part
        for part in getattr(area, "geoms", [area])
        if part.geom_type in ("Polygon", "MultiPolygon")
    ]
    if not polygons:
        raise InvalidInput(
            f"A plan area must be a polygon or circle; got a {area_wgs84.geom_type.lower()}"
        )
    area = shapely.union_all(polygons)
    area_bng = gpd.GeoSeries([area], crs=WGS84).to_crs(BNG).iloc[0]
    if shapely.get_num_coordinates(area_bng) > MAX_AREA_VERTICES:
        area_bng = area_bng.simplify(1.0)
    if area_bng.area < MIN_AREA_M2:
        raise InvalidInput(
            f"The area is {area_bng.area:.0f} m²; a plan area must be at least {MIN_AREA_M2:.0f} m²"
        )
    borough_bng = shapely.union_all(wards_wgs84.to_crs(BNG).geometry.array)
    inside = area_bng.intersection(borough_bng).area
    if inside < 0.5 * area_bng.area:
        raise InvalidInput(
            f"Only {inside / area_bng.area:.0%} of the area is in the borough; "
            "draw the plan area over the borough's wards"
        )
    return gpd.GeoSeries([area_bng], crs=BNG).to_crs(WGS84).iloc[0]


def wards_covered(area_wgs84: BaseGeometry, wards_wgs84: gpd.GeoDataFrame) -> list[str]:
    """ONS codes of the wards holding at least 5 % of the area, biggest share first.

    The ward holding the largest share is always included, so a plan has at least one ward.
    """
    wards_bng = wards_wgs84.to_crs(BNG)
    area_bng = gpd.GeoSeries([area_wgs84], crs=WGS84).to_crs(BNG).iloc[0]
    shares = wards_bng.geometry.intersection(area_bng).area / max(area_bng.area, 1e-9)
    ranked = sorted(zip(wards_bng["code"], shares, strict=True), key=lambda item: -item[1])
    codes = [code for code, share in ranked if share >= MIN_WARD_SHARE]
    return codes or [ranked[0][0]]


def area_from_geojson(text: str) -> BaseGeometry:
    """The (multi)polygon of a GeoJSON geometry, Feature or FeatureCollection in EPSG:4326.

    Raises InvalidInput when the text is not GeoJSON or holds no polygon.
    """
    try:
        parsed = json.loads(text)
    except ValueError as error:
        raise InvalidInput(f"The file is not GeoJSON: {error}") from error
    if not isinstance(parsed, dict):
        raise InvalidInput("The file is not GeoJSON: expected an object")
    kind = parsed.get("type")
    try:
        if kind == "FeatureCollection":
            shapes = [shapely.geometry.shape(f["geometry"]) for f in parsed.get("features", [])]
        elif kind == "Feature":
            shapes = [shapely.geometry.shape(parsed["geometry"])]
        else:
            shapes = [shapely.geometry.shape(parsed)]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InvalidInput(f"The GeoJSON geometry cannot be read: {error}") from error
    polygons = [s for s in shapes if s.geom_type in ("Polygon", "MultiPolygon")]
    if not polygons:
        raise InvalidInput("The GeoJSON holds no polygon; a plan area must be a polygon")
    return shapely.union_all(polygons)


def load_places(path: Path, wards_wgs84: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Named places (estates, town centres) a plan area can be picked from, in EPSG:4326.

    ``path`` is a GeoJSON file of polygons with a ``name`` property; places outside the borough
    are left out. Columns ``name``, ``kind`` (may be empty), geometry; sorted by name. Empty when
    the file does not exist. Raises DataError when it cannot be read.
    """
    if not path.exists():
        return gpd.GeoDataFrame({"name": [], "kind": []}, geometry=[], crs=WGS84)
    try:
        places = gpd.read_file(path)
    except Exception as error:  # pyogrio raises several kinds for unreadable files
        raise DataError(f"The named places file {path} cannot be read: {error}") from error
    if "name" not in places.columns:
        raise DataError(f"The named places file {path} has no 'name' property")
    places = places.to_crs(WGS84) if places.crs else places.set_crs(WGS84)
    if "kind" not in places.columns:
        places["kind"] = ""
    borough = shapely.union_all(wards_wgs84.geometry.array)
    places = places[places.geometry.intersects(borough)]
    return places[["name", "kind", "geometry"]].sort_values("name", ignore_index=True)


# --- the update trail ----------------------------------------------------------------------------


def _json_value(value: object) -> object:
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "value"):  # enums
        return value.value  # type: ignore[attr-defined]
    return value


def _shown(name: str, value: object) -> str:
    if value in (None, ""):
        return "(none)"
    if name == "status":
        for labels in (ACTION_STATUS_LABELS, PLAN_STATUS_LABELS):
            for member, label in labels.items():
                if member.value == value:
                    return label
    if name == "sara_stage":
        return SARA_LABELS[SaraStage(value)]
    if name == "vru_theme":
        return f"{value} {VRU_THEMES.get(int(value), '')}".strip()  # type: ignore[arg-type]
    if name in ("due_on", "started_on", "review_on"):
        return f"{date.fromisoformat(str(value)):%d %b %Y}"
    if name == "partners":
        return ", ".join(str(value).splitlines())
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def describe_changes(changes_json: str) -> str:
    """A stored change as a person reads it: "status: On track -> At risk; due date: ...".

    Long text (a problem statement, a description) is cut at 80 characters.
    """
    changes = json.loads(changes_json)
    if "created" in changes:
        return "created"
    parts = []
    for name, (old, new) in changes.items():
        if name == "latitude" and "longitude" in changes:
            continue
        label = FIELD_LABELS.get(name, name)
        if name in ("longitude", "latitude", "area"):
            parts.append(f"{label} changed" if new is not None else f"{label} removed")
        else:
            parts.append(f"{label}: {_shown(name, old)} -> {_shown(name, new)}")
    return "; ".join(parts) or "comment"


def _diff(record: object, fields: Mapping[str, object]) -> dict[str, list[object]]:
    return {
        name: [_json_value(getattr(record, name)), _json_value(value)]
        for name, value in fields.items()
        if getattr(record, name) != value
    }


def _changes_since(updates: Iterable[object], since_version: int) -> tuple[str, ...]:
    return tuple(
        f"{update.changed_by} at {update.changed_at:%H:%M on %d %b %Y}: "  # type: ignore[attr-defined]
        f"{describe_changes(update.changes)}" + (f' ("{update.comment}")' if update.comment else "")  # type: ignore[attr-defined]  # type: ignore[attr-defined]
        for update in updates
        if (update.version or 0) > since_version  # type: ignore[attr-defined]
    )


def _conflict(record: Plan | Action, seen_version: int, what_happened: str) -> EditConflict:
    """The conflict for an edit made on ``seen_version``.

    It says what happened, lists the others' changes since, and carries the current version.
    """
    return EditConflict(
        f"{what_happened} Their changes are below; re-apply yours on top if they still make sense.",
        _changes_since(record.updates, seen_version),
        record.version,
    )


def _conflict_after_race(
    engine: Engine, model: type[Plan] | type[Action], record_id: int, seen_version: int, what: str
) -> EditConflict:
    """The conflict to report when another writer committed between this edit's check and write.

    It carries the other changes and the current version, like any conflict, so the person can
    re-apply their edit on top (a conflict without a version would leave nothing to re-apply on).
    """
    with session_scope(engine) as session:
        record = session.get(model, record_id)
        if record is None:
            return EditConflict(f"The {what} was removed while you were editing it")
        return _conflict(
            record, seen_version, f"This {what} was changed by someone else at the same moment."
        )


def _bump_version_for_comment(record: Plan | Action, diff: Mapping[str, object]) -> None:
    """A comment alone is an update too: give it its own version, as any other update has.

    With no field changed SQLAlchemy would write nothing and the version would not move, so two
    history rows would share one version and a comment could be hidden from a conflict report.
    """
    if not diff:  # rewriting a field with its own value makes the UPDATE that moves the version
        flag_modified(record, "status")


# --- writing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanDraft:
    """What a person fills in to open a plan (the area in EPSG:4326)."""

    title: str
    problem: str
    sara_stage: SaraStage | str
    started_on: date
    area_wgs84: BaseGeometry
    area_source: str = "drawn"
    place_name: str | None = None
    lead_cso_id: int | None = None
    partners: tuple[str, ...] = ()
    review_on: date | None = None
    status: PlanStatus | str = PlanStatus.OPEN
    outcome: str | None = None


@dataclass(frozen=True)
class ActionDraft:
    """What a person fills in to add an action (a place on the map is optional)."""

    description: str
    vru_theme: int
    owner_agency: str
    due_on: date
    owner_name: str | None = None
    owner_user_id: int | None = None
    status: ActionStatus | str = ActionStatus.NOT_STARTED
    longitude: float | None = None
    latitude: float | None = None

    def fields(self) -> dict[str, object]:
        """The draft as the field dictionary ``clean_action_fields`` takes."""
        return {name: getattr(self, name) for name in ACTION_FIELDS}


def _link_wards(session: Session, plan: Plan, codes: list[str], borough_code: str) -> None:
    vintage = session.scalar(
        select(func.max(Ward.vintage)).where(Ward.borough_code == borough_code)
    )
    if vintage is None:
        raise DataError("No ward boundaries are loaded; import them before opening plans")
    session.query(PlanWard).filter(PlanWard.plan_id == plan.id).delete()
    session.add_all(
        PlanWard(plan_id=plan.id, ward_code=code, ward_vintage=vintage) for code in codes
    )


def _check_cso(session: Session, cso_id: int | None) -> None:
    if cso_id is not None and session.get(Cso, cso_id) is None:
        raise InvalidInput(f"There is no CSO {cso_id}")


def _check_user(session: Session, user_id: int | None) -> None:
    if user_id is not None and session.get(AppUser, user_id) is None:
        raise InvalidInput(f"There is no user {user_id}")


def create_plan(
    engine: Engine,
    actor: Principal,
    draft: PlanDraft,
    wards_wgs84: gpd.GeoDataFrame,
    borough_code: str,
) -> int:
    """Open a plan; returns its id.

    The area is checked (``check_plan_area``) and linked to the wards it covers. The plan's first
    update records who opened it. Raises NotAllowed (the role may not run plans), InvalidInput
    (a field or the area is wrong).
    """
    require(actor.role, Permission.MANAGE_PLANS)
    require_borough_access(actor, borough_code)
    if draft.area_source not in AREA_SOURCES:
        raise InvalidInput(f"Unknown area source {draft.area_source!r}")
    fields = clean_plan_fields(
        {
            "title": draft.title,
            "problem": draft.problem,
            "sara_stage": draft.sara_stage,
            "status": draft.status,
            "outcome": draft.outcome,
            "lead_cso_id": draft.lead_cso_id,
            "partners": draft.partners,
            "started_on": draft.started_on,
            "review_on": draft.review_on,
            "place_name": draft.place_name,
        }
    )
    check_plan_change({}, fields, "")
    area = check_plan_area(draft.area_wgs84, wards_wgs84)
    codes = wards_covered(area, wards_wgs84)
    now = now_in_london()
    with write_scope(engine) as session:
        _check_cso(session, fields["lead_cso_id"])  # type: ignore[arg-type]
        plan = Plan(
            **fields,
            area_wkb=shapely.to_wkb(area),
            area_source=draft.area_source,
            borough_code=borough_code,
            created_by_user_id=actor.user_id or None,
            created_at=now,
        )
        session.add(plan)
        session.flush()
        _link_wards(session, plan, codes, borough_code)
        session.add(
            PlanUpdate(
                plan_id=plan.id,
                changed_by=actor.display_name,
                changed_by_user_id=actor.user_id or None,
                changed_at=now,
                changes=json.dumps({"created": [None, {"title": fields["title"]}]}),
                version=plan.version,
            )
        )
        plan_id = plan.id
    log.info("plan %d opened (%s, %d wards)", plan_id, draft.area_source, len(codes))
    return plan_id


def update_plan(
    engine: Engine,
    actor: Principal,
    plan_id: int,
    seen_version: int,
    changes: Mapping[str, object],
    comment: str = "",
    *,
    area: tuple[BaseGeometry, str, gpd.GeoDataFrame, str] | None = None,
) -> int:
    """Change a plan's fields (and optionally its area) as ``actor``; returns the new version.

    Parameters
    ----------
    engine
        The store.
    actor
        Must hold ``MANAGE_PLANS``.
    plan_id, seen_version
        The plan and the version the person was looking at.
    changes
        Field name to new value (see ``PLAN_FIELDS``); unchanged values are ignored.
    comment
        Why; required to reopen a closed plan.
    area
        ``(area_wgs84, area_source, wards_wgs84, borough_code)`` to move the plan's area.

    Raises
    ------
    EditConflict
        Someone changed the plan after ``seen_version``; nothing is written, and the error lists
        their changes and the version to re-apply on.
    InvalidInput
        A field, the area or the change breaks a rule; or nothing changed.
    """
    require(actor.role, Permission.MANAGE_PLANS)
    fields = clean_plan_fields(changes)
    new_area = None
    if area is not None:
        new_area = check_plan_area(area[0], area[2])
    try:
        with write_scope(engine) as session:
            plan = session.get(Plan, plan_id, with_for_update=True)
            if plan is None:
                raise InvalidInput(f"There is no plan {plan_id}")
            require_borough_access(actor, plan.borough_code)
            if area is not None:
                require_borough_access(actor, area[3])
            if plan.version != seen_version:
                raise _conflict(
                    plan,
                    seen_version,
                    f"“{plan.title}” was changed by someone else after you opened it.",
                )
            if "lead_cso_id" in fields:
                _check_cso(session, fields["lead_cso_id"])  # type: ignore[arg-type]
            before = {name: getattr(plan, name) for name in PLAN_FIELDS}
            check_plan_change(before, {**before, **fields}, comment)
            diff = _diff(plan, fields)
            if new_area is not None and shapely.to_wkb(new_area) != plan.area_wkb:
                old_bng = gpd.GeoSeries(shapely.from_wkb([plan.area_wkb]), crs=WGS84).to_crs(BNG)
                new_bng = gpd.GeoSeries([new_area], crs=WGS84).to_crs(BNG)
                diff["area"] = [
                    f"{old_bng.area.iloc[0] / 10_000:.1f} ha",
                    f"{new_bng.area.iloc[0] / 10_000:.1f} ha ({area[1]})",  # type: ignore[index]
                ]
                plan.area_wkb = shapely.to_wkb(new_area)
                plan.area_source = area[1]  # type: ignore[index]
                plan.borough_code = area[3]  # type: ignore[index]
                _link_wards(session, plan, wards_covered(new_area, area[2]), area[3])  # type: ignore[index]
            if not diff and not comment.strip():
                raise InvalidInput("Nothing changed: edit a field or write a comment")
            for name in diff:
                if name != "area":
                    setattr(plan, name, fields[name])
            _bump_version_for_comment(plan, diff)
            session.flush()  # UPDATE ... WHERE version = seen: a racing writer makes it stale
            session.add(
                PlanUpdate(
                    plan_id=plan.id,
                    changed_by=actor.display_name,
                    changed_by_user_id=actor.user_id or None,
                    changed_at=now_in_london(),
                    changes=json.dumps(diff),
                    comment=comment.strip() or None,
                    version=plan.version,
                )
            )
            version = plan.version
    except StaleDataError as error:
        raise _conflict_after_race(engine, Plan, plan_id, seen_version, "plan") from error
    log.info("plan %d updated: %s", plan_id, ", ".join(sorted(diff)) or "comment")
    return version


def add_action(
    engine: Engine, actor: Principal, plan_id: int, draft: ActionDraft, comment: str = ""
) -> int:
    """Add an action to an open or monitored plan; returns its id.

    CSOs, analysts and administrators add actions for any agency; a partner only for their own.
    The action's first update records who added it. Raises NotAllowed, InvalidInput (a field is
    wrong, or the plan is closed: reopen it first).
    """
    fields = clean_action_fields(draft.fields())
    _require_action_rights(actor, str(fields["owner_agency"]))
    if fields["status"] in (ActionStatus.DONE, ActionStatus.DROPPED):
        raise InvalidInput("A new action starts open (not started, on track or at risk)")
    now = now_in_london()
    with write_scope(engine) as session:
        plan = session.get(Plan, plan_id)
        if plan is None:
            raise InvalidInput(f"There is no plan {plan_id}")
        require_borough_access(actor, plan.borough_code)
        if plan.status is PlanStatus.CLOSED:
            raise InvalidInput(f"“{plan.title}” is closed; reopen it before adding actions")
        _check_user(session, fields["owner_user_id"])  # type: ignore[arg-type]
        action = Action(plan_id=plan_id, created_at=now, **fields)
        session.add(action)
        session.flush()
        session.add(
            ActionUpdate(
                action_id=action.id,
                changed_by=actor.display_name,
                changed_by_user_id=actor.user_id or None,
                changed_at=now,
                changes=json.dumps(
                    {"created": [None, {k: _json_value(v) for k, v in fields.items()}]}
                ),
                comment=comment.strip() or None,
                version=action.version,
            )
        )
        action_id = action.id
    log.info("action %d added to plan %d", action_id, plan_id)
    return action_id


def update_action(
    engine: Engine,
    actor: Principal,
    action_id: int,
    seen_version: int,
    changes: Mapping[str, object],
    comment: str = "",
) -> int:
    """Change an action as ``actor`` and append the update to its history; returns the new version.

    ``changes`` maps field names (``ACTION_FIELDS``) to new values; a comment alone is an update
    too. A partner may update only their own agency's actions and cannot hand one to another
    agency. Raises EditConflict (someone changed it after ``seen_version``: nothing written, the
    error lists their changes and the version to re-apply on), NotAllowed, InvalidInput.
    """
    fields = clean_action_fields(changes)
    comment = comment.strip()
    try:
        with write_scope(engine) as session:
            action = session.get(Action, action_id, with_for_update=True)
            if action is None:
                raise InvalidInput(f"There is no action {action_id}")
            require_borough_access(actor, session.get(Plan, action.plan_id).borough_code)
            _require_action_rights(actor, action.owner_agency)
            if (
                "owner_agency" in fields
                and fields["owner_agency"] != action.owner_agency
                and not can(actor.role, Permission.MANAGE_PLANS)
            ):
                raise NotAllowed(
                    "Partners cannot hand an action to another agency; ask the plan's CSO"
                )
            if action.version != seen_version:
                raise _conflict(
                    action,
                    seen_version,
                    "This action was changed by someone else after you opened it.",
                )
            if "owner_user_id" in fields:
                _check_user(session, fields["owner_user_id"])  # type: ignore[arg-type]
            before = {name: getattr(action, name) for name in ACTION_FIELDS}
            check_action_change(before, {**before, **fields}, comment)
            diff = _diff(action, fields)
            if not diff and not comment:
                raise InvalidInput("Nothing changed: edit a field or write a comment")
            for name in diff:
                setattr(action, name, fields[name])
            _bump_version_for_comment(action, diff)
            session.flush()  # UPDATE ... WHERE version = seen: a racing writer makes it stale
            session.add(
                ActionUpdate(
                    action_id=action.id,
                    changed_by=actor.display_name,
                    changed_by_user_id=actor.user_id or None,
                    changed_at=now_in_london(),
                    changes=json.dumps(diff),
                    comment=comment or None,
                    version=action.version,
                )
            )
            version = action.version
    except StaleDataError as error:
        raise _conflict_after_race(engine, Action, action_id, seen_version, "action") from error
    log.info("action %d updated: %s", action_id, ", ".join(sorted(diff)) or "comment")
    return version


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRecord:
    """One plan as its page shows it (the area in EPSG:4326)."""

    plan_id: int
    title: str
    problem: str
    sara_stage: SaraStage
    status: PlanStatus
    outcome: str | None
    lead_cso_id: int | None
    lead_cso_name: str | None
    partners: tuple[str, ...]
    started_on: date
    review_on: date | None
    place_name: str | None
    area_source: str
    area_wgs84: BaseGeometry
    ward_codes: tuple[str, ...]
    ward_names: tuple[str, ...]
    created_at: datetime | None
    version: int
    area_ha: float = field(default=0.0)


def plan_record(
    engine: Engine, role: Role | None, plan_id: int, *, boroughs: Boroughs = None
) -> PlanRecord:
    """The plan ``plan_id``; raises InvalidInput when there is none in ``boroughs``.

    Another borough's plan is "none" too, so its id tells nothing about it.
    """
    require(role, Permission.VIEW_PLANS)
    with session_scope(engine) as session:
        plan = session.scalar(
            select(Plan).where(
                Plan.id == plan_id, in_boroughs(session, Plan.borough_code, boroughs)
            )
        )
        if plan is None:
            raise InvalidInput(f"There is no plan {plan_id}")
        lead = session.get(Cso, plan.lead_cso_id) if plan.lead_cso_id else None
        wards = session.execute(
            select(Ward.code, Ward.name)
            .join(
                PlanWard,
                (PlanWard.ward_code == Ward.code) & (PlanWard.ward_vintage == Ward.vintage),
            )
            .where(PlanWard.plan_id == plan_id)
            .order_by(Ward.name)
        ).all()
        area = shapely.from_wkb(plan.area_wkb)
        area_ha = gpd.GeoSeries([area], crs=WGS84).to_crs(BNG).area.iloc[0] / 10_000
        return PlanRecord(
            plan_id=plan.id,
            title=plan.title,
            problem=plan.problem,
            sara_stage=plan.sara_stage,
            status=plan.status,
            outcome=plan.outcome,
            lead_cso_id=plan.lead_cso_id,
            lead_cso_name=lead.display_name if lead else None,
            partners=tuple(filter(None, plan.partners.splitlines())),
            started_on=plan.started_on,
            review_on=plan.review_on,
            place_name=plan.place_name,
            area_source=plan.area_source,
            area_wgs84=area,
            ward_codes=tuple(code for code, _name in wards),
            ward_names=tuple(name for _code, name in wards),
            created_at=plan.created_at,
            version=plan.version,
            area_ha=round(float(area_ha), 1),
        )


ACTION_COLUMNS = [
    "action_id",
    "plan_id",
    "plan_title",
    "plan_status",
    "description",
    "vru_theme",
    "theme",
    "owner_agency",
    "owner_name",
    "owner_user_id",
    "due_on",
    "status",
    "status_label",
    "flag",
    "longitude",
    "latitude",
    "last_update_at",
    "last_update_by",
    "version",
]


def actions(
    engine: Engine,
    role: Role | None,
    today: date,
    plan_ids: Iterable[int] | None = None,
    *,
    boroughs: Boroughs = None,
) -> pd.DataFrame:
    """Actions (all of ``boroughs``', or of ``plan_ids``) with their flag on ``today``.

    Columns ``ACTION_COLUMNS``.

    Sorted worst flag first (overdue, at risk, due soon, ...), then soonest due. ``status`` is
    the stored value (``not_started``), ``status_label`` and ``flag`` are for people.
    """
    require(role, Permission.VIEW_PLANS)
    last = (
        select(ActionUpdate.action_id, func.max(ActionUpdate.id).label("update_id"))
        .group_by(ActionUpdate.action_id)
        .subquery()
    )
    query = (
        select(Action, Plan.title, Plan.status, ActionUpdate.changed_at, ActionUpdate.changed_by)
        .join(Plan, Plan.id == Action.plan_id)
        .outerjoin(last, last.c.action_id == Action.id)
        .outerjoin(ActionUpdate, ActionUpdate.id == last.c.update_id)
    )
    if plan_ids is not None:
        query = query.where(Action.plan_id.in_(list(plan_ids)))
    with session_scope(engine) as session:
        rows = session.execute(query.where(in_boroughs(session, Plan.borough_code, boroughs))).all()
    records = [
        {
            "action_id": action.id,
            "plan_id": action.plan_id,
            "plan_title": title,
            "plan_status": plan_status.value,
            "description": action.description,
            "vru_theme": action.vru_theme,
            "theme": VRU_THEMES[action.vru_theme],
            "owner_agency": action.owner_agency,
            "owner_name": action.owner_name,
            "owner_user_id": action.owner_user_id,
            "due_on": action.due_on,
            "status": action.status.value,
            "status_label": ACTION_STATUS_LABELS[action.status],
            "flag": action_flag(action.status, action.due_on, today),
            "longitude": action.longitude,
            "latitude": action.latitude,
            "last_update_at": changed_at,
            "last_update_by": changed_by,
            "version": action.version,
        }
        for action, title, plan_status, changed_at, changed_by in rows
    ]
    frame = pd.DataFrame(records, columns=ACTION_COLUMNS)
    frame["owner_user_id"] = frame["owner_user_id"].astype("Int64")
    # pandas would store a missing owner as NaN (a truthy float) once any action has one;
    # None keeps "no owner" falsy and empty wherever it is shown or edited
    frame["owner_name"] = (
        frame["owner_name"].astype(object).where(frame["owner_name"].notna(), None)
    )
    return _sorted_by_flag(frame)


def _sorted_by_flag(frame: pd.DataFrame) -> pd.DataFrame:
    rank = frame["flag"].map({flag: index for index, flag in enumerate(FLAG_ORDER)})
    return (
        frame.assign(_rank=rank)
        .sort_values(["_rank", "due_on", "action_id"])
        .drop(columns="_rank")
        .reset_index(drop=True)
    )


def my_actions(
    engine: Engine,
    actor: Principal,
    today: date,
    include_closed: bool = False,
    keep: Collection[int] = (),
    *,
    boroughs: Boroughs = None,
) -> pd.DataFrame:
    """What ``actor`` or their agency owns, soonest due first (``ACTION_COLUMNS``).

    Owned means: the action names the actor's account, or the actor's agency owns it. Done and
    dropped actions are left out unless ``include_closed``, or unless their id is in ``keep``
    (a page keeps what it already shows: an action someone else closes while its form is open
    stays, so the person's save meets the conflict instead of vanishing with the action).
    Overdue ones come first because they are the soonest due.
    """
    frame = actions(engine, actor.role, today, boroughs=boroughs)
    mine = frame["owner_user_id"].eq(actor.user_id).fillna(False)
    if actor.agency:
        mine |= frame["owner_agency"].str.casefold() == actor.agency.casefold()
    if not include_closed:
        mine &= frame["status"].isin([status.value for status in OPEN_ACTION_STATUSES]) | frame[
            "action_id"
        ].isin(list(keep))
    return frame[mine].sort_values(["due_on", "action_id"], ignore_index=True)


PLAN_COLUMNS = [
    "plan_id",
    "title",
    "status",
    "sara_stage",
    "lead_cso_name",
    "ward_codes",
    "started_on",
    "review_on",
    "open_actions",
    "overdue_actions",
    "at_risk_actions",
    "done_actions",
    "total_actions",
    "version",
]


def plans(
    engine: Engine,
    role: Role | None,
    today: date,
    all_actions: pd.DataFrame | None = None,
    *,
    boroughs: Boroughs = None,
) -> gpd.GeoDataFrame:
    """Every plan with its action counts on ``today``, in EPSG:4326; ``PLAN_COLUMNS`` + geometry.

    ``status`` and ``sara_stage`` are the stored values; ``ward_codes`` a comma-separated string.
    Sorted: open first, then monitoring, then closed; newest start first within each.
    ``all_actions`` is what ``actions(engine, role, today, boroughs=boroughs)`` returned, when
    the caller has it already; otherwise it is read here.
    """
    require(role, Permission.VIEW_PLANS)
    with session_scope(engine) as session:
        rows = session.execute(
            select(Plan, Cso.display_name)
            .outerjoin(Cso, Cso.id == Plan.lead_cso_id)
            .where(in_boroughs(session, Plan.borough_code, boroughs))
        ).all()
        links = session.execute(
            select(PlanWard.plan_id, PlanWard.ward_code).order_by(PlanWard.ward_code)
        ).all()
    codes: dict[int, list[str]] = {}
    for plan_id, code in links:
        codes.setdefault(plan_id, []).append(code)
    counts = actions(engine, role, today, boroughs=boroughs) if all_actions is None else all_actions
    by_plan = counts.groupby("plan_id")
    records = []
    for plan, lead_name in rows:
        plan_actions = by_plan.get_group(plan.id) if plan.id in by_plan.groups else counts.iloc[0:0]
        status = plan_actions["status"]
        records.append(
            {
                "plan_id": plan.id,
                "title": plan.title,
                "status": plan.status.value,
                "sara_stage": plan.sara_stage.value,
                "lead_cso_name": lead_name,
                "ward_codes": ",".join(codes.get(plan.id, [])),
                "started_on": plan.started_on,
                "review_on": plan.review_on,
                "open_actions": int(status.isin([s.value for s in OPEN_ACTION_STATUSES]).sum()),
                "overdue_actions": int((plan_actions["flag"] == FLAG_OVERDUE).sum()),
                "at_risk_actions": int((plan_actions["flag"] == FLAG_AT_RISK).sum()),
                "done_actions": int((status == ActionStatus.DONE.value).sum()),
                "total_actions": len(plan_actions),
                "version": plan.version,
                "geometry": shapely.from_wkb(plan.area_wkb),
            }
        )
    frame = gpd.GeoDataFrame(
        pd.DataFrame(records, columns=[*PLAN_COLUMNS, "geometry"]), geometry="geometry", crs=WGS84
    )
    order = {PlanStatus.OPEN.value: 0, PlanStatus.MONITORING.value: 1, PlanStatus.CLOSED.value: 2}
    frame["_order"] = frame["status"].map(order)
    frame = frame.sort_values(["_order", "started_on"], ascending=[True, False])
    return frame.drop(columns="_order").reset_index(drop=True)


HISTORY_COLUMNS = ["when", "who", "what changed", "comment"]


def action_history(
    engine: Engine, role: Role | None, action_id: int, *, boroughs: Boroughs = None
) -> pd.DataFrame:
    """The action's update trail, newest first: ``HISTORY_COLUMNS`` (empty outside ``boroughs``)."""
    require(role, Permission.VIEW_PLANS)
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                ActionUpdate.changed_at,
                ActionUpdate.changed_by,
                ActionUpdate.changes,
                ActionUpdate.comment,
            )
            .join(Action, Action.id == ActionUpdate.action_id)
            .join(Plan, Plan.id == Action.plan_id)
            .where(
                ActionUpdate.action_id == action_id,
                in_boroughs(session, Plan.borough_code, boroughs),
            )
            .order_by(ActionUpdate.id.desc())
        ).all()
    return _history(rows)


def plan_history(
    engine: Engine, role: Role | None, plan_id: int, *, boroughs: Boroughs = None
) -> pd.DataFrame:
    """The plan's own update trail (not its actions'), newest first: ``HISTORY_COLUMNS``.

    Empty for a plan outside ``boroughs``.
    """
    require(role, Permission.VIEW_PLANS)
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                PlanUpdate.changed_at, PlanUpdate.changed_by, PlanUpdate.changes, PlanUpdate.comment
            )
            .join(Plan, Plan.id == PlanUpdate.plan_id)
            .where(PlanUpdate.plan_id == plan_id, in_boroughs(session, Plan.borough_code, boroughs))
            .order_by(PlanUpdate.id.desc())
        ).all()
    return _history(rows)


def _history(rows: list) -> pd.DataFrame:
    return pd.DataFrame(
        [(at, by, describe_changes(changes), comment or "") for at, by, changes, comment in rows],
        columns=HISTORY_COLUMNS,
    )


def known_agencies(engine: Engine, role: Role | None, *, boroughs: Boroughs = None) -> list[str]:
    """Agencies known to the store: users', and ``boroughs``' action owners and plan partners.

    Sorted, and offered as choices so the same agency is not spelt three ways.
    """
    require(role, Permission.VIEW_PLANS)
    with session_scope(engine) as session:
        in_scope = in_boroughs(session, Plan.borough_code, boroughs)
        names = set(
            session.scalars(
                select(Action.owner_agency)
                .join(Plan, Plan.id == Action.plan_id)
                .where(in_scope)
                .distinct()
            )
        )
        names |= set(filter(None, session.scalars(select(AppUser.agency).distinct())))
        for partners in session.scalars(select(Plan.partners).where(in_scope)):
            names |= set(filter(None, partners.splitlines()))
    return sorted(names, key=str.casefold)


def plans_using_wards(session: Session, codes: Iterable[str], vintage: str) -> list[str]:
    """Titles of plans linked to any of the wards ``codes`` of ``vintage`` (for refusals)."""
    return list(
        session.scalars(
            select(Plan.title)
            .join(PlanWard, PlanWard.plan_id == Plan.id)
            .where(PlanWard.ward_code.in_(list(codes)), PlanWard.ward_vintage == vintage)
            .distinct()
            .order_by(Plan.title)
        )
    )


def refuse_removing_wards(session: Session, codes: Iterable[str], vintage: str, what: str) -> None:
    """Raise InvalidInput when removing the wards ``codes`` of ``vintage`` would orphan plans."""
    titles = plans_using_wards(session, codes, vintage)
    if titles:
        shown = "; ".join(titles[:5]) + (f" and {len(titles) - 5} more" if len(titles) > 5 else "")
        raise InvalidInput(
            f"{what} would remove wards that problem-solving plans cover ({shown}). Plans keep "
            "their wards; load the replacement ward set first, or move those plans' areas."
        )


def user_has_plan_history(session: Session, user_id: int) -> bool:
    """True when the user opened a plan, owns an action or wrote a plan or action update."""
    checks = (
        select(Plan.id).where(Plan.created_by_user_id == user_id),
        select(Action.id).where(Action.owner_user_id == user_id),
        select(ActionUpdate.id).where(ActionUpdate.changed_by_user_id == user_id),
        select(PlanUpdate.id).where(PlanUpdate.changed_by_user_id == user_id),
    )
    return any(session.scalar(check.limit(1)) is not None for check in checks)


UPDATE_TRAIL_COLUMNS = ["id", "changed_at", "changes"]


def update_trails(
    engine: Engine, role: Role | None, *, boroughs: Boroughs = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``boroughs``' action and plan update trails, oldest first, for "as it stood on" views.

    Returns (action updates with ``action_id``, plan updates with ``plan_id``), each with
    ``UPDATE_TRAIL_COLUMNS``; ``changes`` is the stored JSON text.
    """
    require(role, Permission.VIEW_PLANS)
    with session_scope(engine) as session:
        in_scope = in_boroughs(session, Plan.borough_code, boroughs)
        action_rows = session.execute(
            select(
                ActionUpdate.action_id,
                ActionUpdate.id,
                ActionUpdate.changed_at,
                ActionUpdate.changes,
            )
            .join(Action, Action.id == ActionUpdate.action_id)
            .join(Plan, Plan.id == Action.plan_id)
            .where(in_scope)
            .order_by(ActionUpdate.id)
        ).all()
        plan_rows = session.execute(
            select(PlanUpdate.plan_id, PlanUpdate.id, PlanUpdate.changed_at, PlanUpdate.changes)
            .join(Plan, Plan.id == PlanUpdate.plan_id)
            .where(in_scope)
            .order_by(PlanUpdate.id)
        ).all()
    return (
        pd.DataFrame(action_rows, columns=["action_id", *UPDATE_TRAIL_COLUMNS]),
        pd.DataFrame(plan_rows, columns=["plan_id", *UPDATE_TRAIL_COLUMNS]),
    )
