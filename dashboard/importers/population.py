"""Ward populations, for rates per 1,000 residents.

Two sources are accepted. A ward population CSV (``ward_code,population``, with optional age-band
columns that are shown in the report only), or ONS small-area (LSOA) estimates with the LSOA
boundaries, apportioned to wards: each LSOA is counted whole in the ward that holds its centroid.
That is an approximation where an LSOA straddles a ward edge, and the report says so.

Populations are written onto the wards of the current (newest) boundary vintage. Undoing a
population import does not bring back the previous figures (the log keeps no old values);
import the previous file again instead.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import Engine, func, select, update

from dashboard.access import Permission, Role, require
from dashboard.errors import ImportRefused
from dashboard.geo import BNG, WGS84, assign_ward_codes
from dashboard.importers.boundaries import read_geo_files
from dashboard.importers.log import open_import, previous_import
from dashboard.importers.validation import (
    ImportReport,
    PreparedImport,
    RowError,
    check_size,
    decode_text,
    sha256_of,
)
from dashboard.store.models import Ward
from dashboard.store.session import session_scope

log = logging.getLogger(__name__)

KIND = "population"
LSOA_CODE_COLUMN = re.compile(r"^LSOA(\d{2})CD$", re.IGNORECASE)
# ONS small-area estimate files name the all-ages total in several ways over the years
LSOA_TOTAL_COLUMNS = ("persons_all-ages", "all ages", "all_ages", "population", "total")
APPORTIONED = "apportioned: each LSOA counted in the ward that holds its centroid"
MAX_SOURCE_CHARS = 200


@dataclass
class PopulationPayload:
    """What ``commit_population`` writes: residents per ward of one vintage."""

    borough_code: str
    vintage: str
    populations: dict[str, int]  # ward code -> residents
    source: str  # Ward.population_source


def _current_wards(engine: Engine, borough_code: str) -> tuple[str, gpd.GeoDataFrame]:
    """The newest vintage and its wards (code, name, geometry in EPSG:4326), sorted by code."""
    with session_scope(engine) as session:
        vintage = session.scalar(
            select(func.max(Ward.vintage)).where(Ward.borough_code == borough_code)
        )
        rows = session.execute(
            select(Ward.code, Ward.name, Ward.geometry_wkb)
            .where(Ward.borough_code == borough_code, Ward.vintage == vintage)
            .order_by(Ward.code)
        ).all()
    if not rows:
        raise ImportRefused(
            f"There are no wards of borough {borough_code} in the store; import the ward "
            "boundaries first, then the population"
        )
    wards = gpd.GeoDataFrame(
        {"code": [row.code for row in rows], "name": [row.name for row in rows]},
        geometry=shapely.from_wkb([row.geometry_wkb for row in rows]),
        crs=WGS84,
    )
    return vintage, wards


def _read_rows(name: str, content: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The stripped header and the ``(line, cells)`` of each data row.

    Blank lines and a header repeated mid-file are left out.
    """
    check_size(name, len(content))
    lines = list(csv.reader(io.StringIO(decode_text(name, content))))
    numbered = [(number, row) for number, row in enumerate(lines, start=1) if any(row)]
    if not numbered:
        raise ImportRefused(f"{name} is empty; choose the file again or check the download")
    header = [cell.strip() for cell in numbered[0][1]]
    rows = [
        (number, [cell.strip() for cell in row])
        for number, row in numbered[1:]
        if [cell.strip() for cell in row] != header
    ]
    return header, rows


def _positive_int(value: str) -> int | None:
    """A whole positive number, allowing thousands separators ("12,345"); None otherwise."""
    text = value.replace(",", "").replace(" ", "")
    if not text.isdigit():
        return None
    number = int(text)
    return number if number > 0 else None


def _bad_population(line: int, column: str, value: str, file_name: str) -> RowError:
    return RowError(
        line,
        column,
        value,
        f"the population must be a whole number above 0, not {value!r}",
        file_name,
    )


