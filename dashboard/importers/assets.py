"""Knife bins and Youth Bus stops, the Youth Bus schedule, and CSO ward assignments.

These are small, hand-kept files (tens of rows), so they are read whole and checked row by row.
Each has a ``prepare_*`` function that validates without writing and a ``commit_*`` function
that writes in one transaction. A file with any rejected row is not committed: these imports
replace what is stored (a borough's assets of a kind, its whole schedule) or change history
(assignments), so loading part of a file would leave the map wrong. The schemas are in
``docs/import-formats.md``.

Each file is one borough's (the ``borough_code`` it is imported for): a store may hold several,
so stops and CSOs are matched by name within that borough only, new rows carry its code, and
what a file replaces is that borough's alone. Rows of no borough, kept from before the store
held boroughs, count as the borough's while the store holds just the one
(``dashboard.store.scope.in_boroughs``).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, time, timedelta

import numpy as np
import shapely
from sqlalchemy import ColumnElement, Engine, Select, delete, func, select, update
from sqlalchemy.orm import Session

from dashboard.access import Permission, Role, require
from dashboard.boroughs import borough_name
from dashboard.errors import ImportRefused, InvalidInput
from dashboard.geo import BNG, wgs84_to_bng
from dashboard.importers.log import open_import, previous_import
from dashboard.importers.police_uk import UK_LATITUDE, UK_LONGITUDE
from dashboard.importers.validation import (
    ImportReport,
    PreparedImport,
    RowError,
    check_size,
    decode_text,
    require_columns,
    sha256_of,
)
from dashboard.store.models import Asset, AssetKind, Cso, CsoAssignment, Ward, YouthBusVisit
from dashboard.store.queries import WEEKDAY_NAMES, current_wards
from dashboard.store.scope import in_boroughs
from dashboard.store.session import session_scope

log = logging.getLogger(__name__)

ASSETS_KIND = "assets"
YOUTH_BUS_KIND = "youth-bus"
CSO_KIND = "cso-assignments"
ASSET_COLUMNS = ("kind", "name", "address", "latitude", "longitude", "public", "guidance", "notes")
ASSET_REQUIRED = ("kind", "name", "latitude", "longitude", "public")
YOUTH_BUS_COLUMNS = ("stop_name", "weekday", "on_date", "starts_at", "ends_at", "activity")
YOUTH_BUS_REQUIRED = ("stop_name", "starts_at", "ends_at")
CSO_COLUMNS = ("cso_name", "ward_code", "valid_from", "contact")
CSO_REQUIRED = ("cso_name", "ward_code", "valid_from")
MAX_NAME_CHARS = 200
MAX_ADDRESS_CHARS = 300
MAX_ACTIVITY_CHARS = 200
ALREADY_ASSIGNED = "already assigned to that CSO"
DATA_PAGE_EDIT = "edited on the Data page"
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_UK_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_WEEKDAYS = {name.lower(): index for index, name in enumerate(WEEKDAY_NAMES)} | {
    name[:3].lower(): index for index, name in enumerate(WEEKDAY_NAMES)
}
UNDO_CANNOT_RESTORE = (
    "undoing this import cannot bring back what it replaced: import the previous file again instead"
)


# --- reading ------------------------------------------------------------------------------------


def _single_file(files: list[tuple[str, bytes]], what: str) -> tuple[str, bytes]:
    if len(files) != 1:
        raise ImportRefused(f"Give one {what} file at a time (got {len(files)})")
    name, content = files[0]
    check_size(name, len(content))
    return name, content


def _csv_records(
    name: str, content: bytes, expected: tuple[str, ...], required: tuple[str, ...], kind: str
) -> list[tuple[int, dict[str, str]]]:
    """``(line, {column: stripped value})`` of each data row; blank and repeated header lines out.

    Headers are matched without case or surrounding spaces. Raises ImportRefused for an empty
    file or one without the required columns.
    """
    lines = list(csv.reader(io.StringIO(decode_text(name, content))))
    numbered = [
        (number, row) for number, row in enumerate(lines, start=1) if any(c.strip() for c in row)
    ]
    if not numbered:
        raise ImportRefused(f"{name} is empty; choose the file again")
    header = [cell.strip().lower() for cell in numbered[0][1]]
    require_columns(name, header, list(required), kind)
    records = []
    for number, row in numbered[1:]:
        cells = [cell.strip() for cell in row]
        if [cell.lower() for cell in cells] == header:
            continue  # a header row repeated mid-file
        cells += [""] * (len(header) - len(cells))
        record = {
            column: cells[header.index(column)] if column in header else "" for column in expected
        }
        records.append((number, record))
    return records


def _parse_date(text: str) -> date | None:
    """A date given as YYYY-MM-DD or DD/MM/YYYY; None when it is neither or no such day."""
    iso, uk = _ISO_DATE.fullmatch(text), _UK_DATE.fullmatch(text)
    try:
        if iso:
            return date(int(iso[1]), int(iso[2]), int(iso[3]))
        if uk:
            return date(int(uk[3]), int(uk[2]), int(uk[1]))
    except ValueError:
        return None
    return None


def _parse_time(text: str) -> time | None:
    found = _TIME.fullmatch(text)
    if not found or int(found[1]) > 23 or int(found[2]) > 59:
        return None
    return time(int(found[1]), int(found[2]))


def _borough_assets(session: Session, borough_code: str) -> ColumnElement[bool]:
    """The condition keeping the borough's assets (all of them in a store of that borough only)."""
    return in_boroughs(session, Asset.borough_code, (borough_code,))


