"""Benchmark of the map page at 10k, 100k and 1M incidents (run by `make bench`).

For each size N it builds a real SQLite store the way the app does (Alembic migrations, the demo
seeder for wards, CSOs and assets), replaces the demo incidents with N synthetic ones clustered
like the demo's, and measures:

- the insert rate of the incidents (sqlite3 executemany in chunks of 50k rows, oldest first);
- the map page's server time under Streamlit's ``AppTest``: cold (caches cleared) and warm
  (the same ``AppTest`` run again, so the cached loaders answer);
- the size of the map HTML a browser receives (hotspot cells: it should not grow with N);
- the naive alternative, one ``folium.Marker`` per incident in a ``MarkerCluster``, for N up to
  ``--naive-max`` (its size is extrapolated above that, since building it is not feasible);
- the peak resident memory of the whole run.

``--profile`` adds a cProfile of one extra cold page run per size (logged, not timed).

It prints one markdown table and exits non-zero when the map HTML of the largest size is more
than 5% bigger or smaller than that of the smallest: the page must not grow with the incidents.

Timings belong here, never in tests: a test that asserts a duration fails on a busy machine for
no reason a user would care about.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import logging
import os
import pstats
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from folium.plugins import MarkerCluster
from sqlalchemy import Engine, delete, select

# `python benchmarks/bench_map.py` puts benchmarks/ on the path, not the project beside it
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import PROJECT_ROOT, hotspots, maps
from dashboard.access import Role
from dashboard.dates import today_in_london, whole_months_window
from dashboard.demo import DEMO_BOROUGH_CODE, seed_demo
from dashboard.geo import BNG, assign_ward_codes, bng_to_wgs84
from dashboard.store import queries
from dashboard.store.models import (
    AssetKind,
    DataImport,
    ImportStatus,
    Incident,
    LocationPrecision,
)
from dashboard.store.session import make_engine, migrate, session_scope
from dashboard.taxonomy import load_taxonomy
from dashboard.ui import DEFAULT_LOOK_BACK_MONTHS

log = logging.getLogger("bench_map")
OPERATOR = Role.ANALYST  # the benchmark reads as an analyst would

APP_FILE = PROJECT_ROOT / "streamlit_app.py"
DEMO_FILES_DIR = PROJECT_ROOT / "geodata" / "demo"
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
DEFAULT_NAIVE_MAX = 100_000
INSERT_CHUNK_ROWS = 50_000
INSERT_CACHE_KIB = 256 * 1024  # SQLite page cache for the insert (negative cache_size: KiB)
JITTER_M = 250.0  # standard deviation of the jitter around demo points: a few streets
MAX_RESAMPLE_ROUNDS = 50
SIZE_TOLERANCE = 0.05  # the map page's HTML may differ by at most 5% between the sizes
APP_TIMEOUT_S = 600
SEED = 20_240_401
# the demo ends on 31 October, so its last 12 whole months are the 365 days before
DEFAULT_LOOK_BACK_DAYS = 365
KB = 1024


@dataclass
class SizeResult:
    """Everything measured for one number of incidents."""

    incidents: int
    insert_rows_per_s: float = 0.0
    page_cold_s: float = 0.0
    page_warm_s: float = 0.0
    map_bytes: int = 0
    cell_count: int = 0
    borough_cell_count: int = 0  # cells that touch a ward: the most the map can ever draw
    naive_bytes: int | None = None  # None: not built (above --naive-max)
    naive_build_s: float | None = None
    naive_estimated_bytes: int | None = None  # extrapolated from bytes per marker
    steps_s: dict[str, float] = field(default_factory=dict)  # the map's steps, timed directly

    @property
    def naive_ratio(self) -> float:
        naive = self.naive_bytes if self.naive_bytes is not None else self.naive_estimated_bytes
        return (naive or 0) / self.map_bytes


@dataclass(frozen=True)
class DemoSample:
    """The demo incidents that synthetic ones are drawn around (only those inside a ward).

    Flags are already in SQLite's storage form: 0/1, and None where the demo has no value.
    """

    x_bng: np.ndarray
    y_bng: np.ndarray
    minute_of_day: np.ndarray  # float, NaN where the demo has no time of day
    offence: np.ndarray
    category: np.ndarray
    knife: np.ndarray  # int 0/1
    gun: np.ndarray  # int 0/1
    domestic_abuse: np.ndarray  # int 0/1
    victim_age_band: np.ndarray  # object: str or None
    under_25: np.ndarray  # object: 0, 1 or None
    last_day: date


def _timer() -> float:
    return time.perf_counter()


def wait_for_demo_files(demo_dir: Path, timeout_s: float, poll_s: float = 30.0) -> None:
    """Wait until ``demo_dir`` holds the demo incidents (they may still be being generated)."""
    deadline = _timer() + timeout_s
    needed = demo_dir / "incidents.csv.gz"
    while not needed.exists():
        if _timer() > deadline:
            raise SystemExit(f"{needed} is missing; run `python geodata/generate_demo.py` first")
        log.info("waiting for %s (polling every %.0f s)", needed, poll_s)
        time.sleep(poll_s)
    time.sleep(2.0)  # let a writer that just created the file finish it


def read_demo_sample(engine: Engine) -> DemoSample:
    """The seeded demo incidents that lie inside a ward, as arrays."""
    columns = (
        Incident.x_bng,
        Incident.y_bng,
        Incident.occurred_at,
        Incident.offence,
        Incident.category,
        Incident.knife,
        Incident.gun,
        Incident.domestic_abuse,
        Incident.victim_age_band,
        Incident.under_25,
    )
    with engine.connect() as connection:
        rows = connection.execute(select(*columns).where(Incident.ward_code.is_not(None))).all()
    span = queries.incident_span(engine, OPERATOR)
    assert span is not None, "the demo seeder loaded no incidents"
    assert rows, "the demo seeder loaded no incidents inside the wards"
    occurred_at = pd.to_datetime(pd.Series([row.occurred_at for row in rows]))
    minute_of_day = (occurred_at - occurred_at.dt.normalize()).dt.total_seconds() / 60
    return DemoSample(
        x_bng=np.array([row.x_bng for row in rows], dtype=float),
        y_bng=np.array([row.y_bng for row in rows], dtype=float),
        minute_of_day=minute_of_day.to_numpy(dtype=float, na_value=np.nan),
        offence=np.array([row.offence for row in rows], dtype=object),
        category=np.array([row.category for row in rows], dtype=object),
        knife=np.array([row.knife for row in rows], dtype=np.int64),
        gun=np.array([row.gun for row in rows], dtype=np.int64),
        domestic_abuse=np.array([row.domestic_abuse for row in rows], dtype=np.int64),
        victim_age_band=np.array([row.victim_age_band for row in rows], dtype=object),
        under_25=np.array(
            [None if row.under_25 is None else int(row.under_25) for row in rows], dtype=object
        ),
        last_day=span[1],
    )


def synthetic_incidents(
    demo: DemoSample, wards_bng: gpd.GeoDataFrame, count: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """``count`` incidents clustered like the demo's, all inside a ward, over the last 12 months.

    Each copies a random demo incident's offence, flags and time of day, and moves its point by
    Gaussian jitter (``JITTER_M``); points that land outside every ward are drawn again. Dates
    are uniform over the 365 days ending on the demo's last day, the newest on that day itself,
    so the map page's default filter (the last ``DEFAULT_LOOK_BACK_DAYS``) selects them all;
    rows come oldest first.

    Returns the ``incident`` table's columns as SQLite stores them (the text forms SQLAlchemy
    writes for dates and datetimes, 0/1 for booleans), ready for ``executemany``.
    """
    picks = rng.integers(0, len(demo.x_bng), count)
    x_bng = demo.x_bng[picks] + rng.normal(0.0, JITTER_M, count)
    y_bng = demo.y_bng[picks] + rng.normal(0.0, JITTER_M, count)
    ward_codes = assign_ward_codes(x_bng, y_bng, wards_bng)
    for _round in range(MAX_RESAMPLE_ROUNDS):
        outside = np.flatnonzero(pd.isna(ward_codes))
        if outside.size == 0:
            break
        picks[outside] = rng.integers(0, len(demo.x_bng), outside.size)
        x_bng[outside] = demo.x_bng[picks[outside]] + rng.normal(0.0, JITTER_M, outside.size)
        y_bng[outside] = demo.y_bng[picks[outside]] + rng.normal(0.0, JITTER_M, outside.size)
        ward_codes[outside] = assign_ward_codes(x_bng[outside], y_bng[outside], wards_bng)
    outside = np.flatnonzero(pd.isna(ward_codes))
    if outside.size:  # a handful left after many rounds: put them on their demo point
        x_bng[outside], y_bng[outside] = demo.x_bng[picks[outside]], demo.y_bng[picks[outside]]
        ward_codes[outside] = assign_ward_codes(x_bng[outside], y_bng[outside], wards_bng)

    # oldest first, as imports arrive; it also lets SQLite append to its date indexes
    days_back = np.sort(rng.integers(0, DEFAULT_LOOK_BACK_DAYS, count))[::-1]
    days_back[-1] = 0  # the newest incident keeps the span (and so the default filter) in place
    occurred_on = np.datetime64(demo.last_day, "D") - days_back.astype("timedelta64[D]")
    minutes = demo.minute_of_day[picks]
    occurred_at = occurred_on.astype("datetime64[m]") + np.nan_to_num(minutes).astype(
        "timedelta64[m]"
    )
    occurred_at_text = np.char.replace(
        np.datetime_as_string(occurred_at, unit="us"), "T", " "
    ).astype(object)
    occurred_at_text[np.isnan(minutes)] = None
    longitude, latitude = bng_to_wgs84(x_bng, y_bng)
    return {
        "source": np.full(count, "police_extract", dtype=object),
        "source_ref": np.array([f"bench-{index:08d}" for index in range(count)], dtype=object),
        "occurred_on": np.datetime_as_string(occurred_on, unit="D").astype(object),
        "occurred_at": occurred_at_text,
        "offence": demo.offence[picks],
        "category": demo.category[picks],
        "knife": demo.knife[picks],
        "gun": demo.gun[picks],
        "domestic_abuse": demo.domestic_abuse[picks],
        "victim_age_band": demo.victim_age_band[picks],
        "under_25": demo.under_25[picks],
        "longitude": longitude,
        "latitude": latitude,
        "x_bng": x_bng,
        "y_bng": y_bng,
        "ward_code": ward_codes,
        "location_precision": np.full(count, LocationPrecision.SYNTHETIC.value, dtype=object),
    }


def _row_chunks(
    columns: dict[str, np.ndarray], import_id: int
) -> Iterator[list[tuple[object, ...]]]:
    """Chunks of rows as plain Python tuples (sqlite3 binds neither numpy bools nor numpy ints)."""
    count = len(columns["source_ref"])
    for start in range(0, count, INSERT_CHUNK_ROWS):
        stop = min(start + INSERT_CHUNK_ROWS, count)
        values = [column[start:stop].tolist() for column in columns.values()]
        values.append([import_id] * (stop - start))
        yield list(zip(*values, strict=True))


def replace_incidents(engine: Engine, columns: dict[str, np.ndarray]) -> float:
    """Delete every incident, insert ``columns`` under a new import; returns the insert seconds.

    The rows go straight to sqlite3's ``executemany`` in chunks, already in the form SQLAlchemy
    would store them: SQLAlchemy's per-row parameter processing would cost more than SQLite's
    writing (Core ~16k rows/s; ``Session.execute(insert(Incident), rows)``, ORM bulk insert,
    splits rows into a batch per pattern of NULL columns and manages ~10k rows/s).
    """
    count = len(columns["source_ref"])
    with session_scope(engine) as session:
        session.execute(delete(Incident))
        data_import = DataImport(
            kind="benchmark",
            file_name="synthetic incidents",
            file_sha256="0" * 64,
            imported_by="bench_map",
            imported_at=datetime.now().replace(microsecond=0),  # noqa: DTZ005 (local wall time)
            rows_accepted=count,
            rows_rejected=0,
            status=ImportStatus.COMMITTED,
        )
        session.add(data_import)
        session.flush()
        import_id = data_import.id
    names = [*columns, "import_id"]
    statement = (
        f"INSERT INTO {Incident.__tablename__} ({', '.join(names)}) "
        f"VALUES ({', '.join('?' * len(names))})"
    )
    started = _timer()
    connection = engine.raw_connection()  # the engine's own: WAL and synchronous=NORMAL set
    try:
        cursor = connection.cursor()
        # SQLite's default page cache (2 MB) is far smaller than the three indexes being grown at
        # random, so every row would evict and reread pages; this connection alone gets 256 MB.
        cursor.execute(f"PRAGMA cache_size=-{INSERT_CACHE_KIB}")
        for rows in _row_chunks(columns, import_id):
            cursor.executemany(statement, rows)
        cursor.close()
        connection.commit()
    finally:
        connection.close()
    return _timer() - started


def build_store(
    directory: Path, demo_dir: Path, count: int, rng: np.random.Generator
) -> tuple[str, float]:
    """A migrated, demo-seeded SQLite store whose incidents are ``count`` synthetic ones.

    Returns the database URL and the insert rate in rows per second.
    """
    url = f"sqlite:///{directory / 'bench.db'}"
    engine = make_engine(url)
    try:
        migrate(engine)
        seed_demo(engine, DEMO_BOROUGH_CODE, load_taxonomy(), demo_dir=demo_dir)
        demo = read_demo_sample(engine)
        wards_bng = queries.current_wards(engine, DEMO_BOROUGH_CODE, OPERATOR).to_crs(BNG)
        started = _timer()
        columns = synthetic_incidents(demo, wards_bng, count, rng)
        log.info("%s incidents generated in %.1f s", f"{count:,}", _timer() - started)
        insert_s = replace_incidents(engine, columns)
    finally:
        engine.dispose()
    log.info("%s incidents inserted in %.1f s", f"{count:,}", insert_s)
    return url, count / insert_s


def _metric(at: AppTest, label: str) -> int:
    return int(next(m.value for m in at.metric if m.label == label).replace(",", ""))


def fresh_app(database_url: str) -> AppTest:
    """The whole app against ``database_url`` as the demo analyst, with every cache cleared."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["MAP_TILES"] = "none"
    os.environ["BOROUGH_CODE"] = DEMO_BOROUGH_CODE
    st.cache_data.clear()
    st.cache_resource.clear()
    gc.collect()
    at = AppTest.from_file(str(APP_FILE), default_timeout=APP_TIMEOUT_S)
    at.user = {"is_logged_in": True, "email": "demo-analyst@example.org"}  # a seeded demo user
    return at


