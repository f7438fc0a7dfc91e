"""ONS ward boundaries (any vintage: ``WDyyCD``/``WDyyNM`` with ``LADyyCD``) into the store.

``prepare_boundaries`` reads a GeoJSON, a GeoPackage or a zipped Shapefile, keeps the wards of the
configured borough, repairs invalid polygons and reports what is wrong, without writing anything.
``commit_boundaries`` then writes the ward set in one transaction and re-derives every incident's
ward for that vintage. Older ward sets stay in the store, with each incident's ward under them
(``IncidentWard``), so an incident from 2018 can still be reported by the wards of its time.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy import Engine, delete, func, insert, select, update

from dashboard.access import Permission, Role, require
from dashboard.errors import DataError, ImportRefused
from dashboard.geo import BNG, WGS84, assign_ward_codes
from dashboard.importers.log import open_import, previous_import
from dashboard.importers.validation import (
    DEFAULT_MAX_UNZIPPED_BYTES,
    ImportReport,
    PreparedImport,
    RowError,
    check_size,
    iter_zip_members,
    sha256_of,
)
from dashboard.plans import refuse_removing_wards
from dashboard.store.models import Incident, IncidentWard, Ward
from dashboard.store.scope import in_boroughs
from dashboard.store.session import session_scope

log = logging.getLogger(__name__)

KIND = "boundaries"
WARD_CODE_COLUMN = re.compile(r"^WD(\d{2})CD$", re.IGNORECASE)
BOROUGH_CODE_COLUMN = re.compile(r"^LAD(\d{2})CD$", re.IGNORECASE)
GEO_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp")
SHAPEFILE_NEEDS = (".shx", ".dbf")  # beside the .shp; the .prj is checked on its own
# Great Britain and Northern Ireland with a margin, in degrees: boundaries outside it are in the
# wrong coordinate system (for example metres labelled as degrees by a wrong .prj)
UK_BOUNDS_WGS84 = (-9.0, 49.0, 3.0, 61.5)
_INCIDENT_BATCH = 50_000


@dataclass
class BoundaryPayload:
    """What ``commit_boundaries`` writes: one borough's wards of one vintage."""

    borough_code: str
    vintage: str  # e.g. "2022" for WD22CD
    wards: gpd.GeoDataFrame  # code, name, geometry (EPSG:4326), sorted by code


def _safe_member_name(name: str) -> str:
    """The bare name of an upload or zip member: no folders, so nothing escapes the temp dir."""
    return PurePosixPath(name.replace("\\", "/")).name