def prepare_population(
    engine: Engine,
    files: list[tuple[str, bytes]],
    borough_code: str,
    role: Role | None,
    lsoa_boundaries: tuple[str, bytes] | None = None,
) -> PreparedImport:
    """Validate a ward population CSV, or LSOA estimates with LSOA boundaries; writes nothing.

    Parameters
    ----------
    engine
        The store (read only): the current ward set to validate codes and apportion against.
    files
        One ``(file name, bytes)`` CSV (UTF-8, with or without BOM, or Windows-1252): either
        ``ward_code,population[,age bands...]`` or ONS LSOA estimates (``LSOA11CD`` or
        ``LSOA21CD`` and an all-ages total such as ``Persons_All-Ages``).
    borough_code
        The borough's ONS code (E09...).
    role
        Must hold ``LOAD_DATA``.
    lsoa_boundaries
        ``(file name, bytes)`` of the LSOA polygons (GeoJSON, GeoPackage or zipped Shapefile,
        with ``LSOA11CD`` or ``LSOA21CD``); required for LSOA estimates.

    Returns
    -------
    A ``PreparedImport`` whose payload is a ``PopulationPayload``.

    Raises
    ------
    ImportRefused
        An empty or unreadable file, one of neither layout, LSOA estimates without boundaries,
        no wards in the store.
    NotAllowed
        The role may not load data.
    """
    require(role, Permission.LOAD_DATA)
    if len(files) != 1:
        raise ImportRefused(
            f"Give one population CSV at a time (got {len(files)}): a ward population CSV, or "
            "ONS LSOA estimates with --lsoa-boundaries"
        )
    name, content = files[0]
    header, rows = _read_rows(name, content)
    vintage, wards = _current_wards(engine, borough_code)
    by_lower = {column.lower(): column for column in header}
    if "ward_code" in by_lower and "population" in by_lower:
        return _prepare_ward_csv(engine, name, content, header, rows, borough_code, vintage, wards)
    lsoa_columns = [column for column in header if LSOA_CODE_COLUMN.match(column)]
    if lsoa_columns:
        if lsoa_boundaries is None:
            raise ImportRefused(
                f"{name} holds LSOA estimates ({lsoa_columns[0]}): give the LSOA boundaries too "
                "(--lsoa-boundaries FILE) so each LSOA can be placed in a ward"
            )
        return _prepare_lsoa(
            engine,
            name,
            content,
            header,
            rows,
            lsoa_columns[0],
            lsoa_boundaries,
            borough_code,
            vintage,
            wards,
        )
    raise ImportRefused(
        f"{name} is not a population file: it needs the columns ward_code and population, or "
        f"ONS LSOA estimates (LSOA11CD or LSOA21CD with Persons_All-Ages); its header is: "
        f"{', '.join(header) or 'empty'}"
    )


def _prepare_ward_csv(
    engine: Engine,
    name: str,
    content: bytes,
    header: list[str],
    rows: list[tuple[int, list[str]]],
    borough_code: str,
    vintage: str,
    wards: gpd.GeoDataFrame,
) -> PreparedImport:
    by_lower = {column.lower(): index for index, column in enumerate(header)}
    code_at, population_at = by_lower["ward_code"], by_lower["population"]
    report = ImportReport(
        kind=KIND, file_names=[name], file_sha256=sha256_of(content), borough_code=borough_code
    )
    names = dict(zip(wards["code"], wards["name"], strict=True))
    populations: dict[str, int] = {}
    for line, cells in rows:
        report.rows_read += 1
        cells = cells + [""] * (len(header) - len(cells))
        code, value = cells[code_at].upper(), cells[population_at]
        if code not in names:
            report.rejected.append(
                RowError(
                    line,
                    "ward_code",
                    code,
                    f"{code or 'a blank code'} is not a ward of borough {borough_code} in the "
                    f"current ({vintage}) ward set; check the code or import the boundaries first",
                    name,
                )
            )
            continue
        population = _positive_int(value)
        if population is None:
            report.rejected.append(_bad_population(line, "population", value, name))
            continue
        if code in populations:
            report.rejected.append(
                RowError(line, "ward_code", code, f"ward {code} appears twice in the file", name)
            )
            continue
        populations[code] = population
    report.rows_accepted = len(populations)
    missing = [f"{code} {ward}" for code, ward in names.items() if code not in populations]
    if missing:
        report.warnings.append(
            f"{len(missing)} ward(s) are not in the file and keep their current population: "
            + "; ".join(missing)
        )
    extra = [column for column in header if column.lower() not in ("ward_code", "population")]
    if extra:
        report.warnings.append(
            f"columns shown here only, not stored: {', '.join(extra)} (age bands are not used "
            "for rates)"
        )
    report.already_imported_as = previous_import(engine, KIND, report.file_sha256)
    payload = PopulationPayload(borough_code, vintage, populations, name[:MAX_SOURCE_CHARS])
    return PreparedImport(report=report, payload=payload)