def _run_checked(at: AppTest, count: int) -> float:
    started = _timer()
    at.run()
    elapsed = _timer() - started
    assert not at.exception, f"the map page raised: {at.exception}"
    shown = _metric(at, "Incidents shown")
    assert shown == count, f"the default filter shows {shown:,} of {count:,} incidents"
    return elapsed


def warm_up_process(database_url: str, count: int) -> None:
    """One untimed page run, so one-off costs (imports, Streamlit's runtime) miss the first size."""
    _run_checked(fresh_app(database_url), count)


def time_map_page(database_url: str, count: int) -> tuple[float, float]:
    """Seconds for the map page's first run with empty caches, then for a second (cached) run."""
    at = fresh_app(database_url)
    cold_s = _run_checked(at, count)
    warm_s = _run_checked(at, count)
    return cold_s, warm_s


def profile_cold_page(database_url: str, count: int, top: int = 40) -> str:
    """cProfile of one more cold run, the functions with the most cumulative time first.

    ``AppTest`` runs the page in a thread of its own, so the profiler is switched on inside the
    threads started during the run rather than in this one (where it would only see a sleep).
    """
    at = fresh_app(database_url)
    profiler = cProfile.Profile()
    thread_run = threading.Thread.run

    def profiled_run(thread: threading.Thread) -> None:
        profiler.enable()
        try:
            thread_run(thread)
        finally:
            profiler.disable()

    threading.Thread.run = profiled_run  # type: ignore[method-assign]
    try:
        _run_checked(at, count)
    finally:
        threading.Thread.run = thread_run  # type: ignore[method-assign]
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