def read_geo_files(
    files: list[tuple[str, bytes]], max_unzipped_bytes: int = DEFAULT_MAX_UNZIPPED_BYTES
) -> tuple[gpd.GeoDataFrame, str]:
    """Read one layer of polygons from uploaded bytes, as the file's own CRS says.

    Parameters
    ----------
    files
        ``(file name, bytes)``: one GeoJSON or GeoPackage, one zip holding a Shapefile (``.shp``
        with its ``.shx``, ``.dbf`` and ``.prj``), or the Shapefile's parts given separately.
    max_unzipped_bytes
        What a zip may expand to, in all.

    Returns
    -------
    The layer as a GeoDataFrame (its CRS may be None only for a GeoJSON/GeoPackage without one)
    and the name of the file it came from.

    Raises
    ------
    ImportRefused
        Empty or oversized files, a zip bomb, a file that is not geographic data, a Shapefile
        without its ``.prj``, several layers at once, or a layer with no features.
    """
    if not files:
        raise ImportRefused("No file was given; choose a GeoJSON, GeoPackage or zipped Shapefile")
    for name, content in files:
        check_size(name, len(content))
    names = ", ".join(name for name, _ in files)
    with tempfile.TemporaryDirectory(prefix="boundaries-") as folder:
        written: list[Path] = []
        for name, content in files:
            if name.lower().endswith(".zip"):
                unpacked = [
                    (_safe_member_name(member), member_bytes)
                    for member, member_bytes in iter_zip_members(
                        name, content, None, max_unzipped_bytes
                    )
                ]
            else:
                unpacked = [(_safe_member_name(name), content)]
            for member_name, data in unpacked:
                path = Path(folder) / member_name
                path.write_bytes(data)
                written.append(path)
        layers = [path for path in written if path.suffix.lower() in GEO_SUFFIXES]
        if not layers:
            hint = (
                " (a CSV holds no boundaries)"
                if any(p.suffix.lower() in (".csv", ".txt") for p in written)
                else ""
            )
            raise ImportRefused(
                f"{names} is not a boundary file{hint}: give a GeoJSON, a GeoPackage or a zipped "
                "Shapefile (.shp with its .shx, .dbf and .prj)"
            )
        if len(layers) > 1:
            raise ImportRefused(
                f"{names} holds several boundary layers ({', '.join(p.name for p in layers)}); "
                "give one file at a time"
            )
        layer = layers[0]
        if layer.suffix.lower() == ".shp":
            present = {p.suffix.lower() for p in written if p.stem.lower() == layer.stem.lower()}
            if ".prj" not in present:
                raise ImportRefused(
                    f"{layer.name} has no .prj: the coordinate system is unknown; include the "
                    ".prj file in the zip"
                )
            missing = [suffix for suffix in SHAPEFILE_NEEDS if suffix not in present]
            if missing:
                raise ImportRefused(
                    f"{layer.name} comes without its {', '.join(missing)} file(s); zip every part "
                    "of the Shapefile together"
                )
        try:
            frame = gpd.read_file(layer)
        except Exception as error:  # pyogrio raises several kinds; all mean "cannot read it"
            raise ImportRefused(
                f"{layer.name} could not be read as geographic data ({error}); give a GeoJSON, "
                "a GeoPackage or a zipped Shapefile"
            ) from error
    if frame.empty:
        raise ImportRefused(f"{layer.name} holds no features; check the download")
    return frame, layer.name


def _ward_columns(frame: pd.DataFrame, file_name: str) -> tuple[str, str, str, str]:
    """The ward code, ward name and borough code columns (any case) and the vintage year."""
    columns = [str(column) for column in frame.columns]
    matches = [(column, WARD_CODE_COLUMN.match(column)) for column in columns]
    found = [(column, match.group(1)) for column, match in matches if match]
    if not found:
        raise ImportRefused(
            f"{file_name} is not an ONS ward boundary file: it has no ward code column (WDyyCD, "
            f"e.g. WD22CD); its columns are {', '.join(columns)}"
        )
    code_column, year = found[0]
    by_lower = {column.lower(): column for column in columns}
    name_column = by_lower.get(f"wd{year}nm")
    borough_columns = [column for column in columns if BOROUGH_CODE_COLUMN.match(column)]
    same_year = [column for column in borough_columns if column[3:5] == year]
    if name_column is None or not borough_columns:
        raise ImportRefused(
            f"{file_name} lacks the ward name column WD{year}NM or a borough column (LADyyCD); "
            f"its columns are {', '.join(columns)}"
        )
    return code_column, name_column, (same_year or borough_columns)[0], f"20{year}"


def _polygonal(geometry: shapely.Geometry) -> shapely.Geometry | None:
    """Only the polygonal parts of a geometry (as make_valid may return a collection)."""
    polygons: list[Polygon] = []
    for part in shapely.get_parts(geometry):
        if isinstance(part, Polygon) and not part.is_empty:
            polygons.append(part)
        elif isinstance(part, MultiPolygon):
            polygons.extend(p for p in part.geoms if not p.is_empty)
        elif part.geom_type == "GeometryCollection":
            found = _polygonal(part)
            if found is not None:
                polygons.extend(shapely.get_parts(found))
    if not polygons:
        return None
    return polygons[0] if len(polygons) == 1 else shapely.union_all(polygons)


def _stored_vintages(engine: Engine, borough_code: str) -> list[str]:
    with session_scope(engine) as session:
        return list(
            session.scalars(
                select(Ward.vintage)
                .where(Ward.borough_code == borough_code)
                .distinct()
                .order_by(Ward.vintage.desc())
            )
        )


