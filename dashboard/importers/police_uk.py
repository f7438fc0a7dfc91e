"""police.uk street-level crime CSVs (one month, many files, or the custom download's zip).

``prepare_police_uk`` reads and validates without writing; ``commit_police_uk`` writes what it
prepared in one transaction. Files are read in chunks with vectorised pandas operations, so a
file of a million rows is held as its bytes plus one chunk of rows and a few compact columns of
the rows that survive validation, never as a Python object per row.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from dashboard.access import Permission, Role, require
from dashboard.dates import today_in_london
from dashboard.errors import ImportRefused
from dashboard.geo import BNG, wgs84_to_bng
from dashboard.importers.log import open_import, previous_import, record_ward_history
from dashboard.importers.validation import (
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_UNZIPPED_BYTES,
    ImportReport,
    PreparedImport,
    RowError,
    check_size,
    iter_csv_chunks,
    iter_zip_members,
    read_csv_header,
    require_columns,
    sha256_of,
)
from dashboard.incidents import INCIDENT_COLUMNS, prepare_incidents
from dashboard.store.bulk import insert_rows
from dashboard.store.models import Incident, LocationPrecision, Ward
from dashboard.store.queries import current_wards
from dashboard.store.session import refresh_planner_statistics, session_scope
from dashboard.taxonomy import Taxonomy, load_taxonomy

log = logging.getLogger(__name__)

KIND = "police-uk"  # the import log's kind
SOURCE = "police_uk"  # the incidents' source and the taxonomy's source key
FILE_KIND = "police.uk street-level crime"
POLICE_UK_COLUMNS = (
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
)
# what a row without a Crime ID (anti-social behaviour) is identified by
HASHED_COLUMNS = ("Month", "Longitude", "Latitude", "Crime type", "Location", "LSOA code")
FIRST_MONTH = "2010-12"  # police.uk's street-level data begins in December 2010
# police.uk covers England, Wales and Northern Ireland: a point outside this box is a wrong value
# (swapped longitude and latitude, 0/0, easting/northing), not a crime in another borough
UK_LONGITUDE = (-8.7, 1.9)
UK_LATITUDE = (49.8, 60.9)
READ_CHUNK_ROWS = 100_000
WRITE_CHUNK_ROWS = 5_000
STORE_LOOKUP_BATCH = 900  # under SQLite's oldest limit of bound parameters
SOURCE_LIMITS_WARNING = (
    "police.uk gives the month only, no time of day and no victim age; points are moved to "
    "anonymised map locations"
)
NO_LOCATION = "no location"
HEADER_REPEATED = "header row repeated mid-file"
BLANK_LINE = "blank line"
REPEATED_ID = "repeated Crime ID"
ALREADY_STORED = "already in the store"
NOT_COUNTED = "not violence the borough counts"

Progress = Callable[[int], None]  # called with the rows read so far


def _outside_reason(margin_m: float) -> str:
    return f"outside the borough (margin {margin_m:g} m)"


def _police_uk_files(
    files: list[tuple[str, bytes]], max_file_bytes: int, max_unzipped_bytes: int
) -> Iterator[tuple[str, bytes]]:
    """Yield every CSV given, unpacking zips one member at a time."""
    for name, content in files:
        check_size(name, len(content), max_file_bytes)
        if name.lower().endswith(".zip") or content[:4] == b"PK\x03\x04":
            for member, member_bytes in iter_zip_members(name, content, ".csv", max_unzipped_bytes):
                label = f"{name}/{member}"
                check_size(label, len(member_bytes), max_unzipped_bytes)
                yield label, member_bytes
        else:
            yield name, content


def _row_keys(rows: pd.DataFrame) -> pd.Series:
    """The dedupe key: the Crime ID, or a stable SHA-256 of the row where the ID is blank."""
    keys = rows["Crime ID"].copy()
    blank = keys == ""
    if blank.any():
        first, *rest = (rows.loc[blank, column] for column in HASHED_COLUMNS)
        joined = first.str.cat(rest, sep="\x1f")
        keys[blank] = [hashlib.sha256(text.encode()).hexdigest() for text in joined]
    return keys


class _Reader:
    """Validates the rows of many files and keeps the compact columns of the good ones."""

    def __init__(
        self, report: ImportReport, borough_bng: shapely.Geometry, margin_m: float, today: date
    ) -> None:
        self.report = report
        self.borough = borough_bng
        shapely.prepare(self.borough)
        self.bounds = shapely.bounds(self.borough)
        self.outside = _outside_reason(margin_m)
        self.this_month = f"{today.year:04d}-{today.month:02d}"
        self.kept: list[pd.DataFrame] = []
        self.sequence = 0  # order of rows over all files: the later row is the later outcome

    def read(self, name: str, content: bytes, chunk_rows: int, progress: Progress | None) -> None:
        encoding, header = read_csv_header(name, content, FILE_KIND)
        require_columns(name, header, list(POLICE_UK_COLUMNS), FILE_KIND)
        for chunk in iter_csv_chunks(name, content, encoding, header, chunk_rows):
            self._validate(name, chunk)
            if progress is not None:
                progress(self.report.rows_read)

    def _validate(self, name: str, chunk: pd.DataFrame) -> None:
        report = self.report
        rows = chunk[list(POLICE_UK_COLUMNS)].apply(lambda column: column.str.strip())
        lines = chunk.index.to_numpy() + 2  # the header is line 1
        blank = (rows == "").all(axis=1).to_numpy()
        header_again = (
            (rows["Crime ID"] == "Crime ID")
            & (rows["Month"] == "Month")
            & (rows["Crime type"] == "Crime type")
        ).to_numpy()
        report.skip(BLANK_LINE, int(blank.sum()))
        report.skip(HEADER_REPEATED, int(header_again.sum()))
        real = ~(blank | header_again)
        rows, lines = rows.loc[real], lines[real]
        report.rows_read += len(rows)

        month = rows["Month"]
        well_formed = month.str.fullmatch(r"\d{4}-(0[1-9]|1[0-2])").to_numpy()
        errors = [
            self._errors(name, lines, rows, "Month", ~well_formed, "not a month (YYYY-MM)"),
            self._errors(
                name,
                lines,
                rows,
                "Month",
                well_formed & (month > self.this_month).to_numpy(),
                f"a month in the future (this month is {self.this_month})",
            ),
            self._errors(
                name,
                lines,
                rows,
                "Month",
                well_formed & (month < FIRST_MONTH).to_numpy(),
                f"before police.uk began publishing ({FIRST_MONTH})",
            ),
        ]
        bad = ~well_formed | (month > self.this_month).to_numpy() | (month < FIRST_MONTH).to_numpy()

        no_location = ((rows["Longitude"] == "") | (rows["Latitude"] == "")).to_numpy()
        longitude = pd.to_numeric(rows["Longitude"], errors="coerce").to_numpy(dtype=float)
        latitude = pd.to_numeric(rows["Latitude"], errors="coerce").to_numpy(dtype=float)
        for column, values, (low, high), (uk_low, uk_high) in (
            ("Longitude", longitude, (-180, 180), UK_LONGITUDE),
            ("Latitude", latitude, (-90, 90), UK_LATITUDE),
        ):
            given = (rows[column] != "").to_numpy()
            not_number = given & np.isnan(values)
            with np.errstate(invalid="ignore"):
                impossible = given & ~not_number & ((values < low) | (values > high))
                not_uk = (
                    given & ~not_number & ~impossible & ((values < uk_low) | (values > uk_high))
                )
            errors += [
                self._errors(name, lines, rows, column, not_number, "not a number"),
                self._errors(
                    name, lines, rows, column, impossible, f"impossible (outside {low}..{high})"
                ),
                self._errors(
                    name,
                    lines,
                    rows,
                    column,
                    not_uk,
                    "nowhere near London (outside the area police.uk covers; "
                    "longitude and latitude swapped?)",
                ),
            ]
            bad |= not_number | impossible | not_uk
        for found in errors:
            report.rejected.extend(found)
        report.skip(NO_LOCATION, int((no_location & ~bad).sum()))

        good = ~bad & ~no_location
        x_bng, y_bng = wgs84_to_bng(longitude[good], latitude[good])
        minx, miny, maxx, maxy = self.bounds
        near = (x_bng >= minx) & (x_bng <= maxx) & (y_bng >= miny) & (y_bng <= maxy)
        inside = near.copy()
        inside[near] = shapely.contains_xy(self.borough, x_bng[near], y_bng[near])
        report.skip(self.outside, int((~inside).sum()))

        kept_rows = rows.loc[good].loc[inside]
        count = len(kept_rows)
        self.kept.append(
            pd.DataFrame(
                {
                    "key": _row_keys(kept_rows).to_numpy(dtype=object),
                    "month": kept_rows["Month"].astype("category").to_numpy(),
                    "longitude": longitude[good][inside],
                    "latitude": latitude[good][inside],
                    "crime_type": kept_rows["Crime type"].astype("category").to_numpy(),
                    "outcome": kept_rows["Last outcome category"].astype("category").to_numpy(),
                    "sequence": np.arange(self.sequence, self.sequence + count, dtype=np.int64),
                }
            )
        )
        self.sequence += count

    @staticmethod
    def _errors(
        name: str,
        lines: np.ndarray,
        rows: pd.DataFrame,
        column: str,
        mask: np.ndarray,
        reason: str,
    ) -> list[RowError]:
        if not mask.any():
            return []
        values = rows[column].to_numpy()[mask]
        return [
            RowError(int(line), column, str(value), reason, name)
            for line, value in zip(lines[mask], values, strict=True)
        ]

    def rows(self) -> pd.DataFrame:
        """Every kept row, categoricals unified across chunks."""
        if not self.kept:
            return pd.DataFrame(
                columns=[
                    "key",
                    "month",
                    "longitude",
                    "latitude",
                    "crime_type",
                    "outcome",
                    "sequence",
                ]
            )
        frame = pd.concat(self.kept, ignore_index=True)
        self.kept = []
        return frame


def stored_source_refs(engine: Engine, source: str, keys: np.ndarray) -> set[str]:
    """Which of ``keys`` the store already holds as incidents of ``source`` (its own references)."""
    found: set[str] = set()
    with session_scope(engine) as session:
        for start in range(0, len(keys), STORE_LOOKUP_BATCH):
            batch = [str(key) for key in keys[start : start + STORE_LOOKUP_BATCH]]
            found.update(
                session.scalars(
                    select(Incident.source_ref).where(
                        Incident.source == source, Incident.source_ref.in_(batch)
                    )
                )
            )
    return found


def _ward_vintage(engine: Engine, borough_code: str) -> str | None:
    with session_scope(engine) as session:
        return session.scalar(
            select(func.max(Ward.vintage)).where(Ward.borough_code == borough_code)
        )


def _incidents(rows: pd.DataFrame, taxonomy: Taxonomy, wards_bng: gpd.GeoDataFrame) -> pd.DataFrame:
    """The store's incident columns for the rows to load (classified, projected, in a ward)."""
    columns = [*INCIDENT_COLUMNS, "date_precision", "outcome"]
    if rows.empty:  # prepare_incidents needs at least one row
        return pd.DataFrame(columns=columns)
    months = pd.to_datetime(rows["month"].astype(str), format="%Y-%m")
    incidents, left_out = prepare_incidents(
        pd.DataFrame(
            {
                "source_ref": rows["key"].to_numpy(),
                "occurred_at": None,
                "occurred_on": months.dt.date.to_numpy(),
                "offence": rows["crime_type"].astype(str).to_numpy(),
                "knife": False,
                "gun": False,
                "domestic_abuse": False,
                "victim_age_band": None,
                "longitude": rows["longitude"].to_numpy(),
                "latitude": rows["latitude"].to_numpy(),
            }
        ),
        SOURCE,
        taxonomy,
        wards_bng,
        LocationPrecision.SNAPPED,
    )
    assert left_out == 0, "crime types outside the taxonomy were left out before"
    outcome = rows["outcome"].astype(str).to_numpy(dtype=object)
    incidents["occurred_at"] = None
    incidents["date_precision"] = "month"
    incidents["outcome"] = np.where(outcome == "", None, outcome)
    return incidents[columns]