@dataclass(frozen=True)
class MapInputs:
    """What the map page loads before it builds the map, loaded the same way."""

    wards: gpd.GeoDataFrame
    assignments: pd.DataFrame
    bins: gpd.GeoDataFrame
    bus_stops: gpd.GeoDataFrame
    schedule: pd.DataFrame
    synthetic: bool
    incidents: pd.DataFrame
    cells_bng: gpd.GeoDataFrame
    breaks: list[int]


def default_filter(engine: Engine) -> queries.IncidentFilter:
    """The map page's filter before anyone touches a widget: the last 12 months, everything."""
    span = queries.incident_span(engine, OPERATOR)
    assert span is not None
    first, last = span
    start, end = whole_months_window(first, last, DEFAULT_LOOK_BACK_MONTHS)
    return queries.IncidentFilter(start=start, end=end)


def load_map_inputs(engine: Engine, steps_s: dict[str, float]) -> MapInputs:
    """Load what the page loads, timing the incident query and the cell counts into ``steps_s``."""
    started = _timer()
    incidents = queries.incidents(engine, default_filter(engine), OPERATOR)
    steps_s["query"] = _timer() - started
    wards = queries.current_wards(engine, DEMO_BOROUGH_CODE, OPERATOR)
    started = _timer()
    # the same two steps as ui.cached_grid and ui.cached_cells
    grid_bng = hotspots.borough_grid(wards.to_crs(BNG), hotspots.DEFAULT_CELL_SIZE_M)
    cells_bng = hotspots.count_on_grid(
        grid_bng,
        incidents["x_bng"].to_numpy(),
        incidents["y_bng"].to_numpy(),
        hotspots.DEFAULT_CELL_SIZE_M,
    )
    breaks = hotspots.count_class_breaks(cells_bng["incident_count"])
    steps_s["cells"] = _timer() - started
    return MapInputs(
        wards=wards,
        assignments=queries.current_cso_assignments(engine, today_in_london(), OPERATOR),
        bins=queries.assets(engine, AssetKind.KNIFE_BIN, OPERATOR),
        bus_stops=queries.assets(engine, AssetKind.YOUTH_BUS_STOP, OPERATOR),
        schedule=queries.youth_bus_schedule(engine, OPERATOR),
        synthetic=queries.dataset_info(engine).get("synthetic") == "true",
        incidents=incidents,
        cells_bng=cells_bng,
        breaks=breaks,
    )