def prepare_boundaries(
    engine: Engine, files: list[tuple[str, bytes]], borough_code: str, role: Role | None
) -> PreparedImport:
    """Validate an ONS ward boundary file for ``borough_code``; writes nothing.

    Parameters
    ----------
    engine
        The store (read only here: for the vintages already held and an earlier identical import).
    files
        ``(file name, bytes)`` of a GeoJSON, a GeoPackage or a zipped Shapefile, any ONS vintage
        (``WDyyCD``, ``WDyyNM``, ``LADyyCD`` in any case), in EPSG:4326, EPSG:27700 or any CRS
        the file declares (reprojected to EPSG:4326).
    borough_code
        The borough's ONS code (E09...); other boroughs' wards are left out.
    role
        Must hold ``LOAD_DATA``.

    Returns
    -------
    A ``PreparedImport`` whose payload is a ``BoundaryPayload``. Missing or empty geometries,
    geometries with no polygonal part, blank or duplicated ward codes are ``RowError``s (the
    ``line`` is the feature's number in the file, from 1). Repaired polygons are warnings naming
    the wards.

    Raises
    ------
    ImportRefused
        The whole file is unusable: see ``read_geo_files``, plus no ward columns, no ward of the
        borough, or coordinates outside the UK.
    NotAllowed
        The role may not load data.
    """
    require(role, Permission.LOAD_DATA)
    frame, file_name = read_geo_files(files)
    code_column, name_column, borough_column, vintage = _ward_columns(frame, file_name)
    report = ImportReport(
        kind=KIND,
        file_names=[name for name, _ in files],
        file_sha256=sha256_of(*(content for _, content in files)),
        borough_code=borough_code,
    )
    if frame.crs is None:
        raise ImportRefused(
            f"{file_name} has no coordinate reference system; export it again with one "
            "(EPSG:4326 or EPSG:27700)"
        )
    boroughs = frame[borough_column].astype("string").str.strip().str.upper()
    in_borough = (boroughs == borough_code.upper()).fillna(False).to_numpy(dtype=bool)
    if not in_borough.any():
        found = sorted(set(boroughs.dropna()))
        listed = ", ".join(found[:12]) + (f" and {len(found) - 12} more" if len(found) > 12 else "")
        raise ImportRefused(
            f"{file_name} has no ward in borough {borough_code}; the boroughs in it are: "
            f"{listed or 'none'}. Check BOROUGH_CODE or the file"
        )
    report.skip("wards of other boroughs", int((~in_borough).sum()))
    epsg = frame.crs.to_epsg()
    if epsg not in (4326, 27700):
        report.warnings.append(
            f"{file_name} is in {frame.crs.name}; it was reprojected to WGS84 (EPSG:4326)"
        )

    feature_numbers = np.flatnonzero(in_borough) + 1
    wards = frame[in_borough]
    codes = wards[code_column].astype("string").str.strip().str.upper()
    names = wards[name_column].astype("string").str.strip()
    counts = codes.value_counts()
    rows: list[tuple[str, str, shapely.Geometry]] = []
    repaired: list[str] = []
    for number, code, name, geometry in zip(
        feature_numbers, codes, names, wards.geometry, strict=True
    ):
        report.rows_read += 1
        number = int(number)
        if pd.isna(code) or not code:
            report.rejected.append(
                RowError(number, code_column, "", "the ward code is blank", file_name)
            )
            continue
        if counts[code] > 1:
            report.rejected.append(
                RowError(
                    number,
                    code_column,
                    code,
                    f"ward code {code} appears {counts[code]} times in the file; each ward must "
                    "appear once",
                    file_name,
                )
            )
            continue
        if geometry is None or geometry.is_empty:
            report.rejected.append(
                RowError(number, "geometry", "", f"ward {code} has no geometry", file_name)
            )
            continue
        polygon = _polygonal(geometry)
        if polygon is None:
            report.rejected.append(
                RowError(
                    number,
                    "geometry",
                    geometry.geom_type,
                    f"ward {code} is a {geometry.geom_type}, not a polygon",
                    file_name,
                )
            )
            continue
        if not polygon.is_valid:
            polygon = _polygonal(shapely.make_valid(polygon))
            if polygon is None or polygon.area == 0:
                report.rejected.append(
                    RowError(
                        number,
                        "geometry",
                        "invalid",
                        f"ward {code}'s polygon is invalid and has no area once repaired",
                        file_name,
                    )
                )
                continue
            repaired.append(f"{code} {name}")
        rows.append((code, "" if pd.isna(name) else str(name), polygon))
    if repaired:
        report.warnings.append(
            f"{len(repaired)} invalid polygon(s) repaired (make_valid, polygonal parts kept): "
            + "; ".join(repaired)
        )
    wards_wgs84 = gpd.GeoDataFrame(
        {"code": [row[0] for row in rows], "name": [row[1] for row in rows]},
        geometry=[row[2] for row in rows],
        crs=frame.crs,
    ).to_crs(WGS84)
    if len(wards_wgs84):
        minx, miny, maxx, maxy = wards_wgs84.total_bounds
        west, south, east, north = UK_BOUNDS_WGS84
        if minx < west or maxx > east or miny < south or maxy > north:
            raise ImportRefused(
                f"{file_name}'s wards lie outside the UK once read as {frame.crs.name}; its "
                "coordinate system (.prj) is probably wrong"
            )
    report.rows_accepted = len(wards_wgs84)
    stored = _stored_vintages(engine, borough_code)
    if vintage in stored:
        report.warnings.append(
            f"the {vintage} wards already stored will be replaced by this file (a correction)"
        )
    elif stored and vintage < stored[0]:
        report.warnings.append(
            f"{vintage} is older than the current ward set ({stored[0]}): incidents keep their "
            f"current ward, and their {vintage} ward is recorded for reports by that ward set"
        )
    if report.rejected:
        report.warnings.append(
            "a ward set is loaded whole: fix the rejected wards and prepare the file again"
        )
    report.already_imported_as = previous_import(engine, KIND, report.file_sha256)
    payload = BoundaryPayload(
        borough_code=borough_code,
        vintage=vintage,
        wards=wards_wgs84.sort_values("code", ignore_index=True),
    )
    return PreparedImport(report=report, payload=payload)