def _borough_outline(engine: Engine, borough_code: str, role: Role | None) -> shapely.Geometry:
    wards = current_wards(engine, borough_code, role)
    if wards.empty:
        raise ImportRefused(
            f"The store holds no wards for {borough_code}; import the ward boundaries first"
        )
    outline = shapely.union_all(wards.to_crs(BNG).geometry.to_numpy())
    shapely.prepare(outline)
    return outline


# --- knife bins and other assets -----------------------------------------------------------------


@dataclass
class AssetsPayload:
    """What ``commit_assets`` writes: the new assets, replacing the borough's of their kinds."""

    assets: list[dict[str, object]]
    kinds: tuple[str, ...]
    borough_code: str


def _geojson_records(name: str, content: bytes) -> list[tuple[int, dict[str, str]]]:
    """``(feature number, properties with latitude/longitude)`` of a GeoJSON FeatureCollection."""
    try:
        document = json.loads(decode_text(name, content))
        features = document["features"]
        if not isinstance(features, list):
            raise TypeError("features is not a list")
    except (ValueError, KeyError, TypeError) as error:
        raise ImportRefused(
            f"{name} is not a GeoJSON FeatureCollection of points ({error}); save it again as "
            "GeoJSON, or give the assets as CSV"
        ) from error
    records = []
    for number, feature in enumerate(features, start=1):
        properties = dict((feature or {}).get("properties") or {})
        geometry = (feature or {}).get("geometry") or {}
        record = {
            column: "" if properties.get(column) is None else str(properties[column]).strip()
            for column in ASSET_COLUMNS
        }
        if isinstance(properties.get("public"), bool):
            record["public"] = "true" if properties["public"] else "false"
        coordinates = geometry.get("coordinates")
        if (
            geometry.get("type") == "Point"
            and isinstance(coordinates, list)
            and len(coordinates) >= 2
        ):
            record["longitude"], record["latitude"] = (str(value) for value in coordinates[:2])
        else:
            record["longitude"] = record["latitude"] = ""
            record["_geometry"] = str(geometry.get("type") or "none")
        records.append((number, record))
    return records