def _lsoa_source(name: str) -> str:
    """How a ward's population was made, e.g. "ONS mid-2020 LSOA estimates, apportioned by ..."."""
    year = re.search(r"mid[-_ ]?(\d{4})", name, re.IGNORECASE)
    what = f"ONS mid-{year.group(1)} LSOA estimates" if year else f"LSOA estimates ({name})"
    return f"{what}, apportioned by LSOA centroid"[:MAX_SOURCE_CHARS]


def _prepare_lsoa(
    engine: Engine,
    name: str,
    content: bytes,
    header: list[str],
    rows: list[tuple[int, list[str]]],
    code_column: str,
    lsoa_boundaries: tuple[str, bytes],
    borough_code: str,
    vintage: str,
    wards: gpd.GeoDataFrame,
) -> PreparedImport:
    by_lower = {column.lower(): index for index, column in enumerate(header)}
    total_names = [column for column in LSOA_TOTAL_COLUMNS if column in by_lower]
    if not total_names:
        raise ImportRefused(
            f"{name} has LSOA codes but no all-ages total column (e.g. Persons_All-Ages); its "
            f"header is: {', '.join(header)}"
        )
    code_at, total_at = header.index(code_column), by_lower[total_names[0]]
    total_column = header[total_at]
    boundary_name, boundary_content = lsoa_boundaries
    report = ImportReport(
        kind=KIND,
        file_names=[name, boundary_name],
        file_sha256=sha256_of(content, boundary_content),
        borough_code=borough_code,
    )
    lsoa_people: dict[str, int] = {}
    for line, cells in rows:
        report.rows_read += 1
        cells = cells + [""] * (len(header) - len(cells))
        code, value = cells[code_at].upper(), cells[total_at]
        if not code:
            report.rejected.append(RowError(line, code_column, "", "the LSOA code is blank", name))
            continue
        people = _positive_int(value)
        if people is None:
            report.rejected.append(_bad_population(line, total_column, value, name))
            continue
        if code in lsoa_people:
            report.rejected.append(
                RowError(line, code_column, code, f"LSOA {code} appears twice in the file", name)
            )
            continue
        lsoa_people[code] = people

    polygons, layer_name = read_geo_files([lsoa_boundaries])
    boundary_columns = [str(c) for c in polygons.columns if LSOA_CODE_COLUMN.match(str(c))]
    if not boundary_columns:
        raise ImportRefused(
            f"{layer_name} is not an LSOA boundary file: it has no LSOA11CD or LSOA21CD column; "
            f"its columns are {', '.join(map(str, polygons.columns))}"
        )
    if polygons.crs is None:
        raise ImportRefused(f"{layer_name} has no coordinate reference system; export it with one")
    if code_column.upper() not in (column.upper() for column in boundary_columns):
        report.warnings.append(
            f"{name} uses {code_column} but {layer_name} has {boundary_columns[0]}: LSOA codes "
            "changed between censuses, so use boundaries of the same census as the estimates"
        )
    polygons = polygons.assign(
        lsoa_code=polygons[boundary_columns[0]].astype("string").str.strip().str.upper()
    )
    polygons = polygons[polygons["lsoa_code"].isin(list(lsoa_people))]
    polygons = polygons[~polygons.geometry.isna() & ~polygons.geometry.is_empty]
    polygons = polygons.drop_duplicates("lsoa_code").to_crs(BNG)
    report.skip("LSOAs not in the boundary file", len(lsoa_people) - len(polygons))

    centroids = polygons.geometry.centroid
    outside = ~polygons.geometry.intersects(centroids).to_numpy(dtype=bool)
    if outside.any():
        # a crescent-shaped LSOA's centroid can fall outside it, even in another LSOA's ward
        centroids[outside] = polygons.geometry[outside].representative_point()
        report.warnings.append(
            f"{int(outside.sum())} LSOA(s) have their centroid outside their own boundary; a point "
            "inside them was used instead (representative point): "
            + ", ".join(polygons["lsoa_code"][outside])
        )
    ward_codes = assign_ward_codes(
        centroids.x.to_numpy(), centroids.y.to_numpy(), wards.to_crs(BNG)
    )
    placed = np.array([code is not None for code in ward_codes], dtype=bool)
    report.skip("LSOAs whose centroid is in no current ward", int((~placed).sum()))
    populations: dict[str, int] = {}
    for lsoa_code, ward_code in zip(polygons["lsoa_code"], ward_codes, strict=True):
        if ward_code is not None:
            populations[ward_code] = populations.get(ward_code, 0) + lsoa_people[lsoa_code]
    report.rows_accepted = int(placed.sum())
    report.warnings.append(
        f"{APPORTIONED} ({report.rows_accepted} LSOAs onto {len(populations)} wards, "
        f"{sum(populations.values()):,} residents)"
    )
    empty = [
        f"{code} {ward}"
        for code, ward in zip(wards["code"], wards["name"], strict=True)
        if code not in populations
    ]
    if empty:
        report.warnings.append(
            f"{len(empty)} ward(s) hold no LSOA centroid and keep their current population: "
            + "; ".join(empty)
        )
    report.already_imported_as = previous_import(engine, KIND, report.file_sha256)
    payload = PopulationPayload(borough_code, vintage, populations, _lsoa_source(name))
    return PreparedImport(report=report, payload=payload)