def base_map(inputs: MapInputs) -> folium.Map:
    """The page's map: wards, CSOs, hotspot cells, bins and bus stops; tiles off."""
    return maps.borough_map(
        wards=inputs.wards,
        assignments=inputs.assignments,
        bins=inputs.bins,
        bus_stops=inputs.bus_stops,
        schedule=inputs.schedule,
        cells_bng=inputs.cells_bng,
        hotspot_breaks=inputs.breaks,
        cell_size_m=hotspots.DEFAULT_CELL_SIZE_M,
        style=maps.MapStyle(tiles_url=None),
        synthetic=inputs.synthetic,
    )


def naive_map_html(inputs: MapInputs) -> str:
    """The pitfall: the same map plus one clustered marker per incident, rendered to HTML."""
    fmap = base_map(inputs)
    longitude, latitude = bng_to_wgs84(
        inputs.incidents["x_bng"].to_numpy(), inputs.incidents["y_bng"].to_numpy()
    )
    cluster = MarkerCluster(name="Incidents (one marker each)").add_to(fmap)
    for lat, lon in zip(latitude.tolist(), longitude.tolist(), strict=True):
        folium.Marker(location=(lat, lon)).add_to(cluster)
    return maps.map_html(fmap)


def measure_html(database_url: str, result: SizeResult, naive_max: int) -> None:
    """Map HTML size and its steps' times; the naive markers' size and time up to the limit."""
    engine = make_engine(database_url)
    try:
        inputs = load_map_inputs(engine, result.steps_s)
    finally:
        engine.dispose()
    started = _timer()
    fmap = base_map(inputs)
    result.steps_s["build"] = _timer() - started
    started = _timer()
    result.map_bytes = len(maps.map_html(fmap).encode())
    result.steps_s["render"] = _timer() - started
    result.cell_count = int((inputs.cells_bng["incident_count"] > 0).sum())
    result.borough_cell_count = len(inputs.cells_bng)  # the whole grid is always drawn
    if result.incidents <= naive_max:
        started = _timer()
        result.naive_bytes = len(naive_map_html(inputs).encode())
        result.naive_build_s = _timer() - started


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KB


