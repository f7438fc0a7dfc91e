"""police.uk API: fetch a range of months of street-level crimes for the borough polygon.

``fetch_police_uk`` POSTs the borough polygon to ``crimes-street/all-crime`` once per month,
within police.uk's rate limit, splits the polygon when police.uk refuses an area holding more than
10,000 crimes, and keeps each month's merged answer in a cache folder, so an interrupted fetch
resumes where it stopped. The records are then turned into rows in the police.uk CSV layout and
validated by the CSV importer (``police_uk.prepare_police_uk``), so deduplication, the taxonomy,
the borough margin and "already in the store" behave exactly as for a downloaded file. The
result is a ``PreparedImport``: nothing is written until ``police_uk.commit_police_uk`` is
called with it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from http.client import HTTPException
from pathlib import Path
from urllib.error import HTTPError, URLError

import shapely
from shapely.geometry import Polygon, box
from sqlalchemy import Engine

from dashboard.access import Permission, Role, require
from dashboard.errors import ImportRefused, InvalidInput
from dashboard.geo import BNG, bng_to_wgs84
from dashboard.importers.log import previous_import
from dashboard.importers.police_uk import FIRST_MONTH, POLICE_UK_COLUMNS, prepare_police_uk
from dashboard.importers.validation import PreparedImport
from dashboard.store.queries import current_wards

log = logging.getLogger(__name__)

KIND = "police-uk-api"  # the import log's kind; the incidents' source stays "police_uk"
DEFAULT_BASE_URL = "https://data.police.uk/api"
ENDPOINT = "crimes-street/all-crime"
DEFAULT_REQUESTS_PER_SECOND = 15.0  # police.uk's documented limit (with bursts of 30 allowed)
REQUEST_TIMEOUT_S = 60.0  # a month of a busy borough is a few MB of JSON
USER_AGENT = "community-safety-map (police.uk street-level fetch)"

# police.uk answers 503 for an area holding more than 10,000 crimes in the month; each split
# halves the area, so 6 levels allow 64 times the cap. Halves are fetched depth first, so an
# outage answering 503 to everything is refused after 7 requests, not 127.
MAX_SPLIT_DEPTH = 6
# the halves overlap by this much so that a point on the cut (or within rounding of it) is in
# at least one of them; a point in both comes back twice and is deduplicated on its id
SPLIT_OVERLAP_M = 2.0
MAX_TRANSIENT_RETRIES = 3  # 5xx other than the cap, timeouts, dropped connections
MAX_RATE_LIMITED_RETRIES = 5  # HTTP 429
RETRY_BACKOFF_S = 2.0  # doubled on each retry

# The polygon is simplified (a request body of a few kB, not the boundary file's thousands of
# vertices) after being widened by the margin plus the tolerance: simplification moves the edge
# by at most the tolerance, so the area asked for still covers every point the CSV importer
# keeps. Tolerances are tried in turn until the polygon has at most MAX_POLYGON_VERTICES.
SIMPLIFY_TOLERANCES_M = (25.0, 50.0, 100.0, 200.0, 400.0)
MAX_POLYGON_VERTICES = 250

FORCE = "Force"  # location_type of records of the local force
BTP = "BTP"  # British Transport Police: a force of its own, not in the local force's CSV files
BTP_SKIPPED = "British Transport Police records (police.uk location type BTP)"
MONTHS_CACHED = "months already fetched"
MONTH_PATTERN = re.compile(r"\d{4}-(0[1-9]|1[0-2])")

# The "Crime type" a police.uk CSV gives for each API category slug
# (https://data.police.uk/api/crime-categories). The last two are the names used before 2013.
CRIME_TYPE_BY_CATEGORY = {
    "anti-social-behaviour": "Anti-social behaviour",
    "bicycle-theft": "Bicycle theft",
    "burglary": "Burglary",
    "criminal-damage-arson": "Criminal damage and arson",
    "drugs": "Drugs",
    "other-theft": "Other theft",
    "possession-of-weapons": "Possession of weapons",
    "public-order": "Public order",
    "robbery": "Robbery",
    "shoplifting": "Shoplifting",
    "theft-from-the-person": "Theft from the person",
    "vehicle-crime": "Vehicle crime",
    "violent-crime": "Violence and sexual offences",
    "other-crime": "Other crime",
    "public-disorder-weapons": "Public disorder and weapons",
}

Clock = Callable[[], float]
Sleeper = Callable[[float], None]
Progress = Callable[[int], None]  # called with the months done so far (fetched or cached)


class RateLimiter:
    """Space requests at least ``1 / requests_per_second`` apart (a token bucket of one token).

    police.uk allows short bursts too; not relying on them keeps us under the limit whatever
    else shares the address. ``clock`` and ``sleep`` are injectable so tests need not wait.
    """

    def __init__(
        self,
        requests_per_second: float,
        clock: Clock = time.monotonic,
        sleep: Sleeper = time.sleep,
    ) -> None:
        if not requests_per_second > 0:
            raise InvalidInput(f"requests_per_second must be positive, got {requests_per_second}")
        self.interval_s = 1.0 / requests_per_second
        self.clock = clock
        self.sleep = sleep
        self._next_at: float | None = None

    def wait(self) -> None:
        """Block until the next request may go."""
        now = self.clock()
        if self._next_at is not None and now < self._next_at:
            self.sleep(self._next_at - now)
            now = self._next_at
        self._next_at = now + self.interval_s


def months_between(start: str, end: str) -> list[str]:
    """Every month from ``start`` to ``end`` inclusive, as ``YYYY-MM``.

    Raises InvalidInput for a month not written ``YYYY-MM``, one before police.uk began
    (``FIRST_MONTH``), or a range that runs backwards.
    """
    for label, month in (("start", start), ("end", end)):
        if not MONTH_PATTERN.fullmatch(month or ""):
            raise InvalidInput(f"The {label} month {month!r} is not a month; write it as YYYY-MM")
        if month < FIRST_MONTH:
            raise InvalidInput(
                f"The {label} month {month} is before police.uk began publishing ({FIRST_MONTH})"
            )
    if start > end:
        raise InvalidInput(f"The range {start} to {end} runs backwards; give the earlier first")
    year, month = int(start[:4]), int(start[5:])
    months: list[str] = []
    while (label := f"{year:04d}-{month:02d}") <= end:
        months.append(label)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _polygons(geometry: shapely.Geometry) -> list[Polygon]:
    """The non-empty polygons in a geometry (an intersection may also yield lines or points)."""
    found: list[Polygon] = []
    for part in shapely.get_parts(geometry):
        if isinstance(part, Polygon):
            if not part.is_empty and part.area > 0:
                found.append(part)
        elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
            found.extend(_polygons(part))
    return found


def borough_area_bng(wards_bng: shapely.Geometry, margin_m: float) -> list[Polygon]:
    """The polygon(s) to ask police.uk for, in EPSG:27700, covering the wards plus ``margin_m``.

    Holes are dropped: police.uk takes an outline only, and the CSV importer leaves out any
    point in a hole.
    """
    polygons: list[Polygon] = []
    for tolerance_m in SIMPLIFY_TOLERANCES_M:
        area = wards_bng.buffer(margin_m + tolerance_m).simplify(tolerance_m)
        polygons = [Polygon(part.exterior) for part in _polygons(area)]
        if sum(len(polygon.exterior.coords) - 1 for polygon in polygons) <= MAX_POLYGON_VERTICES:
            break
    return polygons


def poly_parameter(polygon_bng: Polygon) -> str:
    """police.uk's ``poly``: ``lat,lng:lat,lng:...`` in WGS84 (it closes the ring itself)."""
    x_bng, y_bng = shapely.get_coordinates(polygon_bng.exterior)[:-1].T
    longitude, latitude = bng_to_wgs84(x_bng, y_bng)
    return ":".join(f"{lat:.6f},{lng:.6f}" for lat, lng in zip(latitude, longitude, strict=True))