def _check_asset(
    name: str, line: int, record: dict[str, str], errors: list[RowError]
) -> dict[str, object] | None:
    """The asset a record describes, or None after adding its RowErrors."""
    found: list[RowError] = []

    def reject(column: str, reason: str) -> None:
        found.append(RowError(line, column, record.get(column, ""), reason, name))

    kinds = [kind.value for kind in AssetKind]
    if record["kind"] not in kinds:
        reject("kind", f"unknown kind: use one of {', '.join(kinds)}")
    if not record["name"]:
        reject("name", "name is required")
    elif len(record["name"]) > MAX_NAME_CHARS:
        reject("name", f"longer than {MAX_NAME_CHARS} characters")
    if len(record["address"]) > MAX_ADDRESS_CHARS:
        reject("address", f"longer than {MAX_ADDRESS_CHARS} characters")
    if "_geometry" in record:
        reject("geometry", f"a {record['_geometry']} geometry: each feature must be a Point")
    coordinates: dict[str, float] = {}
    for column, (low, high), (uk_low, uk_high) in (
        ("latitude", (-90, 90), UK_LATITUDE),
        ("longitude", (-180, 180), UK_LONGITUDE),
    ):
        if "_geometry" in record:
            break
        try:
            value = float(record[column])
        except ValueError:
            reject(column, "not a number" if record[column] else f"{column} is required")
            continue
        if not np.isfinite(value) or not low <= value <= high:
            reject(column, f"impossible (outside {low}..{high})")
        elif not uk_low <= value <= uk_high:
            reject(column, "nowhere near London (latitude and longitude swapped?)")
        else:
            coordinates[column] = value
    public = record["public"].lower()
    if public not in ("true", "false"):
        reject("public", "public must be true or false")
    errors.extend(found)
    if found:
        return None
    return {
        "kind": AssetKind(record["kind"]),
        "name": record["name"],
        "address": record["address"],
        "longitude": coordinates["longitude"],
        "latitude": coordinates["latitude"],
        "public": public == "true",
        "guidance": record["guidance"] or None,
        "notes": record["notes"] or None,
        "line": line,
    }


def prepare_assets(
    engine: Engine, files: list[tuple[str, bytes]], borough_code: str, role: Role | None
) -> PreparedImport:
    """Validate a knife bin / Youth Bus stop file (CSV or GeoJSON points) without writing.

    Parameters
    ----------
    engine
        The store (read only): its wards give the borough, its assets what will be replaced.
    files
        One ``(file name, bytes)``: CSV with ``kind,name,address,latitude,longitude,public,
        guidance,notes``, or a GeoJSON FeatureCollection of Points with those properties.
    borough_code
        The borough's ONS code (E09...): the file replaces its assets only, not other boroughs'.
    role
        Must hold ``LOAD_DATA``.

    Returns
    -------
    A ``PreparedImport`` whose payload is an ``AssetsPayload``. Its warnings say how many of the
    borough's stored assets the file replaces and which assets lie outside the borough (they are
    still loaded). Raises ImportRefused for an empty, unreadable or wrong-kind file.
    """
    require(role, Permission.LOAD_DATA)
    name, content = _single_file(files, "asset")
    if name.lower().endswith((".geojson", ".json")) or content.lstrip()[:1] == b"{":
        records = _geojson_records(name, content)
    else:
        records = _csv_records(name, content, ASSET_COLUMNS, ASSET_REQUIRED, "asset")
    outline = _borough_outline(engine, borough_code, role)
    report = ImportReport(
        kind=ASSETS_KIND,
        file_names=[name],
        file_sha256=sha256_of(content),
        borough_code=borough_code,
    )
    assets: list[dict[str, object]] = []
    first_line: dict[tuple[str, str], int] = {}
    for line, record in records:
        report.rows_read += 1
        asset = _check_asset(name, line, record, report.rejected)
        if asset is None:
            continue
        key = (str(asset["kind"]), str(asset["name"]).casefold())
        if key in first_line:
            report.rejected.append(
                RowError(
                    line,
                    "name",
                    str(asset["name"]),
                    f"a second {asset['kind']} of this name (first on line {first_line[key]}); "
                    "give each asset its own name",
                    name,
                )
            )
            continue
        first_line[key] = line
        assets.append(asset)
    if assets:
        x_bng, y_bng = wgs84_to_bng(
            np.array([a["longitude"] for a in assets]), np.array([a["latitude"] for a in assets])
        )
        inside = shapely.contains_xy(outline, x_bng, y_bng)
        outside = [str(a["name"]) for a, ok in zip(assets, inside, strict=True) if not ok]
        if outside:
            report.warnings.append(
                f"{len(outside)} asset(s) lie outside the borough and are loaded anyway (a bin "
                f"may stand just over the boundary): {'; '.join(outside)}"
            )
    kinds = tuple(sorted({str(a["kind"]) for a in assets}))
    report.rows_accepted = len(assets)
    with session_scope(engine) as session:
        stored = dict(
            session.execute(
                select(Asset.kind, func.count(Asset.id))
                .where(
                    Asset.kind.in_([AssetKind(kind) for kind in kinds]),
                    _borough_assets(session, borough_code),
                )
                .group_by(Asset.kind)
            ).all()
        )
        kept_visits, lost_visits = (
            _visits_kept_and_lost(session, assets, borough_code) if kinds else (0, 0)
        )
    if kinds:
        replaced = ", ".join(f"{stored.get(AssetKind(kind), 0)} {kind}" for kind in kinds)
        report.warnings.append(
            f"this file replaces every stored asset of its kinds in {borough_name(borough_code)} "
            f"({replaced}): they are removed when it is loaded; undoing this import removes the "
            "assets it adds but cannot bring back the ones it replaced (import the previous file "
            "again instead)"
        )
    if lost_visits:
        report.warnings.append(
            f"{lost_visits} Youth Bus visit(s) are at stops not in this file and are removed; "
            f"{kept_visits} move to the new stop of the same name"
        )
    report.already_imported_as = previous_import(engine, ASSETS_KIND, report.file_sha256)
    log.info(
        "assets prepared: sha256 %s, %d to load, %d rejected",
        report.file_sha256,
        report.rows_accepted,
        report.rows_rejected,
    )
    payload = AssetsPayload(assets=assets, kinds=kinds, borough_code=borough_code)
    return PreparedImport(report=report, payload=payload)