def prepare_police_uk(
    engine: Engine,
    files: list[tuple[str, bytes]],
    borough_code: str,
    margin_m: float = 100.0,
    role: Role | None = None,
    *,
    taxonomy: Taxonomy | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_unzipped_bytes: int = DEFAULT_MAX_UNZIPPED_BYTES,
    chunk_rows: int = READ_CHUNK_ROWS,
    today: date | None = None,
    progress: Progress | None = None,
) -> PreparedImport:
    """Validate police.uk street-level CSVs (or zips of them) without writing anything.

    Parameters
    ----------
    engine
        The store: its current wards give the borough, its incidents the ones already loaded.
    files
        ``(file name, bytes)`` of plain CSVs and/or zips of the police.uk custom download.
    borough_code
        The borough's ONS code (E09...).
    margin_m
        Points within this distance of the borough (police.uk snaps them) are kept.
    role
        Must allow loading data.
    taxonomy
        Maps ``Crime type`` to the borough's categories; the configured one by default.
    max_file_bytes, max_unzipped_bytes
        Limits of one file and of what a zip may expand to.
    chunk_rows
        Rows read at a time.
    today
        The date that decides which months are in the future (tests set it).
    progress
        Called with the rows read so far after each chunk.

    Returns
    -------
    The report and, as payload, the incidents to write (``INCIDENT_COLUMNS`` plus
    ``date_precision`` and ``outcome``). Raises ImportRefused for a file refused whole.
    """
    require(role, Permission.LOAD_DATA)
    if not files:
        raise ImportRefused("No file was given; choose one or more police.uk CSV or zip files")
    taxonomy = taxonomy or load_taxonomy()
    wards = current_wards(engine, borough_code, role)
    if wards.empty:
        raise ImportRefused(
            f"The store holds no wards for {borough_code}; import the ward boundaries first"
        )
    vintage = _ward_vintage(engine, borough_code)
    wards_bng = wards.to_crs(BNG)
    borough_bng = shapely.union_all(wards_bng.geometry.to_numpy()).buffer(margin_m)

    for name, content in files:  # refuse an empty or oversized file before reading any
        check_size(name, len(content), max_file_bytes)
    sha = sha256_of(*(content for _, content in files))
    report = ImportReport(
        kind=KIND,
        file_names=[name for name, _ in files],
        file_sha256=sha,
        borough_code=borough_code,
    )
    report.warnings.append(SOURCE_LIMITS_WARNING)
    reader = _Reader(report, borough_bng, margin_m, today or today_in_london())
    for name, content in _police_uk_files(files, max_file_bytes, max_unzipped_bytes):
        reader.read(name, content, chunk_rows, progress)

    rows = reader.rows()
    # police.uk repeats a Crime ID (a boundary crime, an updated outcome): keep the latest
    rows = rows.sort_values(["month", "sequence"], kind="stable")
    latest = ~rows.duplicated("key", keep="last")
    report.skip(REPEATED_ID, int((~latest).sum()))
    rows = rows.loc[latest]
    counted = rows["crime_type"].isin(list(taxonomy.sources.get(SOURCE, {})))
    for crime_type, count in rows.loc[~counted, "crime_type"].value_counts().items():
        report.skip(f"{NOT_COUNTED} ({crime_type})", int(count))
    rows = rows.loc[counted]
    stored = stored_source_refs(engine, SOURCE, rows["key"].to_numpy())
    in_store = rows["key"].isin(stored)
    report.skip(ALREADY_STORED, int(in_store.sum()))
    rows = rows.loc[~in_store].sort_values("sequence")

    incidents = _incidents(rows, taxonomy, wards_bng)
    incidents.attrs["ward_vintage"] = vintage
    incidents.attrs["borough_code"] = borough_code
    report.rows_accepted = len(incidents)
    no_ward = int(incidents["ward_code"].isna().sum())
    if no_ward:
        report.warnings.append(
            f"{no_ward:,} incident(s) lie within {margin_m:g} m of the borough but outside "
            "every ward: they are loaded with no ward"
        )
    report.already_imported_as = previous_import(engine, KIND, sha)
    log.info(
        "police.uk prepared: sha256 %s, %d rows read, %d to load, %d rejected, skipped %s",
        sha,
        report.rows_read,
        report.rows_accepted,
        report.rows_rejected,
        report.skipped,
    )
    return PreparedImport(report=report, payload=incidents)


