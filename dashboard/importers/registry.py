"""Every kind of import, by name: how to prepare (validate) it and how to commit (write) it.

The command line and the Data page both go through this table, so a kind behaves the same
wherever it is loaded.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from dashboard.access import Role
from dashboard.config import Settings
from dashboard.errors import ImportFailed
from dashboard.importers.assets import (
    commit_assets,
    commit_cso_assignments,
    commit_youth_bus,
    prepare_assets,
    prepare_cso_assignments,
    prepare_youth_bus,
)
from dashboard.importers.boundaries import commit_boundaries, prepare_boundaries
from dashboard.importers.extract import ColumnMapping, commit_extract, prepare_extract
from dashboard.importers.police_uk import commit_police_uk, prepare_police_uk
from dashboard.importers.population import commit_population, prepare_population
from dashboard.importers.validation import PreparedImport
from dashboard.store.session import database_failure_reason, is_database_failure

log = logging.getLogger(__name__)

Files = Sequence[tuple[str, bytes]]
Progress = Callable[[int], None]  # called with the rows handled so far


@dataclass(frozen=True)
class ImportRequest:
    """What the person loading asked for, whichever kind it is; each kind reads what it needs."""

    files: Files
    settings: Settings
    role: Role | None
    extra: Files = ()  # population: the LSOA boundaries
    progress: Progress | None = None
    mapping: ColumnMapping | None = None  # extract: their headers for our columns


@dataclass(frozen=True)
class ImportKind:
    """One kind of file the app can load."""

    name: str  # as typed on the command line: python -m dashboard import NAME FILE...
    label: str  # as shown on the Data page
    accepts: tuple[str, ...]  # file endings offered in the upload box
    help: str
    prepare: Callable[[Engine, ImportRequest], PreparedImport]
    commit: Callable[..., int]  # (engine, prepared, imported_by, role)


def _police_uk(engine: Engine, request: ImportRequest) -> PreparedImport:
    borough = request.settings.borough_code
    return prepare_police_uk(
        engine, request.files, borough, role=request.role, progress=request.progress
    )


def _population(engine: Engine, request: ImportRequest) -> PreparedImport:
    lsoa = request.extra[0] if request.extra else None
    borough = request.settings.borough_code
    return prepare_population(engine, request.files, borough, request.role, lsoa_boundaries=lsoa)


def _extract(engine: Engine, request: ImportRequest) -> PreparedImport:
    return prepare_extract(
        engine,
        request.files,
        request.settings.borough_code,
        request.role,
        mapping=request.mapping,
        progress=request.progress,
    )


def _simple(
    prepare: Callable[..., PreparedImport],
) -> Callable[[Engine, ImportRequest], PreparedImport]:
    """Adapt an importer that needs only the files, the borough and the role."""

    def adapted(engine: Engine, request: ImportRequest) -> PreparedImport:
        return prepare(engine, request.files, request.settings.borough_code, request.role)

    return adapted


def _all_or_nothing(commit: Callable[..., int]) -> Callable[..., int]:
    """``commit``, with the database failing mid-write (disk full, connection lost) an ImportFailed.

    Every commit writes in one transaction, so the store keeps nothing of a failed one. The
    message gives the database's reason, never SQLAlchemy's, which would print rows of the file.
    """

    @functools.wraps(commit)
    def committed(
        engine: Engine, prepared: PreparedImport, imported_by: str, role: Role | None, **options
    ) -> int:
        try:
            return commit(engine, prepared, imported_by, role, **options)
        except DBAPIError as error:
            if not is_database_failure(error):
                raise
            reason = database_failure_reason(error)
            log.error(
                "%s import rolled back, the database failed while writing: %s (sha256 %s)",
                prepared.report.kind,
                reason,
                prepared.report.file_sha256,
            )
            raise ImportFailed(
                f"The import failed while writing, so nothing of it was kept (an import is "
                f"written whole or not at all). The database said: {reason}. Put that right "
                "(free disk space, or check the database server and DATABASE_URL) and import "
                "the file again."
            ) from error

    return committed


IMPORT_KINDS: dict[str, ImportKind] = {
    kind.name: replace(kind, commit=_all_or_nothing(kind.commit))
    for kind in (
        ImportKind(
            "police-uk",
            "police.uk street-level crimes (CSV files or the download's zip)",
            ("csv", "zip"),
            "police.uk street-level CSVs exactly as downloaded: one month, many, or the zip",
            _police_uk,
            commit_police_uk,
        ),
        ImportKind(
            "boundaries",
            "ONS ward boundaries (GeoJSON, GeoPackage or zipped Shapefile)",
            ("geojson", "json", "gpkg", "zip"),
            "ONS ward boundaries of any vintage (WDyyCD, WDyyNM, LADyyCD)",
            _simple(prepare_boundaries),
            commit_boundaries,
        ),
        ImportKind(
            "population",
            "Ward population (CSV), or ONS LSOA estimates with LSOA boundaries",
            ("csv", "geojson", "json"),
            "ward population CSV (ward_code, population), or ONS LSOA estimates with "
            "--lsoa-boundaries FILE (each LSOA counted in the ward holding its centroid)",
            _population,
            commit_population,
        ),
        ImportKind(
            "extract",
            "The police's own extract (CSV; other headers through a column mapping)",
            ("csv",),
            "the police extract in our schema (docs/import-formats.md), or with --mapping NAME",
            _extract,
            commit_extract,
        ),
        ImportKind(
            "assets",
            "Knife bins and Youth Bus stops (CSV or GeoJSON points)",
            ("csv", "geojson", "json"),
            "assets: kind,name,address,latitude,longitude,public,guidance,notes "
            "(replaces the borough's assets of the kinds in the file)",
            _simple(prepare_assets),
            commit_assets,
        ),
        ImportKind(
            "youth-bus",
            "Youth Bus schedule (CSV)",
            ("csv",),
            "the Youth Bus schedule: stop_name,weekday,on_date,starts_at,ends_at,activity "
            "(replaces the borough's schedule)",
            _simple(prepare_youth_bus),
            commit_youth_bus,
        ),
        ImportKind(
            "cso-assignments",
            "CSO ward assignments (CSV)",
            ("csv",),
            "CSO ward assignments: cso_name,ward_code,valid_from[,contact] (history kept)",
            _simple(prepare_cso_assignments),
            commit_cso_assignments,
        ),
    )
}