def commit_boundaries(
    engine: Engine, prepared: PreparedImport, imported_by: str, role: Role | None
) -> int:
    """Write a prepared ward set and re-derive incidents' wards, in one transaction.

    Parameters
    ----------
    engine
        The store.
    prepared
        What ``prepare_boundaries`` returned, with no rejected ward.
    imported_by
        Who is importing (e-mail address or CLI user), for the log.
    role
        Must hold ``LOAD_DATA``.

    Returns
    -------
    The import id.

    Stored wards of the same borough and vintage are replaced (a correction). Wards keep the
    population of the newest stored ward with the same code. Every incident's ward under the new
    vintage is stored in ``IncidentWard``; ``Incident.ward_code`` changes only when the new vintage
    is the newest. Other vintages' wards and ``IncidentWard`` rows stay.

    Raises
    ------
    ImportRefused
        The prepared import has rejected wards (a ward set with holes would leave incidents with
        no ward).
    NotAllowed
        The role may not load data.
    """
    require(role, Permission.LOAD_DATA)
    payload = prepared.payload
    if not isinstance(payload, BoundaryPayload):
        raise TypeError("commit_boundaries needs what prepare_boundaries returned")
    report = prepared.report
    if report.rejected:
        raise ImportRefused(
            f"{report.rows_rejected} ward(s) of {', '.join(report.file_names)} were rejected; a "
            "ward set is loaded whole: fix them and import the file again"
        )
    borough_code, vintage, wards = payload.borough_code, payload.vintage, payload.wards
    with session_scope(engine) as session:
        entry = open_import(session, report, imported_by)
        carried: dict[str, tuple[int | None, str | None]] = {}
        for code, population, source in session.execute(
            select(Ward.code, Ward.population, Ward.population_source)
            .where(Ward.borough_code == borough_code, Ward.population.is_not(None))
            .order_by(Ward.vintage)  # newer vintages overwrite older ones
        ):
            carried[code] = (population, source)
        stored_codes = session.scalars(
            select(Ward.code).where(Ward.borough_code == borough_code, Ward.vintage == vintage)
        ).all()
        refuse_removing_wards(
            session,
            sorted(set(stored_codes) - set(wards["code"])),
            vintage,
            f"This corrected {vintage} ward set",
        )
        session.execute(
            delete(Ward).where(Ward.borough_code == borough_code, Ward.vintage == vintage)
        )
        session.execute(
            insert(Ward),
            [
                {
                    "code": row.code,
                    "name": row.name,
                    "borough_code": borough_code,
                    "vintage": vintage,
                    "population": carried.get(row.code, (None, None))[0],
                    "population_source": carried.get(row.code, (None, None))[1],
                    "geometry_wkb": shapely.to_wkb(row.geometry),
                    "import_id": entry.id,
                }
                for row in wards.itertuples()
            ],
        )
        newest = session.scalar(
            select(func.max(Ward.vintage)).where(Ward.borough_code == borough_code)
        )
        # only this borough's incidents are placed in its wards: another borough's lie outside
        # them and keep theirs
        of_the_borough = in_boroughs(session, Incident.borough_code, (borough_code,))
        incidents = pd.DataFrame(
            session.execute(
                select(Incident.id, Incident.x_bng, Incident.y_bng, Incident.ward_code).where(
                    of_the_borough
                )
            ).all(),
            columns=["id", "x_bng", "y_bng", "ward_code"],
        )
        ward_codes = assign_ward_codes(
            incidents["x_bng"].to_numpy(), incidents["y_bng"].to_numpy(), wards.to_crs(BNG)
        )
        ids = incidents["id"].to_numpy()
        if vintage == newest:
            changed = np.flatnonzero(incidents["ward_code"].to_numpy(dtype=object) != ward_codes)
            for start in range(0, len(changed), _INCIDENT_BATCH):
                batch = changed[start : start + _INCIDENT_BATCH]
                session.execute(
                    update(Incident),
                    [{"id": int(ids[i]), "ward_code": ward_codes[i]} for i in batch],
                )
        session.execute(
            delete(IncidentWard).where(
                IncidentWard.vintage == vintage,
                IncidentWard.incident_id.in_(select(Incident.id).where(of_the_borough)),
            )
        )
        for start in range(0, len(ids), _INCIDENT_BATCH):
            session.execute(
                insert(IncidentWard),
                [
                    {"incident_id": int(ids[i]), "vintage": vintage, "ward_code": ward_codes[i]}
                    for i in range(start, min(start + _INCIDENT_BATCH, len(ids)))
                ],
            )
        import_id = entry.id
    log.info(
        "boundaries import %d: %d wards of vintage %s for %s, %d incidents placed (sha256 %s)",
        import_id,
        len(wards),
        vintage,
        borough_code,
        len(ids),
        report.file_sha256[:12],
    )
    return import_id