def _insert_chunk(session: Session, records: list[dict]) -> None:
    insert_rows(session, Incident.__table__, records)


def commit_police_uk(
    engine: Engine,
    prepared: PreparedImport,
    imported_by: str,
    role: Role | None,
    *,
    progress: Progress | None = None,
) -> int:
    """Write a prepared police.uk import in one transaction; returns the import id.

    A failure part-way rolls everything back. Raises ImportRefused when the ward boundaries
    changed since the import was prepared (prepare it again).
    """
    require(role, Permission.LOAD_DATA)
    incidents: pd.DataFrame = prepared.payload  # type: ignore[assignment]
    vintage = incidents.attrs.get("ward_vintage")
    borough_code = incidents.attrs.get("borough_code")
    with session_scope(engine) as session:
        current = session.scalar(
            select(func.max(Ward.vintage)).where(Ward.borough_code == borough_code)
        )
        if vintage is None or current != vintage:
            raise ImportRefused(
                "The ward boundaries changed since this file was checked; check it again"
            )
        entry = open_import(session, prepared.report, imported_by)
        written = 0
        for start in range(0, len(incidents), WRITE_CHUNK_ROWS):
            chunk = incidents.iloc[start : start + WRITE_CHUNK_ROWS]
            records = chunk.to_dict("records")
            for record in records:
                record["import_id"] = entry.id
                record["borough_code"] = borough_code
            _insert_chunk(session, records)
            written += len(records)
            if progress is not None:
                progress(written)
        record_ward_history(session, entry.id, vintage)
        import_id = entry.id
    refresh_planner_statistics(engine, "incident")
    log.info(
        "police.uk import %d committed: %d incidents, sha256 %s",
        import_id,
        written,
        prepared.report.file_sha256,
    )
    return import_id