def bench_size(
    count: int, args: argparse.Namespace, warm_up: bool, rng: np.random.Generator
) -> SizeResult:
    """Every measurement for ``count`` incidents, in a store that is deleted afterwards."""
    result = SizeResult(incidents=count)
    with tempfile.TemporaryDirectory(prefix="bench_map_") as directory:
        database_url, result.insert_rows_per_s = build_store(
            Path(directory), args.demo_dir, count, rng
        )
        if warm_up:
            warm_up_process(database_url, count)
        result.page_cold_s, result.page_warm_s = time_map_page(database_url, count)
        log.info(
            "%s: map page cold %.2f s, warm %.2f s",
            f"{count:,}",
            result.page_cold_s,
            result.page_warm_s,
        )
        if args.profile:
            log.info(
                "cold run profile at %s incidents:\n%s",
                f"{count:,}",
                profile_cold_page(database_url, count),
            )
        measure_html(database_url, result, args.naive_max)
    st.cache_data.clear()
    st.cache_resource.clear()
    gc.collect()
    log.info("%s: done; peak RSS so far %.0f MB", f"{count:,}", peak_rss_mb())
    return result


def extrapolate_naive(results: list[SizeResult]) -> float | None:
    """Bytes per marker from the largest naive map built, applied to the sizes above the limit."""
    built = [r for r in results if r.naive_bytes is not None]
    if not built:
        return None
    largest = max(built, key=lambda r: r.incidents)
    per_marker = ((largest.naive_bytes or 0) - largest.map_bytes) / largest.incidents
    for result in results:
        if result.naive_bytes is None:
            result.naive_estimated_bytes = round(result.map_bytes + per_marker * result.incidents)
    return per_marker