def _halves(polygon_bng: Polygon) -> list[Polygon]:
    """Cut across the longer side of the bounding box; the two parts overlap slightly."""
    minx, miny, maxx, maxy = polygon_bng.bounds
    overlap = SPLIT_OVERLAP_M / 2
    if maxx - minx >= maxy - miny:
        middle = (minx + maxx) / 2
        cuts = [box(minx, miny, middle + overlap, maxy), box(middle - overlap, miny, maxx, maxy)]
    else:
        middle = (miny + maxy) / 2
        cuts = [box(minx, miny, maxx, middle + overlap), box(minx, middle - overlap, maxx, maxy)]
    return [part for cut in cuts for part in _polygons(polygon_bng.intersection(cut))]


def _record_key(record: dict) -> tuple[str, str]:
    """What identifies an API record: its ``id``, else its ``persistent_id``, else itself."""
    if record.get("id") is not None:
        return ("id", str(record["id"]))
    if record.get("persistent_id"):
        return ("persistent_id", str(record["persistent_id"]))
    return ("record", json.dumps(record, sort_keys=True))


def _record_order(record: dict) -> tuple[int, str]:
    """Ids in numeric order (police.uk's ids are integers), then anything else."""
    identifier = record.get("id")
    if isinstance(identifier, int):
        return (identifier, "")
    return (-1, json.dumps(_record_key(record)))