def _visits_kept_and_lost(
    session: Session, assets: list[dict[str, object]], borough_code: str
) -> tuple[int, int]:
    """The borough's Youth Bus visits whose stop is (kept) or is not (lost) named again."""
    new_stops = {str(a["name"]).casefold() for a in assets if a["kind"] == AssetKind.YOUTH_BUS_STOP}
    if not any(a["kind"] == AssetKind.YOUTH_BUS_STOP for a in assets):
        return 0, 0
    names = session.scalars(
        select(Asset.name)
        .join(YouthBusVisit, YouthBusVisit.stop_id == Asset.id)
        .where(_borough_assets(session, borough_code))
    ).all()
    kept = sum(1 for stop in names if stop.casefold() in new_stops)
    return kept, len(names) - kept


def _refuse_rejected(report: ImportReport) -> None:
    if report.rejected:
        raise ImportRefused(
            f"{report.rows_rejected} row(s) of {', '.join(report.file_names)} were rejected; "
            "this kind of file is loaded whole or not at all: correct them and check it again"
        )


def commit_assets(
    engine: Engine, prepared: PreparedImport, imported_by: str, role: Role | None
) -> int:
    """Replace the borough's stored assets of the file's kinds with the file's, in one transaction.

    Other boroughs' assets are untouched. The borough's Youth Bus visits move to its new stop of
    the same name (matched without case); visits at its stops that are gone are removed. The new
    assets carry the borough and the import id, so undoing the import removes them (it cannot
    bring back the replaced ones). Returns the import id. Raises ImportRefused when rows were
    rejected.
    """
    require(role, Permission.LOAD_DATA)
    _refuse_rejected(prepared.report)
    payload: AssetsPayload = prepared.payload  # type: ignore[assignment]
    kinds = [AssetKind(kind) for kind in payload.kinds]
    with session_scope(engine) as session:
        entry = open_import(session, prepared.report, imported_by)
        old = session.execute(
            select(Asset.id, Asset.name).where(
                Asset.kind.in_(kinds), _borough_assets(session, payload.borough_code)
            )
        ).all()
        new = [
            Asset(
                **{k: v for k, v in asset.items() if k != "line"},
                borough_code=payload.borough_code,
                import_id=entry.id,
            )
            for asset in payload.assets
        ]
        session.add_all(new)
        session.flush()
        new_stop_by_name = {
            asset.name.casefold(): asset.id
            for asset in new
            if asset.kind == AssetKind.YOUTH_BUS_STOP
        }
        moved = 0
        for old_id, old_name in old:
            target = new_stop_by_name.get(old_name.casefold())
            if target is not None:
                moved += session.execute(
                    update(YouthBusVisit)
                    .where(YouthBusVisit.stop_id == old_id)
                    .values(stop_id=target)
                ).rowcount
        old_ids = [old_id for old_id, _ in old]
        removed_visits = session.execute(
            delete(YouthBusVisit).where(YouthBusVisit.stop_id.in_(old_ids))
        ).rowcount
        session.execute(delete(Asset).where(Asset.id.in_(old_ids)))
        import_id = entry.id
    log.info(
        "assets import %d committed: %d assets replace %d, %d visits moved, %d removed, sha256 %s",
        import_id,
        len(payload.assets),
        len(old),
        moved,
        removed_visits,
        prepared.report.file_sha256,
    )
    return import_id