def commit_population(
    engine: Engine, prepared: PreparedImport, imported_by: str, role: Role | None
) -> int:
    """Write prepared ward populations onto the current ward set, in one transaction.

    Returns the import id. Raises ImportRefused when the current ward set changed since the file
    was prepared (prepare it again), NotAllowed when the role may not load data. Undoing the
    import later does not restore the previous populations.
    """
    require(role, Permission.LOAD_DATA)
    payload = prepared.payload
    if not isinstance(payload, PopulationPayload):
        raise TypeError("commit_population needs what prepare_population returned")
    with session_scope(engine) as session:
        newest = session.scalar(
            select(func.max(Ward.vintage)).where(Ward.borough_code == payload.borough_code)
        )
        if newest != payload.vintage:
            raise ImportRefused(
                f"The ward set changed since the file was checked ({payload.vintage} then, "
                f"{newest} now); check the file again"
            )
        entry = open_import(session, prepared.report, imported_by)
        for code, population in payload.populations.items():
            session.execute(
                update(Ward)
                .where(
                    Ward.borough_code == payload.borough_code,
                    Ward.vintage == payload.vintage,
                    Ward.code == code,
                )
                .values(population=population, population_source=payload.source)
            )
        import_id = entry.id
    log.info(
        "population import %d: %d wards of vintage %s, %d residents (sha256 %s)",
        import_id,
        len(payload.populations),
        payload.vintage,
        sum(payload.populations.values()),
        prepared.report.file_sha256[:12],
    )
    return import_id