def vintages(engine: Engine, borough_code: str, role: Role | None) -> list[str]:
    """The boundary vintages stored for the borough, newest first (e.g. ["2026", "2022"])."""
    require(role, Permission.VIEW_MAP)
    return _stored_vintages(engine, borough_code)


def read_ons_wards(path: Path, borough_code: str) -> tuple[gpd.GeoDataFrame, str]:
    """Read an ONS ward boundary file and keep the wards of ``borough_code``.

    Returns the wards in EPSG:4326 with columns ``code``, ``name``, ``geometry`` (sorted by code)
    and the vintage as a year, e.g. "2022" for ``WD22CD``. Raises DataError when the file has no
    ONS ward columns or no ward of the borough. (The demo seeder's reader; uploads go through
    ``prepare_boundaries``.)
    """
    frame = gpd.read_file(path)
    try:
        code_column, name_column, borough_column, vintage = _ward_columns(frame, path.name)
    except ImportRefused as error:
        raise DataError(str(error)) from error
    if frame.crs is None:
        raise DataError(f"{path.name} has no coordinate reference system; export it with one")
    wards = frame[frame[borough_column] == borough_code]
    if wards.empty:
        raise DataError(
            f"{path.name} has no ward in borough {borough_code}; check BOROUGH_CODE or the file"
        )
    wards = gpd.GeoDataFrame(
        {"code": wards[code_column].to_numpy(), "name": wards[name_column].to_numpy()},
        geometry=wards.geometry.to_crs(WGS84).to_numpy(),
        crs=WGS84,
    )
    return wards.sort_values("code", ignore_index=True), vintage
