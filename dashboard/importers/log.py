"""The import log: every load is recorded (who, when, file, hash, counts) and can be undone."""

from __future__ import annotations

import logging

import pandas as pd
from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.orm import Session

from dashboard.access import Permission, Role, require
from dashboard.dates import now_in_london
from dashboard.errors import InvalidInput
from dashboard.importers.validation import ImportReport
from dashboard.plans import refuse_removing_wards
from dashboard.store.models import (
    Asset,
    DataImport,
    ImportStatus,
    Incident,
    Ward,
    YouthBusVisit,
)
from dashboard.store.scope import Boroughs, in_boroughs
from dashboard.store.session import session_scope

log = logging.getLogger(__name__)

# Imports that change rows already there, rather than add rows, are replaced, not undone.
IMPORT_AGAIN_INSTEAD_OF_UNDO = {
    "boundaries": "A ward boundary import cannot be undone: incidents are placed in its wards. "
    "Import the previous boundary file again instead.",
    "population": "A population import cannot be undone: it changed the wards' populations. "
    "Import the previous population file again instead.",
    "youth-bus": "A Youth Bus schedule import cannot be undone: it replaced the schedule. "
    "Import the previous schedule file again instead.",
    "cso-assignments": "A CSO assignment change cannot be undone: it closed earlier assignments. "
    "Assign the wards again (the history keeps both).",
}


def previous_import(engine: Engine, kind: str, file_sha256: str) -> int | None:
    """The id of a committed import of the same kind and the same bytes, if there is one."""
    with session_scope(engine) as session:
        return session.scalar(
            select(DataImport.id)
            .where(
                DataImport.kind == kind,
                DataImport.file_sha256 == file_sha256,
                DataImport.status == ImportStatus.COMMITTED,
            )
            .order_by(DataImport.id.desc())
        )


def open_import(session: Session, report: ImportReport, imported_by: str) -> DataImport:
    """Add the log entry of an import inside the importer's own transaction; returns it with its id.

    The rows the importer then writes carry this id, so the import can be undone.
    """
    entry = DataImport(
        kind=report.kind,
        file_name=", ".join(report.file_names)[:300],
        file_sha256=report.file_sha256,
        imported_by=imported_by,
        imported_at=now_in_london(),
        rows_accepted=report.rows_accepted,
        rows_rejected=report.rows_rejected,
        status=ImportStatus.COMMITTED,
        summary="\n".join(report.summary_lines()),
        borough_code=report.borough_code,
    )
    session.add(entry)
    session.flush()
    return entry


def record_ward_history(session: Session, import_id: int, vintage: str) -> None:
    """Remember, for the incidents an import added, which ward of ``vintage`` each falls in."""
    session.execute(
        text(
            "INSERT INTO incident_ward (incident_id, vintage, ward_code) "
            "SELECT id, :vintage, ward_code FROM incident WHERE import_id = :import_id"
        ),
        {"vintage": vintage, "import_id": import_id},
    )


def list_imports(engine: Engine, role: Role | None, *, boroughs: Boroughs = None) -> pd.DataFrame:
    """The import log of ``boroughs``, newest first."""
    require(role, Permission.LOAD_DATA)
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                DataImport.id,
                DataImport.kind,
                DataImport.file_name,
                DataImport.imported_by,
                DataImport.imported_at,
                DataImport.rows_accepted,
                DataImport.rows_rejected,
                DataImport.status,
                DataImport.file_sha256,
            )
            .where(in_boroughs(session, DataImport.borough_code, boroughs))
            .order_by(DataImport.id.desc())
        ).all()
    frame = pd.DataFrame(
        rows,
        columns=[
            "import_id",
            "kind",
            "file",
            "by",
            "when",
            "rows_loaded",
            "rows_rejected",
            "status",
            "sha256",
        ],
    )
    frame["status"] = frame["status"].astype(str)
    frame["sha256"] = frame["sha256"].str[:12]
    return frame


def undo_import(
    engine: Engine,
    role: Role | None,
    undone_by: str,
    import_id: int,
    *,
    boroughs: Boroughs = None,
) -> dict[str, int]:
    """Remove everything an import added, in one transaction, and mark it undone.

    Returns the rows removed per table. Raises InvalidInput for an unknown import, one already
    undone, or one that changed rows rather than adding them (ward boundaries, populations):
    those are put right by importing the previous file again. Another borough's import (outside
    ``boroughs``) is unknown here.
    """
    require(role, Permission.LOAD_DATA)
    removed: dict[str, int] = {}
    with session_scope(engine) as session:
        entry = session.scalar(
            select(DataImport).where(
                DataImport.id == import_id,
                in_boroughs(session, DataImport.borough_code, boroughs),
            )
        )
        if entry is None:
            raise InvalidInput(f"There is no import {import_id}")
        if entry.status is not ImportStatus.COMMITTED:
            raise InvalidInput(f"Import {import_id} is {entry.status.value}; nothing to undo")
        if entry.kind in IMPORT_AGAIN_INSTEAD_OF_UNDO:
            raise InvalidInput(IMPORT_AGAIN_INSTEAD_OF_UNDO[entry.kind])
        removed_wards = session.execute(
            select(Ward.code, Ward.vintage).where(Ward.import_id == import_id)
        ).all()
        for vintage in {row.vintage for row in removed_wards}:
            refuse_removing_wards(
                session,
                [row.code for row in removed_wards if row.vintage == vintage],
                vintage,
                f"Undoing import {import_id}",
            )
        stop_ids = select(Asset.id).where(Asset.import_id == import_id)
        removed["youth_bus_visit"] = session.execute(
            delete(YouthBusVisit).where(YouthBusVisit.stop_id.in_(stop_ids))
        ).rowcount
        for model in (Incident, Asset, Ward):
            removed[model.__tablename__] = session.execute(
                delete(model).where(model.import_id == import_id)
            ).rowcount
        session.execute(
            update(DataImport)
            .where(DataImport.id == import_id)
            .values(status=ImportStatus.UNDONE, undone_by=undone_by, undone_at=now_in_london())
        )
    log.info("import %d undone: %s", import_id, removed)
    return {table: count for table, count in removed.items() if count}