# --- the Youth Bus schedule ----------------------------------------------------------------------


@dataclass
class YouthBusPayload:
    """What ``commit_youth_bus`` writes: the borough's whole schedule (stop ids resolved)."""

    borough_code: str
    visits: list[dict[str, object]] = field(default_factory=list)


def _borough_stops(session: Session, borough_code: str, *, ids_only: bool = False) -> Select:
    """The borough's Youth Bus stops: ``(name, id)`` rows, or their ids alone."""
    columns = (Asset.id,) if ids_only else (Asset.name, Asset.id)
    return select(*columns).where(
        Asset.kind == AssetKind.YOUTH_BUS_STOP, _borough_assets(session, borough_code)
    )


def prepare_youth_bus(
    engine: Engine, files: list[tuple[str, bytes]], borough_code: str, role: Role | None
) -> PreparedImport:
    """Validate a Youth Bus schedule CSV without writing.

    Parameters
    ----------
    engine
        The store (read only): the borough's youth_bus_stop assets are what ``stop_name`` must
        name.
    files
        One ``(file name, bytes)`` CSV: ``stop_name,weekday,on_date,starts_at,ends_at,activity``.
    borough_code
        The borough's ONS code (E09...): stops are matched among its stops only, and the file
        replaces its schedule only, not other boroughs'.
    role
        Must hold ``LOAD_DATA``.

    Returns
    -------
    A ``PreparedImport`` whose payload is a ``YouthBusPayload``; a warning says how many of the
    borough's stored visits the file replaces. Raises ImportRefused for an empty or wrong-kind
    file.
    """
    require(role, Permission.LOAD_DATA)
    name, content = _single_file(files, "Youth Bus schedule")
    records = _csv_records(
        name, content, YOUTH_BUS_COLUMNS, YOUTH_BUS_REQUIRED, "Youth Bus schedule"
    )
    with session_scope(engine) as session:
        stops = session.execute(_borough_stops(session, borough_code)).all()
        stored_visits = (
            session.scalar(
                select(func.count(YouthBusVisit.id)).where(
                    YouthBusVisit.stop_id.in_(_borough_stops(session, borough_code, ids_only=True))
                )
            )
            or 0
        )
    stop_ids = {stop.casefold(): stop_id for stop, stop_id in stops}
    where = borough_name(borough_code)
    report = ImportReport(
        kind=YOUTH_BUS_KIND,
        file_names=[name],
        file_sha256=sha256_of(content),
        borough_code=borough_code,
    )
    payload = YouthBusPayload(borough_code=borough_code)
    for line, record in records:
        report.rows_read += 1
        found: list[RowError] = []

        def reject(column: str, reason: str, line: int = line, record=record, found=found) -> None:
            found.append(RowError(line, column, record[column], reason, name))

        stop_id = stop_ids.get(record["stop_name"].casefold())
        if not record["stop_name"]:
            reject("stop_name", "stop_name is required")
        elif stop_id is None:
            reject(
                "stop_name",
                f"not a Youth Bus stop of {where} in the store; import the stops (assets) "
                "first or check the spelling",
            )
        weekday: int | None = None
        on_date: date | None = None
        day_text = record["weekday"].lower()
        if day_text:
            if day_text in _WEEKDAYS:
                weekday = _WEEKDAYS[day_text]
            elif day_text.isdigit() and int(day_text) <= 6:
                weekday = int(day_text)
            else:
                reject("weekday", "not a weekday: Monday..Sunday, or 0 (Monday) to 6 (Sunday)")
        if record["on_date"]:
            on_date = _parse_date(record["on_date"])
            if on_date is None:
                reject("on_date", "not a real date (YYYY-MM-DD or DD/MM/YYYY)")
        if record["weekday"] and record["on_date"]:
            reject("on_date", "give a weekday (weekly) or an on_date (one-off), not both")
        elif not record["weekday"] and not record["on_date"]:
            reject("weekday", "give a weekday (weekly) or an on_date (one-off)")
        starts_at, ends_at = _parse_time(record["starts_at"]), _parse_time(record["ends_at"])
        for column, value in (("starts_at", starts_at), ("ends_at", ends_at)):
            if value is None:
                reject(column, "not a time of day (HH:MM, 00:00 to 23:59)")
        if starts_at is not None and ends_at is not None and ends_at <= starts_at:
            reject("ends_at", f"the visit must end after it starts ({record['starts_at']})")
        if len(record["activity"]) > MAX_ACTIVITY_CHARS:
            reject("activity", f"longer than {MAX_ACTIVITY_CHARS} characters")
        if found:
            report.rejected.extend(found)
            continue
        payload.visits.append(
            {
                "stop_id": stop_id,
                "weekday": weekday,
                "on_date": on_date,
                "starts_at": starts_at,
                "ends_at": ends_at,
                "activity": record["activity"] or None,
            }
        )
    report.rows_accepted = len(payload.visits)
    report.warnings.append(
        f"this file replaces {where}'s whole Youth Bus schedule: {stored_visits} stored "
        f"visit(s) are removed and {len(payload.visits)} loaded; {UNDO_CANNOT_RESTORE}"
    )
    report.already_imported_as = previous_import(engine, YOUTH_BUS_KIND, report.file_sha256)
    return PreparedImport(report=report, payload=payload)


