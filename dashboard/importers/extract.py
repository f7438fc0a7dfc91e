"""The police's own extract: a CSV in our documented schema, or in theirs through a column mapping.

``prepare_extract`` reads and validates without writing; ``commit_extract`` writes what it
prepared in one transaction. The schema is in ``docs/import-formats.md``; an example file is
``tests/fixtures/extract/example_extract.csv``. A file with other headers loads through a
``ColumnMapping`` (our column -> their header), which can be saved under a name as a JSON file
and reused from the Data page or the CLI (``--mapping NAME``).

Reading follows ``police_uk``: chunks of rows with vectorised checks, ``RowError``s with the
real line number, then dedupe within the file and against the store.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine

from dashboard.access import Permission, Role, require
from dashboard.dates import today_in_london
from dashboard.errors import ImportRefused, InvalidInput
from dashboard.geo import BNG, bng_to_wgs84, wgs84_to_bng
from dashboard.importers.log import previous_import
from dashboard.importers.police_uk import (
    ALREADY_STORED,
    BLANK_LINE,
    HEADER_REPEATED,
    READ_CHUNK_ROWS,
    UK_LATITUDE,
    UK_LONGITUDE,
    Progress,
    _outside_reason,
    _ward_vintage,
    commit_police_uk,
    stored_source_refs,
)
from dashboard.importers.validation import (
    DEFAULT_MAX_FILE_BYTES,
    ImportReport,
    PreparedImport,
    RowError,
    check_size,
    decode_text,
    iter_csv_chunks,
    read_csv_header,
    sha256_of,
)
from dashboard.incidents import INCIDENT_COLUMNS, prepare_incidents
from dashboard.store.models import LocationPrecision
from dashboard.store.queries import current_wards
from dashboard.taxonomy import Taxonomy, load_taxonomy

log = logging.getLogger(__name__)

KIND = "extract"  # the import log's kind
SOURCE = "police_extract"  # the incidents' source and the taxonomy's source key
FILE_KIND = "police extract"
EXTRACT_COLUMNS = (
    "incident_ref",
    "occurred_at",
    "offence",
    "ho_offence_code",
    "latitude",
    "longitude",
    "easting",
    "northing",
    "victim_age",
    "knife",
    "gun",
    "domestic_abuse",
)
REQUIRED_COLUMNS = ("incident_ref", "occurred_at", "offence")
COORDINATE_PAIRS = (("latitude", "longitude"), ("easting", "northing"))
FLAG_COLUMNS = ("knife", "gun", "domestic_abuse")
TRUE_WORDS = frozenset({"true", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", ""})  # a blank flag means "not flagged"
AGE_BANDS = ("0-9", "10-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
_AGE_BAND_EDGES = (0, 10, 18, 25, 35, 45, 55, 65)
MAX_AGE = 120
# the National Grid's extent: anything outside is not an easting/northing at all
BNG_EASTING = (0.0, 700_000.0)
BNG_NORTHING = (0.0, 1_300_000.0)
DUPLICATE_REF = "duplicate incident_ref"
NOT_IN_TAXONOMY = "not in the taxonomy"
MAPPING_SUFFIX = ".json"
_MAPPING_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,59}")

# Headers other systems use for our columns (compared without case, spaces or punctuation).
# CRIS is the Metropolitan Police's crime recording system; its number is the crime reference.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "incident_ref": (
        "crimereference",
        "crimeref",
        "crimereferencenumber",
        "crimeno",
        "cris",
        "crisnumber",
        "crisref",
        "incidentreference",
        "incidentnumber",
        "reference",
        "ref",
    ),
    "occurred_at": (
        "date",
        "datetime",
        "occurred",
        "occurredon",
        "committeddate",
        "committedon",
        "offencedate",
        "dateofoffence",
        "incidentdate",
        "datecommitted",
    ),
    "offence": ("offencedescription", "offencetype", "offencename", "description", "crime"),
    "ho_offence_code": ("hocode", "homeofficecode", "homeofficeoffencecode", "hoclass"),
    "latitude": ("lat",),
    "longitude": ("long", "lon", "lng"),
    "easting": ("eastings", "x", "xcoordinate", "gridx"),
    "northing": ("northings", "y", "ycoordinate", "gridy"),
    "victim_age": ("age", "victimageatoffence", "ageofvictim", "agebandofvictim", "victimageband"),
    "knife": ("knifeenabled", "knifeflag", "knifecrime", "knifeorsharpinstrument"),
    "gun": ("gunenabled", "gunflag", "firearm", "firearmenabled", "firearmflag"),
    "domestic_abuse": ("da", "daflag", "domestic", "domesticabuseflag", "domesticflag"),
}

ColumnMapping = dict[str, str]  # our column -> the file's header


def _normal(header: str) -> str:
    """A header compared without case, spaces, underscores or punctuation."""
    return re.sub(r"[^a-z0-9]", "", header.strip().lower())


def suggest_mapping(header: list[str]) -> ColumnMapping:
    """Guess which of the file's headers holds each of our columns.

    Our own names match whatever their case and spacing ("Incident Ref" is ``incident_ref``);
    then a few common synonyms ("Crime Reference" or "CRIS", "Offence Description", "Lat",
    "Long"). Each header is used once; columns with no match are left out for the user to pick.
    """
    by_normal: dict[str, str] = {}
    for column in header:
        by_normal.setdefault(_normal(str(column)), str(column).strip())
    mapping: ColumnMapping = {}
    used: set[str] = set()
    for ours in EXTRACT_COLUMNS:  # exact names first, so a synonym never takes an exact match
        theirs = by_normal.get(_normal(ours))
        if theirs is not None:
            mapping[ours] = theirs
            used.add(theirs)
    for ours in EXTRACT_COLUMNS:
        if ours in mapping:
            continue
        for synonym in SYNONYMS.get(ours, ()):
            theirs = by_normal.get(synonym)
            if theirs is not None and theirs not in used:
                mapping[ours] = theirs
                used.add(theirs)
                break
    return {ours: mapping[ours] for ours in EXTRACT_COLUMNS if ours in mapping}


def _check_mapping(mapping: ColumnMapping) -> ColumnMapping:
    unknown = [ours for ours in mapping if ours not in EXTRACT_COLUMNS]
    if unknown:
        raise InvalidInput(
            f"The mapping names column(s) the extract schema does not have: {', '.join(unknown)}; "
            f"its columns are {', '.join(EXTRACT_COLUMNS)}"
        )
    clean = {ours: str(theirs).strip() for ours, theirs in mapping.items() if str(theirs).strip()}
    taken: dict[str, str] = {}
    for ours, theirs in clean.items():
        if theirs in taken:
            raise InvalidInput(
                f"The mapping gives the header {theirs!r} to both {taken[theirs]} and {ours}; "
                "give each column its own header"
            )
        taken[theirs] = ours
    return clean


def _mapping_path(mappings_dir: Path, name: str) -> Path:
    if not _MAPPING_NAME.fullmatch(name):
        raise InvalidInput(
            f"{name!r} cannot name a mapping: use up to 60 letters, digits, spaces, dots, "
            "hyphens or underscores, starting with a letter or digit"
        )
    return Path(mappings_dir) / f"{name}{MAPPING_SUFFIX}"


def list_mappings(mappings_dir: Path) -> list[str]:
    """The names of the saved column mappings, sorted; none when the folder does not exist."""
    folder = Path(mappings_dir)
    if not folder.is_dir():
        return []
    return sorted(path.stem for path in folder.glob(f"*{MAPPING_SUFFIX}") if path.is_file())


def save_mapping(mappings_dir: Path, name: str, mapping: ColumnMapping) -> Path:
    """Save ``mapping`` as ``mappings_dir/NAME.json``, replacing one of that name; returns the path.

    Raises InvalidInput for a name that is not a plain file name, or a mapping that names a
    column outside the schema or gives one header to two columns.
    """
    path = _mapping_path(mappings_dir, name)
    clean = _check_mapping(mapping)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"kind": KIND, "name": name, "columns": clean}
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log.info("extract column mapping %s saved (%d columns)", name, len(clean))
    return path


def load_mapping(mappings_dir: Path, name: str) -> ColumnMapping:
    """The saved mapping called ``name``.

    Raises InvalidInput naming the saved mappings when there is none of that name, or when the
    file is not a mapping.
    """
    path = _mapping_path(mappings_dir, name)
    if not path.is_file():
        available = ", ".join(list_mappings(mappings_dir)) or "none saved yet"
        raise InvalidInput(f"There is no saved column mapping {name!r}; saved ones: {available}")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        columns = document["columns"]
        if not isinstance(columns, dict):
            raise TypeError("columns is not an object")
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidInput(
            f"The saved mapping {name!r} ({path}) is not a column mapping ({error}); save it again"
        ) from error
    return _check_mapping(columns)


def _resolve_mapping(name: str, header: list[str], mapping: ColumnMapping | None) -> dict[str, str]:
    """Map our columns to the file's stripped headers, refusing what cannot work."""
    if mapping is None:
        by_normal = {_normal(column): column for column in header}
        resolved = {
            ours: by_normal[_normal(ours)] for ours in EXTRACT_COLUMNS if _normal(ours) in by_normal
        }
        hint = "; map the file's own headers to the extract schema (Data page, or --mapping NAME)"
    else:
        resolved = _check_mapping(mapping)
        missing = [theirs for theirs in resolved.values() if theirs not in header]
        if missing:
            raise ImportRefused(
                f"{name} has no column {', '.join(repr(m) for m in missing)}, which the mapping "
                f"names (its header is: {', '.join(header) or 'empty'}); choose another mapping "
                "or edit this one"
            )
        hint = "; add them to the mapping"
    unmapped = [ours for ours in REQUIRED_COLUMNS if ours not in resolved]
    if unmapped:
        raise ImportRefused(
            f"{name} is not a {FILE_KIND} file: the required column(s) {', '.join(unmapped)} "
            f"are not there (its header is: {', '.join(header) or 'empty'}){hint}"
        )
    if not any(all(part in resolved for part in pair) for pair in COORDINATE_PAIRS):
        raise ImportRefused(
            f"{name} has no location columns: it needs latitude and longitude, or easting and "
            f"northing (its header is: {', '.join(header) or 'empty'}){hint}"
        )
    return resolved