def _kb(size: int) -> str:
    return f"{size / KB:,.0f}"


def table(results: list[SizeResult]) -> str:
    """The results side by side, as a markdown table."""
    header = [
        "incidents",
        "insert rate",
        "map page cold (s)",
        "map page warm (s)",
        "map HTML (KB)",
        "naive HTML (KB)",
        "naive build (s)",
        "naive/cells size ratio",
    ]
    rows = []
    for r in results:
        if r.naive_bytes is not None:
            naive_kb, naive_s = _kb(r.naive_bytes), f"{r.naive_build_s:.1f}"
            ratio = f"{r.naive_ratio:.0f}x"
        elif r.naive_estimated_bytes is not None:
            naive_kb = f"not feasible (~{_kb(r.naive_estimated_bytes)} est.)"
            naive_s, ratio = "not feasible", f"~{r.naive_ratio:.0f}x (est.)"
        else:  # no naive map was built at any size, so there is nothing to extrapolate from
            naive_kb = naive_s = ratio = "not built"
        rows.append(
            [
                f"{r.incidents:,}",
                f"{r.insert_rows_per_s:,.0f} rows/s",
                f"{r.page_cold_s:.2f}",
                f"{r.page_warm_s:.2f}",
                _kb(r.map_bytes),
                naive_kb,
                naive_s,
                ratio,
            ]
        )
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += [
        "| " + " | ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    return "\n".join(lines) + "\n"


def report(results: list[SizeResult], per_marker: float | None, naive_max: int) -> bool:
    """Write the table and the verdicts to stdout; True when the map size does not grow with N."""
    out = sys.stdout
    out.write(table(results))
    out.write("\n")
    smallest, largest = results[0], results[-1]
    ratio = largest.map_bytes / smallest.map_bytes
    ok = abs(ratio - 1) <= SIZE_TOLERANCE
    out.write(
        f"map HTML size at {largest.incidents:,} / at {smallest.incidents:,} incidents: "
        f"{ratio:.3f} ({largest.map_bytes:,} / {smallest.map_bytes:,} bytes; "
        f"{largest.cell_count:,} / {smallest.cell_count:,} non-empty cells of the "
        f"{largest.borough_cell_count:,} that touch a ward; "
        f"must be within {SIZE_TOLERANCE:.0%}): {'OK' if ok else 'FAIL'}\n"
    )
    for r in results:
        out.write(
            f"warm/cold at {r.incidents:,}: {r.page_warm_s / r.page_cold_s:.2f} "
            f"({r.page_warm_s:.2f} s / {r.page_cold_s:.2f} s)\n"
        )
    for r in results:
        steps = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in r.steps_s.items())
        out.write(f"map steps outside Streamlit at {r.incidents:,}: {steps}\n")
    if per_marker is not None:
        above = [r for r in results if r.naive_bytes is None]
        if above:
            out.write(
                f"naive markers above {naive_max:,} incidents: not feasible; size extrapolated at "
                f"{per_marker:.0f} bytes per marker x N\n"
            )
        else:
            out.write(f"naive markers cost {per_marker:.0f} bytes each\n")
    out.write(f"peak RSS: {peak_rss_mb():,.0f} MB\n")
    return ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="incident counts"
    )
    parser.add_argument(
        "--naive-max",
        type=int,
        default=DEFAULT_NAIVE_MAX,
        help="largest count for which the one-marker-per-incident map is built",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="log a cProfile of one extra cold page run per size (not counted in the timings)",
    )
    parser.add_argument(
        "--demo-dir",
        type=Path,
        default=DEMO_FILES_DIR,
        help="the demo files the stores are seeded from (default geodata/demo)",
    )
    parser.add_argument(
        "--wait-for-demo-s",
        type=float,
        default=900.0,
        help="how long to wait for geodata/demo to appear",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = parse_args(argv)
    sizes = sorted(set(args.sizes))
    wait_for_demo_files(args.demo_dir, args.wait_for_demo_s)
    started = _timer()
    rng = np.random.default_rng(SEED)
    results = [bench_size(count, args, index == 0, rng) for index, count in enumerate(sizes)]
    per_marker = extrapolate_naive(results)
    ok = report(results, per_marker, args.naive_max)
    sys.stdout.write(f"total wall time: {_timer() - started:.0f} s\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