def commit_youth_bus(
    engine: Engine, prepared: PreparedImport, imported_by: str, role: Role | None
) -> int:
    """Replace the borough's whole Youth Bus schedule in one transaction; returns the import id.

    The visits at other boroughs' stops are untouched. Raises ImportRefused when rows were
    rejected, or when a stop was removed since the file was checked (check it again).
    """
    require(role, Permission.LOAD_DATA)
    _refuse_rejected(prepared.report)
    payload: YouthBusPayload = prepared.payload  # type: ignore[assignment]
    with session_scope(engine) as session:
        stops = set(session.scalars(_borough_stops(session, payload.borough_code, ids_only=True)))
        if any(visit["stop_id"] not in stops for visit in payload.visits):
            raise ImportRefused(
                "The Youth Bus stops changed since this file was checked; check it again"
            )
        entry = open_import(session, prepared.report, imported_by)
        removed = session.execute(
            delete(YouthBusVisit).where(YouthBusVisit.stop_id.in_(stops))
        ).rowcount
        session.add_all(YouthBusVisit(**visit) for visit in payload.visits)
        import_id = entry.id
    log.info(
        "youth-bus import %d committed: %d visits replace %d, sha256 %s",
        import_id,
        len(payload.visits),
        removed,
        prepared.report.file_sha256,
    )
    return import_id


# --- CSO assignments -----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewAssignment:
    """One row of a CSO assignment file, checked."""

    cso_name: str
    contact: str | None
    ward_code: str
    valid_from: date


@dataclass
class CsoPayload:
    """What ``commit_cso_assignments`` writes, for the borough's wards and CSOs."""

    borough_code: str
    assignments: list[NewAssignment] = field(default_factory=list)


def _borough_csos(session: Session, borough_code: str) -> ColumnElement[bool]:
    """The condition keeping the borough's CSOs (all of them in a store of that borough only)."""
    return in_boroughs(session, Cso.borough_code, (borough_code,))


def _assign(session: Session, ward_code: str, cso_id: int, valid_from: date) -> None:
    """Start ``cso_id``'s assignment of ``ward_code`` on ``valid_from``.

    The ward's open assignment ends the day before. Raises InvalidInput when the open
    assignment starts on or after ``valid_from`` (it cannot end before it began).
    """
    current = session.scalars(
        select(CsoAssignment).where(
            CsoAssignment.ward_code == ward_code, CsoAssignment.valid_to.is_(None)
        )
    ).all()
    for assignment in current:
        if assignment.valid_from >= valid_from:
            raise InvalidInput(
                f"Ward {ward_code}'s current assignment starts on "
                f"{assignment.valid_from.isoformat()}; a new one must start after that"
            )
        assignment.valid_to = valid_from - timedelta(days=1)
    session.add(
        CsoAssignment(cso_id=cso_id, ward_code=ward_code, valid_from=valid_from, valid_to=None)
    )