def age_band(age: int) -> str:
    """The age band of a whole age in years (0-9, 10-17, 18-24, ..., 65+)."""
    index = int(np.searchsorted(_AGE_BAND_EDGES, age, side="right")) - 1
    return AGE_BANDS[index]


_ISO = r"(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})"
_UK = r"(?P<ud>\d{1,2})/(?P<um>\d{1,2})/(?P<uy>\d{4})"
_TIME = r"(?:[ T](?P<hh>\d{1,2}):(?P<mm>\d{2})(?::(?P<ss>\d{2}))?)?"
_DATE_TIME = re.compile(rf"^(?:{_ISO}|{_UK}){_TIME}$")


class _Reader:
    """Validates the rows of the extract's files and keeps the compact columns of good ones."""

    def __init__(
        self, report: ImportReport, borough_bng: shapely.Geometry, margin_m: float, today: date
    ) -> None:
        self.report = report
        self.borough = borough_bng
        shapely.prepare(self.borough)
        self.bounds = shapely.bounds(self.borough)
        self.outside = _outside_reason(margin_m)
        self.today = today
        self.kept: list[pd.DataFrame] = []
        self.first_line: dict[str, tuple[str, int]] = {}  # incident_ref -> (file, line)

    def read(
        self,
        name: str,
        content: bytes,
        mapping: ColumnMapping | None,
        chunk_rows: int,
        progress: Progress | None,
    ) -> None:
        encoding, header = read_csv_header(name, content, FILE_KIND, where_from="export")
        resolved = _resolve_mapping(name, header, mapping)
        theirs_to_ours = {theirs: ours for ours, theirs in resolved.items()}
        for chunk in iter_csv_chunks(name, content, encoding, header, chunk_rows):
            rows = chunk[list(theirs_to_ours)].rename(columns=theirs_to_ours)
            rows = rows.apply(lambda column: column.str.strip())
            for ours in EXTRACT_COLUMNS:
                if ours not in rows:
                    rows[ours] = ""
            self._validate(name, rows, resolved)
            if progress is not None:
                progress(self.report.rows_read)

    def _reject(
        self,
        name: str,
        lines: np.ndarray,
        rows: pd.DataFrame,
        column: str,
        mask: np.ndarray,
        reason: str,
        resolved: dict[str, str],
    ) -> None:
        """Add a RowError per masked row, naming the column as the file calls it."""
        if not mask.any():
            return
        label = resolved.get(column, column)
        values = rows[column].to_numpy()[mask]
        self.report.rejected.extend(
            RowError(int(line), label, str(value), reason, name)
            for line, value in zip(lines[mask], values, strict=True)
        )

    def _validate(self, name: str, rows: pd.DataFrame, resolved: dict[str, str]) -> None:
        report = self.report
        lines = rows.index.to_numpy() + 2  # the header is line 1
        blank = (rows[list(EXTRACT_COLUMNS)] == "").all(axis=1).to_numpy()
        header_again = np.ones(len(rows), dtype=bool)
        for ours in REQUIRED_COLUMNS:
            header_again &= (rows[ours] == resolved[ours]).to_numpy()
        report.skip(BLANK_LINE, int(blank.sum()))
        report.skip(HEADER_REPEATED, int(header_again.sum()))
        real = ~(blank | header_again)
        rows, lines = rows.loc[real], lines[real]
        report.rows_read += len(rows)
        n = len(rows)

        def reject(column: str, mask: np.ndarray, reason: str) -> None:
            self._reject(name, lines, rows, column, mask, reason, resolved)

        bad = np.zeros(n, dtype=bool)
        for column in REQUIRED_COLUMNS:
            missing = (rows[column] == "").to_numpy()
            reject(column, missing, f"{column} is required")
            bad |= missing

        occurred_at, occurred_on, date_bad = self._dates(rows, reject)
        bad |= date_bad

        longitude, latitude, coordinates_bad = self._coordinates(rows, reject)
        bad |= coordinates_bad

        ages = rows["victim_age"]
        whole = ages.str.fullmatch(r"\d+").to_numpy()
        years = pd.to_numeric(ages.where(whole, "0")).to_numpy(dtype=np.int64)
        is_band = ages.isin(AGE_BANDS).to_numpy()
        age_bad = ((ages != "").to_numpy() & ~whole & ~is_band) | (whole & (years > MAX_AGE))
        reject(
            "victim_age",
            age_bad,
            f"not an age: give whole years (0-{MAX_AGE}) or a band ({', '.join(AGE_BANDS)})",
        )
        bad |= age_bad
        bands = np.full(n, None, dtype=object)
        bands[is_band] = ages.to_numpy()[is_band]
        bands[whole & ~age_bad] = [age_band(int(years_)) for years_ in years[whole & ~age_bad]]

        flags: dict[str, np.ndarray] = {}
        for column in FLAG_COLUMNS:
            words = rows[column].str.lower()
            flags[column] = words.isin(TRUE_WORDS).to_numpy()
            not_flag = ~(flags[column] | words.isin(FALSE_WORDS).to_numpy())
            reject(column, not_flag, "not a flag: use true/false, yes/no, y/n or 1/0 (blank = no)")
            bad |= not_flag

        # a reference already seen (earlier in this file, in an earlier chunk or file) is refused
        refs = rows["incident_ref"]
        given = (refs != "").to_numpy()
        repeated = given & (
            refs.duplicated(keep="first").to_numpy() | refs.isin(self.first_line).to_numpy()
        )
        if repeated.any():
            first_here = (
                pd.Series(lines, index=refs.index).groupby(refs.to_numpy()).transform("first")
            )
            for line, ref, first in zip(
                lines[repeated],
                refs.to_numpy()[repeated],
                first_here.to_numpy()[repeated],
                strict=True,
            ):
                where = self.first_line.get(ref, (name, int(first)))
                report.rejected.append(
                    RowError(
                        int(line),
                        resolved["incident_ref"],
                        ref,
                        f"{DUPLICATE_REF} (first on line {where[1]} of {where[0]})",
                        name,
                    )
                )
        for ref, line in zip(
            refs.to_numpy()[given & ~repeated], lines[given & ~repeated], strict=True
        ):
            self.first_line[ref] = (name, int(line))
        bad |= repeated

        good = ~bad
        x_bng, y_bng = wgs84_to_bng(longitude[good], latitude[good])
        minx, miny, maxx, maxy = self.bounds
        near = (x_bng >= minx) & (x_bng <= maxx) & (y_bng >= miny) & (y_bng <= maxy)
        inside = near.copy()
        inside[near] = shapely.contains_xy(self.borough, x_bng[near], y_bng[near])
        report.skip(self.outside, int((~inside).sum()))

        kept = rows.loc[good].loc[inside]
        self.kept.append(
            pd.DataFrame(
                {
                    "source_ref": kept["incident_ref"].to_numpy(dtype=object),
                    "occurred_at": occurred_at[good][inside],
                    "occurred_on": occurred_on[good][inside],
                    "offence": kept["offence"].to_numpy(dtype=object),
                    "knife": flags["knife"][good][inside],
                    "gun": flags["gun"][good][inside],
                    "domestic_abuse": flags["domestic_abuse"][good][inside],
                    "victim_age_band": bands[good][inside],
                    "longitude": longitude[good][inside],
                    "latitude": latitude[good][inside],
                }
            )
        )

    def _dates(self, rows: pd.DataFrame, reject) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``occurred_at`` (datetime or None), ``occurred_on`` (date) and the rows refused."""
        text = rows["occurred_at"]
        parts = text.str.extract(_DATE_TIME)
        given = (text != "").to_numpy()
        matched = parts["iy"].notna().to_numpy() | parts["uy"].notna().to_numpy()
        year = parts["iy"].fillna(parts["uy"])
        month = parts["im"].fillna(parts["um"])
        day = parts["id"].fillna(parts["ud"])
        on = pd.to_datetime(
            year.fillna("1900")
            + "-"
            + month.fillna("1").str.zfill(2)
            + "-"
            + day.fillna("1").str.zfill(2),
            format="%Y-%m-%d",
            errors="coerce",
        )
        shape_bad = given & ~matched
        reject(
            "occurred_at",
            shape_bad,
            "not a date: use YYYY-MM-DD or DD/MM/YYYY, optionally followed by HH:MM",
        )
        impossible = matched & on.isna().to_numpy()
        reject("occurred_at", impossible, "not a real date (no such day in that month)")
        has_time = parts["hh"].notna().to_numpy()
        hours = pd.to_numeric(parts["hh"]).fillna(0).to_numpy(dtype=np.int64)
        minutes = pd.to_numeric(parts["mm"]).fillna(0).to_numpy(dtype=np.int64)
        seconds = pd.to_numeric(parts["ss"]).fillna(0).to_numpy(dtype=np.int64)
        time_bad = matched & has_time & ((hours > 23) | (minutes > 59) | (seconds > 59))
        reject("occurred_at", time_bad & ~impossible, "not a time of day (00:00 to 23:59)")
        real = matched & ~impossible
        future = real & (on > pd.Timestamp(self.today)).to_numpy()
        reject(
            "occurred_at",
            future & ~time_bad,
            f"a date in the future (today is {self.today.isoformat()})",
        )
        bad = shape_bad | impossible | time_bad | future
        ok = ~bad & given
        on_dates = np.full(len(rows), None, dtype=object)
        on_dates[ok] = on.dt.date.to_numpy()[ok]
        at = np.full(len(rows), None, dtype=object)
        timed = ok & has_time
        stamps = (
            on
            + pd.to_timedelta(hours, unit="h")
            + pd.to_timedelta(minutes, unit="m")
            + pd.to_timedelta(seconds, unit="s")
        )
        at[timed] = [stamp.to_pydatetime() for stamp in stamps[timed]]
        return at, on_dates, bad

    def _coordinates(self, rows: pd.DataFrame, reject) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """WGS84 longitude and latitude of every row (from either pair) and the rows refused."""
        n = len(rows)
        longitude = np.full(n, np.nan)
        latitude = np.full(n, np.nan)
        bad = np.zeros(n, dtype=bool)
        located = np.zeros(n, dtype=bool)
        checks = (
            (
                ("latitude", (-90, 90), UK_LATITUDE),
                ("longitude", (-180, 180), UK_LONGITUDE),
                "nowhere near London (latitude and longitude swapped?)",
            ),
            (
                ("easting", BNG_EASTING, BNG_EASTING),
                ("northing", BNG_NORTHING, BNG_NORTHING),
                "not on the British National Grid (easting and northing swapped, or "
                "latitude/longitude given as easting/northing?)",
            ),
        )
        values: dict[str, np.ndarray] = {}
        for first, second, far_reason in checks:
            pair_given = np.zeros(n, dtype=bool)
            pair_bad = np.zeros(n, dtype=bool)
            for column, (low, high), (near_low, near_high) in (first, second):
                given = (rows[column] != "").to_numpy()
                number = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float)
                not_number = given & np.isnan(number)
                with np.errstate(invalid="ignore"):
                    impossible = given & ~not_number & ((number < low) | (number > high))
                    far = (
                        given
                        & ~not_number
                        & ~impossible
                        & ((number < near_low) | (number > near_high))
                    )
                reject(column, not_number, "not a number")
                reject(column, impossible, f"impossible (outside {low:g}..{high:g})")
                reject(column, far, far_reason)
                pair_bad |= not_number | impossible | far
                pair_given |= given
                values[column] = number
            both = (rows[first[0]] != "").to_numpy() & (rows[second[0]] != "").to_numpy()
            half = pair_given & ~both & ~pair_bad
            for column in (first[0], second[0]):
                lacking = half & (rows[column] == "").to_numpy()
                reject(column, lacking, f"{column} is blank but its pair is given")
            use = both & ~pair_bad & ~located
            if first[0] == "latitude":
                longitude[use] = values["longitude"][use]
                latitude[use] = values["latitude"][use]
            elif use.any():
                longitude[use], latitude[use] = bng_to_wgs84(
                    values["easting"][use], values["northing"][use]
                )
            located |= use
            bad |= pair_bad | half
        nowhere = ~located & ~bad
        reject(
            "latitude",
            nowhere,
            "no location: give latitude and longitude, or easting and northing",
        )
        return longitude, latitude, bad | nowhere

    def rows(self) -> pd.DataFrame:
        """Every kept row."""
        if not self.kept:
            return pd.DataFrame(
                columns=[
                    "source_ref",
                    "occurred_at",
                    "occurred_on",
                    "offence",
                    "knife",
                    "gun",
                    "domestic_abuse",
                    "victim_age_band",
                    "longitude",
                    "latitude",
                ]
            )
        frame = pd.concat(self.kept, ignore_index=True)
        self.kept = []
        return frame


def _incidents(rows: pd.DataFrame, taxonomy: Taxonomy, wards_bng: gpd.GeoDataFrame) -> pd.DataFrame:
    columns = [*INCIDENT_COLUMNS, "date_precision", "outcome"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = rows.reset_index(drop=True)
    # pandas infers a string or datetime column from objects mixed with None, turning None into
    # NaN or NaT, which the store cannot take: keep these as objects, None meaning "not recorded"
    occurred_at = [None if pd.isna(value) else value for value in rows["occurred_at"]]
    bands = [None if pd.isna(value) else str(value) for value in rows["victim_age_band"]]
    rows["victim_age_band"] = pd.Series(bands, dtype=object)
    incidents, left_out = prepare_incidents(
        rows, SOURCE, taxonomy, wards_bng, LocationPrecision.EXACT
    )
    assert left_out == 0, "offences outside the taxonomy were left out before"
    incidents["occurred_at"] = pd.Series(
        [None if value is None else pd.Timestamp(value).to_pydatetime() for value in occurred_at],
        dtype=object,
    )
    incidents["victim_age_band"] = pd.Series(bands, dtype=object)
    incidents["under_25"] = pd.Series([taxonomy.is_under_25(band) for band in bands], dtype=object)
    incidents["date_precision"] = "day"
    incidents["outcome"] = None
    return incidents[columns]


def prepare_extract(
    engine: Engine,
    files: list[tuple[str, bytes]],
    borough_code: str,
    role: Role | None,
    mapping: ColumnMapping | None = None,
    *,
    margin_m: float = 100.0,
    taxonomy: Taxonomy | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    chunk_rows: int = READ_CHUNK_ROWS,
    today: date | None = None,
    progress: Progress | None = None,
) -> PreparedImport:
    """Validate police extract CSVs without writing anything.

    Parameters
    ----------
    engine
        The store: its current wards give the borough, its incidents the ones already loaded.
    files
        ``(file name, bytes)`` of CSVs (UTF-8, with or without BOM, or Windows-1252).
    borough_code
        The borough's ONS code (E09...).
    role
        Must allow loading data.
    mapping
        Our column -> the file's header; None when the file uses our headers.
    margin_m
        Points within this distance of the borough are kept; others are left out and counted.
    taxonomy
        Maps offences to the borough's categories; the configured one by default.
    max_file_bytes
        The largest file accepted.
    chunk_rows
        Rows read at a time.
    today
        The date after which an offence date is in the future (tests set it).
    progress
        Called with the rows read so far after each chunk.

    Returns
    -------
    The report and, as payload, the incidents to write (``INCIDENT_COLUMNS`` plus
    ``date_precision`` and ``outcome``). Raises ImportRefused for a file refused whole (empty,
    too big, required columns missing or unmapped, a mapped header the file lacks) and
    InvalidInput for a mapping naming columns the schema does not have.
    """
    require(role, Permission.LOAD_DATA)
    if not files:
        raise ImportRefused("No file was given; choose one or more police extract CSV files")
    taxonomy = taxonomy or load_taxonomy()
    wards = current_wards(engine, borough_code, role)
    if wards.empty:
        raise ImportRefused(
            f"The store holds no wards for {borough_code}; import the ward boundaries first"
        )
    vintage = _ward_vintage(engine, borough_code)
    wards_bng = wards.to_crs(BNG)
    borough_bng = shapely.union_all(wards_bng.geometry.to_numpy()).buffer(margin_m)
    for name, content in files:
        check_size(name, len(content), max_file_bytes)
    sha = sha256_of(*(content for _, content in files))
    report = ImportReport(
        kind=KIND,
        file_names=[name for name, _ in files],
        file_sha256=sha,
        borough_code=borough_code,
    )
    reader = _Reader(report, borough_bng, margin_m, today or today_in_london())
    for name, content in files:
        reader.read(name, content, mapping, chunk_rows, progress)

    rows = reader.rows()
    known = taxonomy.sources.get(SOURCE, {})
    offences = rows["offence"].astype(str)
    counted = offences.isin(list(known)).to_numpy()
    for offence, count in offences[~counted].value_counts().items():
        report.skip(f"{NOT_IN_TAXONOMY} ({offence})", int(count))
    rows = rows.loc[counted]
    stored = stored_source_refs(engine, SOURCE, rows["source_ref"].to_numpy())
    in_store = rows["source_ref"].isin(stored).to_numpy()
    report.skip(ALREADY_STORED, int(in_store.sum()))
    rows = rows.loc[~in_store]

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
        "police extract prepared: sha256 %s, %d rows read, %d to load, %d rejected, skipped %s",
        sha,
        report.rows_read,
        report.rows_accepted,
        report.rows_rejected,
        report.skipped,
    )
    return PreparedImport(report=report, payload=incidents)


def commit_extract(
    engine: Engine,
    prepared: PreparedImport,
    imported_by: str,
    role: Role | None,
    *,
    progress: Progress | None = None,
) -> int:
    """Write a prepared police extract import in one transaction; returns the import id.

    The incidents carry the import id (so the import can be undone) and the code of the borough
    the file was checked for (``incidents.attrs["borough_code"]``), and their wards are recorded
    under the current boundary vintage. Raises ImportRefused when the ward boundaries changed
    since the file was checked.
    """
    # police.uk's commit writes any prepared incidents: the log entry takes its kind from the
    # report, so the import is logged as "extract"
    return commit_police_uk(engine, prepared, imported_by, role, progress=progress)


def file_header(name: str, content: bytes) -> list[str]:
    """The column names in the first line of an extract file (for the mapping step)."""
    text = decode_text(name, content[:65536])
    first = next(csv.reader(io.StringIO(text)), [])
    return [column.strip() for column in first if column.strip()]