class _Client:
    """Sends the POSTs: rate limit, retries, and the split on police.uk's 10,000-crime cap."""

    def __init__(
        self,
        base_url: str,
        opener: urllib.request.OpenerDirector,
        limiter: RateLimiter,
        sleep: Sleeper,
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/{ENDPOINT}"
        self.opener = opener
        self.limiter = limiter
        self.sleep = sleep
        self.requests = 0
        self.splits = 0

    def month(self, month: str, area_bng: list[Polygon]) -> list[dict]:
        """Every record of ``month`` in the area, each once, ordered by id."""
        merged: dict[tuple[str, str], dict] = {}
        for polygon in area_bng:
            for record in self._area(month, polygon, depth=0):
                merged.setdefault(_record_key(record), record)
        return sorted(merged.values(), key=_record_order)

    def _area(self, month: str, polygon_bng: Polygon, depth: int) -> list[dict]:
        records = self._post(month, poly_parameter(polygon_bng))
        if records is not None:
            return records
        if depth >= MAX_SPLIT_DEPTH:
            raise ImportRefused(
                f"police.uk answered HTTP 503 for {month} even with the borough split into "
                f"{2**MAX_SPLIT_DEPTH} parts: it may be unavailable; try again later (months "
                "already fetched are kept)"
            )
        self.splits += 1
        records = []
        for half in _halves(polygon_bng):
            records.extend(self._area(month, half, depth + 1))
        return records

    def _post(self, month: str, poly: str) -> list[dict] | None:
        """The records police.uk returns, or None when it refuses the area as too busy (503)."""
        body = urllib.parse.urlencode({"poly": poly, "date": month}).encode("ascii")
        transient = rate_limited = 0
        while True:
            self.limiter.wait()
            self.requests += 1
            request = urllib.request.Request(
                self.url,
                data=body,
                method="POST",
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            )
            problem: str
            retry_after_s: float | None = None
            try:
                with self.opener.open(request, timeout=REQUEST_TIMEOUT_S) as response:
                    content = response.read()
            except HTTPError as error:
                status = error.code
                retry_after = error.headers.get("Retry-After") if error.headers else None
                error.close()
                if status == 503:  # police.uk's answer to more than 10,000 crimes
                    return None
                if status == 429:
                    rate_limited += 1
                    if rate_limited > MAX_RATE_LIMITED_RETRIES:
                        raise ImportRefused(
                            f"police.uk kept answering HTTP 429 (too many requests) for {month}; "
                            "lower requests_per_second or try again later (months already "
                            "fetched are kept)"
                        ) from error
                    retry_after_s = _seconds(retry_after)
                    self.sleep(retry_after_s or RETRY_BACKOFF_S * 2 ** (rate_limited - 1))
                    continue
                if status < 500:
                    raise ImportRefused(
                        f"police.uk refused {month} with HTTP {status} ({error.reason}); check "
                        "that police.uk has published that month (it adds each month some "
                        "weeks after it ends)"
                    ) from error
                problem = f"HTTP {status} ({error.reason})"
            except URLError as error:
                # refused, no route, unknown host: retrying will not help; a dropped or slow
                # connection may pass on a second try
                if not isinstance(error.reason, TimeoutError | ConnectionResetError):
                    raise ImportRefused(
                        f"police.uk could not be reached: {error.reason}; check the network "
                        "connection (and any proxy), then fetch again"
                    ) from error
                problem = f"the connection failed ({error.reason.__class__.__name__})"
            except (TimeoutError, ConnectionError, HTTPException) as error:
                problem = f"the connection failed ({error.__class__.__name__})"
            else:
                return _records(month, content)
            transient += 1
            if transient > MAX_TRANSIENT_RETRIES:
                raise ImportRefused(
                    f"police.uk failed for {month}: {problem}, {transient} times; try again "
                    "later (months already fetched are kept)"
                )
            log.warning("police.uk %s for %s; retry %d", problem, month, transient)
            self.sleep(RETRY_BACKOFF_S * 2 ** (transient - 1))


def _seconds(retry_after: str | None) -> float | None:
    """A Retry-After header given in seconds (police.uk's form), else None."""
    try:
        return max(0.0, float(retry_after)) if retry_after else None
    except ValueError:
        return None


def _records(month: str, content: bytes) -> list[dict]:
    try:
        records = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ImportRefused(
            f"police.uk's answer for {month} is not JSON ({error}); check base_url"
        ) from error
    if not isinstance(records, list) or not all(isinstance(item, dict) for item in records):
        raise ImportRefused(
            f"police.uk's answer for {month} is not a list of crimes; check base_url"
        )
    return records


def _read_cache(path: Path) -> list[dict] | None:
    """A month fetched before, or None (also for a damaged file, which is fetched again)."""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        log.warning("cached police.uk month %s is damaged; fetching it again", path.name)
        return None
    return records if isinstance(records, list) else None


def _write_cache(path: Path, records: list[dict]) -> None:
    """Write atomically: a fetch killed part-way never leaves a file that looks complete."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(records, out, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _text(value: object) -> str:
    return "" if value is None else str(value)


def records_to_csv(
    month: str, records: list[dict], left_out: Counter[str], unknown: Counter[str]
) -> bytes:
    """The local force's records as a police.uk street-level CSV (UTF-8 bytes).

    ``Crime ID`` is ``persistent_id`` (blank for anti-social behaviour, as in the CSVs).
    ``Reported by``, ``Falls within`` and the LSOA columns are left blank: the API does not give
    them. Other forces' records are counted in ``left_out``; categories this module does not
    know are passed on as their slug and counted in ``unknown``.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(POLICE_UK_COLUMNS)
    for record in records:
        location_type = record.get("location_type")
        if location_type != FORCE:
            left_out[
                BTP_SKIPPED
                if location_type == BTP
                else f"not the local force (police.uk location type {location_type})"
            ] += 1
            continue
        category = _text(record.get("category"))
        crime_type = CRIME_TYPE_BY_CATEGORY.get(category)
        if crime_type is None:
            unknown[category] += 1
            crime_type = category
        location = record.get("location") or {}
        street = location.get("street") or {}
        outcome = record.get("outcome_status") or {}
        writer.writerow(
            [
                _text(record.get("persistent_id")),
                _text(record.get("month")) or month,
                "",
                "",
                _text(location.get("longitude")),
                _text(location.get("latitude")),
                _text(street.get("name")),
                "",
                "",
                crime_type,
                _text(outcome.get("category")),
                _text(record.get("context")),
            ]
        )
    return out.getvalue().encode("utf-8")


def fetch_police_uk(
    engine: Engine,
    *,
    borough_code: str,
    months: list[str],
    role: Role | None,
    cache_dir: Path,
    base_url: str = DEFAULT_BASE_URL,
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND,
    margin_m: float = 100.0,
    progress: Progress | None = None,
    opener: urllib.request.OpenerDirector | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleeper = time.sleep,
) -> PreparedImport:
    """Fetch months of police.uk street-level crimes for the borough and validate them.

    Nothing is written to the store: commit the result with ``police_uk.commit_police_uk``,
    which gives each incident ``borough_code``.

    Parameters
    ----------
    engine
        The store: its current wards give the polygon, its incidents the ones already loaded.
    borough_code
        The borough's ONS code (E09...).
    months
        ``YYYY-MM`` months to fetch (see ``months_between``).
    role
        Must allow loading data.
    cache_dir
        Each month's merged answer is kept as ``YYYY-MM.json`` here; months found here are not
        fetched again, so an interrupted fetch resumes. Use one folder per borough, and delete
        a month's file to fetch it afresh (outcomes change as cases progress).
    base_url
        police.uk's API root (tests point it at a local server).
    requests_per_second
        At most this many requests a second (police.uk allows 15).
    margin_m
        Points within this distance of the borough are asked for and kept (police.uk moves
        points to anonymised locations), as in ``prepare_police_uk``.
    progress
        Called with the number of months done so far, after each month.
    opener
        The ``urllib`` opener to send requests with; ``urllib.request.build_opener()`` by default.
    clock, sleep
        Time source and sleeper of the rate limit and the retries (tests pass fakes).

    Returns
    -------
    The CSV importer's ``PreparedImport`` with ``report.kind`` ``"police-uk-api"`` and the months
    as ``report.file_names``. Raises InvalidInput for a bad month, ImportRefused when police.uk
    cannot be reached or keeps failing (months already fetched stay cached), NotAllowed.
    """
    require(role, Permission.LOAD_DATA)
    if not months:
        raise InvalidInput("Give at least one month to fetch")
    for month in months:
        months_between(month, month)  # refuses a malformed month, naming it
    months = list(dict.fromkeys(months))
    wards = current_wards(engine, borough_code, role)
    if wards.empty:
        raise ImportRefused(
            f"The store holds no wards for {borough_code}; import the ward boundaries first"
        )
    area_bng = borough_area_bng(shapely.union_all(wards.to_crs(BNG).geometry.to_numpy()), margin_m)
    cache_dir.mkdir(parents=True, exist_ok=True)
    client = _Client(
        base_url,
        opener or urllib.request.build_opener(),
        RateLimiter(requests_per_second, clock, sleep),
        sleep,
    )

    files: list[tuple[str, bytes]] = []
    left_out: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    cached = 0
    for done, month in enumerate(months, start=1):
        path = cache_dir / f"{month}.json"
        records = _read_cache(path)
        if records is None:
            records = client.month(month, area_bng)
            _write_cache(path, records)
            log.info("police.uk %s fetched: %d records", month, len(records))
        else:
            cached += 1
        files.append((f"api-{month}.csv", records_to_csv(month, records, left_out, unknown)))
        if progress is not None:
            progress(done)

    prepared = prepare_police_uk(engine, files, borough_code, margin_m, role=role)
    report = prepared.report
    report.kind = KIND
    report.file_names = months
    report.already_imported_as = previous_import(engine, KIND, report.file_sha256)
    for reason, count in left_out.items():
        report.skip(reason, count)
    report.skip(MONTHS_CACHED, cached)
    if cached:
        report.warnings.append(
            f"{cached} month(s) were read from {cache_dir}, fetched before; delete their files "
            "there to fetch them again with the latest outcomes"
        )
    for category, count in sorted(unknown.items()):
        report.warnings.append(
            f"police.uk category {category!r} is not known to this importer; its {count:,} "
            "record(s) were checked against the taxonomy under that name"
        )
    log.info(
        "police.uk API fetch prepared: %d month(s) (%d cached), %d request(s), %d split(s), "
        "sha256 %s, %d to load",
        len(months),
        cached,
        client.requests,
        client.splits,
        report.file_sha256,
        report.rows_accepted,
    )
    return prepared