def prepare_cso_assignments(
    engine: Engine, files: list[tuple[str, bytes]], borough_code: str, role: Role | None
) -> PreparedImport:
    """Validate a CSO assignment CSV (``cso_name,ward_code,valid_from[,contact]``) without writing.

    Parameters
    ----------
    engine
        The store (read only): the borough's current wards, CSOs and open assignments.
    files
        One ``(file name, bytes)`` CSV.
    borough_code
        The borough's ONS code (E09...): ward codes must be among its current wards, and
        ``cso_name`` is matched among its CSOs only (a name not found there is a new CSO of
        the borough, even when another borough has a CSO of that name).
    role
        Must hold ``LOAD_DATA``.

    Returns
    -------
    A ``PreparedImport`` whose payload is a ``CsoPayload``. Rows naming a ward's current CSO
    again are left out (counted). Raises ImportRefused for an empty or wrong-kind file.
    """
    require(role, Permission.LOAD_DATA)
    name, content = _single_file(files, "CSO assignment")
    records = _csv_records(name, content, CSO_COLUMNS, CSO_REQUIRED, "CSO assignment")
    wards = current_wards(engine, borough_code, role)
    ward_codes = set(wards["code"])
    with session_scope(engine) as session:
        # the borough's wards' open assignments, whoever holds them: a new one ends each
        open_rows = session.execute(
            select(CsoAssignment.ward_code, CsoAssignment.valid_from, Cso.display_name)
            .join(Cso, Cso.id == CsoAssignment.cso_id)
            .where(
                CsoAssignment.valid_to.is_(None), CsoAssignment.ward_code.in_(sorted(ward_codes))
            )
        ).all()
        known = {
            cso.casefold()
            for cso in session.scalars(
                select(Cso.display_name).where(_borough_csos(session, borough_code))
            )
        }
    open_by_ward = {row.ward_code: (row.valid_from, row.display_name) for row in open_rows}
    report = ImportReport(
        kind=CSO_KIND,
        file_names=[name],
        file_sha256=sha256_of(content),
        borough_code=borough_code,
    )
    payload = CsoPayload(borough_code=borough_code)
    first_line: dict[str, int] = {}
    for line, record in records:
        report.rows_read += 1
        found: list[RowError] = []

        def reject(column: str, reason: str, line: int = line, record=record, found=found) -> None:
            found.append(RowError(line, column, record[column], reason, name))

        code = record["ward_code"].upper()
        if not record["cso_name"]:
            reject("cso_name", "cso_name is required")
        elif len(record["cso_name"]) > 120:
            reject("cso_name", "longer than 120 characters")
        if code not in ward_codes:
            reject(
                "ward_code",
                f"not a ward of borough {borough_code} in the current ward set; check the code",
            )
        elif code in first_line:
            reject("ward_code", f"ward {code} appears twice (first on line {first_line[code]})")
        valid_from = _parse_date(record["valid_from"])
        if valid_from is None:
            reject("valid_from", "not a real date (YYYY-MM-DD or DD/MM/YYYY)")
        elif code in open_by_ward and open_by_ward[code][0] >= valid_from:
            reject(
                "valid_from",
                f"ward {code}'s current assignment starts on "
                f"{open_by_ward[code][0].isoformat()}; a new one must start after that",
            )
        if found:
            report.rejected.extend(found)
            continue
        first_line[code] = line
        if open_by_ward.get(code, (None, ""))[1].casefold() == record["cso_name"].casefold():
            report.skip(ALREADY_ASSIGNED)
            continue
        payload.assignments.append(
            NewAssignment(record["cso_name"], record["contact"] or None, code, valid_from)
        )
    report.rows_accepted = len(payload.assignments)
    new_names = sorted(
        {a.cso_name for a in payload.assignments if a.cso_name.casefold() not in known}
    )
    if new_names:
        report.warnings.append(
            f"{len(new_names)} new CSO(s) of {borough_name(borough_code)} will be added: "
            f"{'; '.join(new_names)}"
        )
    report.warnings.append(
        f"{len(payload.assignments)} ward(s) get a new CSO; each ward's previous assignment ends "
        f"the day before (history is kept); {UNDO_CANNOT_RESTORE}"
    )
    report.already_imported_as = previous_import(engine, CSO_KIND, report.file_sha256)
    return PreparedImport(report=report, payload=payload)


def commit_cso_assignments(
    engine: Engine, prepared: PreparedImport, imported_by: str, role: Role | None
) -> int:
    """Write prepared CSO assignments in one transaction; returns the import id.

    CSOs are matched by name among the borough's. A CSO named for the first time is created in
    the borough (with the row's contact); a known CSO's contact is updated when the row gives a
    different one. Raises ImportRefused when rows were rejected, InvalidInput when an
    assignment changed since the file was checked.
    """
    require(role, Permission.LOAD_DATA)
    _refuse_rejected(prepared.report)
    payload: CsoPayload = prepared.payload  # type: ignore[assignment]
    with session_scope(engine) as session:
        entry = open_import(session, prepared.report, imported_by)
        by_name = {
            cso.display_name.casefold(): cso
            for cso in session.scalars(
                select(Cso).where(_borough_csos(session, payload.borough_code)).order_by(Cso.id)
            )
        }
        created = 0
        for assignment in payload.assignments:
            cso = by_name.get(assignment.cso_name.casefold())
            if cso is None:
                cso = Cso(
                    display_name=assignment.cso_name,
                    contact=assignment.contact,
                    active=True,
                    borough_code=payload.borough_code,
                )
                session.add(cso)
                session.flush()
                by_name[assignment.cso_name.casefold()] = cso
                created += 1
            elif assignment.contact and cso.contact != assignment.contact:
                cso.contact = assignment.contact
            _assign(session, assignment.ward_code, cso.id, assignment.valid_from)
            session.flush()
        import_id = entry.id
    counts = Counter(a.ward_code for a in payload.assignments)
    log.info(
        "cso-assignments import %d committed: %d wards, %d new CSOs, sha256 %s",
        import_id,
        len(counts),
        created,
        prepared.report.file_sha256,
    )
    return import_id


def assign_ward(
    engine: Engine,
    role: Role | None,
    changed_by: str,
    ward_code: str,
    cso_id: int,
    valid_from: date,
) -> None:
    """Give ``ward_code`` to CSO ``cso_id`` from ``valid_from`` (the Data page's single edit).

    The ward's open assignment ends the day before; history is kept. The change is written to
    the import log (kind ``cso-assignments``, by ``changed_by``, under the ward's borough) so
    the log says who changed it.

    Raises
    ------
    NotAllowed
        The role may not load data.
    InvalidInput
        An unknown ward or CSO, a CSO of another borough than the ward's, the CSO already
        holding the ward, or a ``valid_from`` on or before the start of the ward's open
        assignment.
    """
    require(role, Permission.LOAD_DATA)
    code = ward_code.strip().upper()
    with session_scope(engine) as session:
        borough_code = session.scalar(select(Ward.borough_code).where(Ward.code == code).limit(1))
        if borough_code is None:
            raise InvalidInput(f"There is no ward {code}; pick a ward from the list")
        cso = session.get(Cso, cso_id)
        if cso is None:
            raise InvalidInput(f"There is no CSO {cso_id}; pick a CSO from the list")
        # a CSO of no borough predates boroughs; otherwise another borough's reads would hide it
        if cso.borough_code is not None and cso.borough_code != borough_code:
            raise InvalidInput(
                f"{cso.display_name} is a CSO of {borough_name(cso.borough_code)}; ward {code} "
                f"is in {borough_name(borough_code)}: pick one of its CSOs"
            )
        current = session.scalar(
            select(CsoAssignment.cso_id).where(
                CsoAssignment.ward_code == code, CsoAssignment.valid_to.is_(None)
            )
        )
        if current == cso_id:
            raise InvalidInput(f"{cso.display_name} already covers ward {code}")
        _assign(session, code, cso_id, valid_from)
        description = f"{code},{cso_id},{valid_from.isoformat()}"
        report = ImportReport(
            kind=CSO_KIND,
            file_names=[DATA_PAGE_EDIT],
            file_sha256=sha256_of(description.encode()),
            rows_read=1,
            rows_accepted=1,
            borough_code=borough_code,
        )
        entry = open_import(session, report, changed_by)
        import_id = entry.id
    log.info("ward %s assigned to CSO %d from %s (log %d)", code, cso_id, valid_from, import_id)
