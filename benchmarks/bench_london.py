"""London-scale benchmark: 33 boroughs, 3,000,000 incidents, SQLite and PostgreSQL (`make bench`).

For each store (a SQLite file, and a PostgreSQL database on ``TEST_DATABASE_URL`` when it is set)
it builds what a London-wide deployment would hold and measures the pages a VRU analyst opens:

1. Migrations and the demo (Wandsworth: real ward boundaries, CSOs, bins, plans); the demo's own
   15k incidents are deleted, so every borough holds police.uk-format incidents only.
2. 32 more boroughs, each the demo's 22 Wandsworth wards moved on a 6 x 6 grid 12 km apart in
   EPSG:27700 (none overlap) under the ONS code of a real London borough and new ward codes
   (E059bbwww), loaded through the real ward boundaries importer (``prepare_boundaries`` then
   ``commit_boundaries``) from an ONS-layout GeoJSON.
3. police.uk street-level CSVs in the real column layout: ``--incidents`` violent incidents
   (violence and sexual offences, robbery, weapons possession: all counted, so all load) over 60
   months ending with the demo's last month, spread evenly over the boroughs, each point a demo
   incident's moved by Gaussian jitter (250 m) and kept inside the wards, then moved into its
   borough. Seeded, written once and used for both stores. Each borough's file goes through the
   real importer (``prepare_police_uk``, timed as "check", then ``commit_police_uk``, "write").
4. In a child process per store (so its peak memory is the pages' own), signed in as a
   London-wide analyst, under Streamlit's ``AppTest``: the Map page for Wandsworth and for All of
   London, the Hotspots page and the Quarterly page for Wandsworth, each cold (every Streamlit
   cache cleared) and warm (the same ``AppTest`` run again); the bytes the map component sends
   and of every element of the run; then all four pages one after another without clearing, as
   one server holding all their caches, and the process's peak resident memory.

Whether the map grows with the incidents is checked against a reference SQLite store with the same
boroughs and 1/10 of the incidents: the map component, less its Gi* significance layer, must stay
within 5 % of its size there. That layer draws the cells Gi* finds significant, which are more
with more incidents (more statistical power) but never more than the grid's cells, so it is
reported (its bytes, its cells, the map's size were every cell significant) rather than checked.
That is the only target the exit status enforces (non-zero when the map grows, or when a store
could not be built or a page raised). The time and memory targets (warm under 1 s, cold under 10 s,
peak under 2 GiB) are printed as PASS or MISS, not failed on: on a shared 2-core machine a busy
neighbour moves them, and a bench that fails for that says nothing a user would care about.

``--profile`` logs cProfiles of one more cold run of each page and the warm run after it (not in
the timings). "Cold" clears Streamlit's caches, not the operating system's file cache: the store
was just written, so its pages are usually still in memory (a first read from disk can take twice
as long on SQLite).
A small run to try it out: ``--incidents 100000 --boroughs 4`` (a few minutes with both stores).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import logging
import os
import pstats
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import Engine, create_engine, delete, text
from sqlalchemy.engine import make_url

# `python benchmarks/bench_london.py` puts benchmarks/ on the path, not the project beside it
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard import PROJECT_ROOT, users
from dashboard.access import Role
from dashboard.boroughs import LONDON_BOROUGHS, borough_name
from dashboard.demo import DEMO_BOROUGH_CODE, DEMO_DIR, DEMO_WARDS_FILE, seed_demo
from dashboard.geo import BNG, WGS84, assign_ward_codes, bng_to_wgs84, wgs84_to_bng
from dashboard.importers.boundaries import commit_boundaries, prepare_boundaries, read_ons_wards
from dashboard.importers.police_uk import commit_police_uk, prepare_police_uk
from dashboard.store.models import Incident
from dashboard.store.session import make_engine, migrate, session_scope
from dashboard.taxonomy import load_taxonomy

if TYPE_CHECKING:  # streamlit is imported where it is used: the build child does without it
    from streamlit.testing.v1 import AppTest

log = logging.getLogger("bench_london")

APP_FILE = PROJECT_ROOT / "streamlit_app.py"
DEFAULT_INCIDENTS = 3_000_000
DEFAULT_BOROUGHS = len(LONDON_BOROUGHS)  # 33, the City of London included
REFERENCE_SHARE = 10  # the reference store holds 1/10 of the incidents: the map must not change
MONTHS = 60  # five years
GRID_COLUMNS = 6  # boroughs on a 6 x 6 grid; Wandsworth stays where it is, in slot (2, 2)
WANDSWORTH_SLOT = (2, 2)
SPACING_M = 12_000.0  # Wandsworth is 9.1 km x 7.5 km, so copies 12 km apart never overlap
JITTER_M = 250.0  # standard deviation of the jitter around demo points: a few streets
MAX_RESAMPLE_ROUNDS = 50
SEED = 20_261_201
# police.uk crime types the taxonomy counts, roughly in London's proportions: every row loads
CRIME_TYPES = np.array(["Violence and sexual offences", "Robbery", "Possession of weapons"])
CRIME_WEIGHTS = [0.82, 0.14, 0.04]
OUTCOMES = np.array(
    [
        "Investigation complete; no suspect identified",
        "Unable to prosecute suspect",
        "Under investigation",
        "Status update unavailable",
        "Awaiting court outcome",
    ]
)
SIGNIFICANT_CELL = re.compile(r'"hotspot_class": "')  # one per Gi* cell drawn (maps.py)
STYLER = re.compile(r"function (\w+)_styler\(feature\)")  # Folium's per-layer style function
GRID_CAPTION = re.compile(r"busiest of ([\d,]+) cells")  # the Map page's cells table caption
BENCH_EMAIL = "bench-vru@london.example.org"  # the London-wide analyst the pages are opened as
BOROUGH_CHOICE_KEY = "borough_choice"  # dashboard.ui.BOROUGH_CHOICE_KEY (ui imports streamlit)
ALL_LONDON = "london"
SIZE_TOLERANCE = 0.05
WARM_TARGET_S = 1.0
COLD_TARGET_S = 10.0
MEMORY_TARGET_MB = 2048.0
APP_TIMEOUT_S = 1800
KB = 1024
MAP_PAGE, HOTSPOTS_PAGE, QUARTERLY_PAGE = "pages/map.py", "pages/hotspots.py", "pages/quarterly.py"
# (key, page, borough choice, label): what the pages child measures, in this order
PAGE_RUNS = (
    ("map_one", MAP_PAGE, DEMO_BOROUGH_CODE, "Map, Wandsworth"),
    ("map_london", MAP_PAGE, ALL_LONDON, "Map, All of London"),
    ("hotspots", HOTSPOTS_PAGE, DEMO_BOROUGH_CODE, "Hotspots, Wandsworth"),
    ("quarterly", QUARTERLY_PAGE, DEMO_BOROUGH_CODE, "Quarterly, Wandsworth"),
)


def _timer() -> float:
    return time.perf_counter()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KB


def current_rss_mb() -> float:
    """Resident memory of this process now, from /proc (0 where there is none)."""
    status = Path("/proc/self/status")
    if not status.exists():
        return 0.0
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / KB
    return 0.0


# ---------------------------------------------------------------------------------------------
# The boroughs and their files (written once, used by every store)


@dataclass(frozen=True)
class Borough:
    """One borough of the synthetic London: a copy of Wandsworth's wards moved by an offset."""

    code: str
    index: int  # 0 is Wandsworth itself
    offset_x_m: float
    offset_y_m: float
    incidents: int
    incidents_file: str = ""  # file names inside the data folder
    wards_file: str = ""  # "" for Wandsworth: its wards come with the demo

    @property
    def name(self) -> str:
        return borough_name(self.code)


def borough_layout(boroughs: int, incidents: int) -> list[Borough]:
    """Wandsworth and ``boroughs - 1`` others, each with its slot on the grid and its incidents.

    The others are the London boroughs in ONS code order. Incidents are shared out evenly (the
    first boroughs take one more when they do not divide).
    """
    others = sorted(code for code in LONDON_BOROUGHS if code != DEMO_BOROUGH_CODE)
    if not 1 <= boroughs <= len(others) + 1:
        raise SystemExit(f"--boroughs must be 1 to {len(others) + 1}, got {boroughs}")
    if incidents < boroughs:
        raise SystemExit(f"--incidents must be at least --boroughs ({boroughs}), got {incidents}")
    slots = [
        (column, row)
        for row in range(GRID_COLUMNS)
        for column in range(GRID_COLUMNS)
        if (column, row) != WANDSWORTH_SLOT
    ]
    share, extra = divmod(incidents, boroughs)
    layout = []
    for index, code in enumerate([DEMO_BOROUGH_CODE, *others[: boroughs - 1]]):
        column, row = WANDSWORTH_SLOT if index == 0 else slots[index - 1]
        layout.append(
            Borough(
                code=code,
                index=index,
                offset_x_m=(column - WANDSWORTH_SLOT[0]) * SPACING_M,
                offset_y_m=(row - WANDSWORTH_SLOT[1]) * SPACING_M,
                incidents=share + (1 if index < extra else 0),
            )
        )
    return layout


def demo_points_bng(wards_bng: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray, str]:
    """The demo incidents inside Wandsworth's wards (EPSG:27700) and the demo's last month."""
    demo = pd.read_csv(
        DEMO_DIR / "incidents.csv.gz", usecols=["occurred_at", "longitude", "latitude"]
    )
    x_bng, y_bng = wgs84_to_bng(demo["longitude"].to_numpy(), demo["latitude"].to_numpy())
    inside = pd.notna(assign_ward_codes(x_bng, y_bng, wards_bng))
    return x_bng[inside], y_bng[inside], str(demo["occurred_at"].max())[:7]


def points_in_wards(
    demo_x: np.ndarray,
    demo_y: np.ndarray,
    wards_bng: gpd.GeoDataFrame,
    count: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` points jittered around random demo points, all inside a ward (EPSG:27700)."""
    picks = rng.integers(0, len(demo_x), count)
    x_bng = demo_x[picks] + rng.normal(0.0, JITTER_M, count)
    y_bng = demo_y[picks] + rng.normal(0.0, JITTER_M, count)
    outside = np.flatnonzero(pd.isna(assign_ward_codes(x_bng, y_bng, wards_bng)))
    for _round in range(MAX_RESAMPLE_ROUNDS):
        if outside.size == 0:
            break
        picks[outside] = rng.integers(0, len(demo_x), outside.size)
        x_bng[outside] = demo_x[picks[outside]] + rng.normal(0.0, JITTER_M, outside.size)
        y_bng[outside] = demo_y[picks[outside]] + rng.normal(0.0, JITTER_M, outside.size)
        still = pd.isna(assign_ward_codes(x_bng[outside], y_bng[outside], wards_bng))
        outside = outside[still]
    # a handful left after many rounds: put them on their demo point, which is inside
    x_bng[outside], y_bng[outside] = demo_x[picks[outside]], demo_y[picks[outside]]
    return x_bng, y_bng


def month_range(last_month: str, months: int) -> np.ndarray:
    """The ``months`` months (YYYY-MM) ending with ``last_month``, oldest first."""
    end = pd.Period(last_month, freq="M")
    return pd.period_range(end - (months - 1), end, freq="M").astype(str).to_numpy()


def police_uk_frame(
    borough: Borough,
    longitude: np.ndarray,
    latitude: np.ndarray,
    months: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """police.uk street-level rows for ``borough``, month by month as police.uk has them."""
    count = len(longitude)
    # 64 hex digits like police.uk's, unique over every borough: no row is "already stored"
    crime_ids = [f"{borough.index:04x}{row:060x}" for row in range(count)]
    frame = pd.DataFrame(
        {
            "Crime ID": crime_ids,
            "Month": rng.choice(months, count),
            "Reported by": "Metropolitan Police Service",
            "Falls within": "Metropolitan Police Service",
            "Longitude": np.round(longitude, 6),
            "Latitude": np.round(latitude, 6),
            "Location": "On or near High Street",
            "LSOA code": "E01000000",
            "LSOA name": f"{borough.name} 001A",
            "Crime type": rng.choice(CRIME_TYPES, count, p=CRIME_WEIGHTS),
            "Last outcome category": rng.choice(OUTCOMES, count),
            "Context": "",
        }
    )
    return frame.sort_values("Month", kind="stable", ignore_index=True)


def moved_wards(wards_bng: gpd.GeoDataFrame, borough: Borough) -> gpd.GeoDataFrame:
    """Wandsworth's wards moved into ``borough``'s slot, in the ONS file layout (EPSG:4326)."""
    moved = wards_bng.geometry.translate(xoff=borough.offset_x_m, yoff=borough.offset_y_m)
    return gpd.GeoDataFrame(
        {
            "WD22CD": [f"E059{borough.index:02d}{number:03d}" for number in range(len(wards_bng))],
            "WD22NM": [f"{name} ({borough.name})" for name in wards_bng["name"]],
            "LAD22CD": borough.code,
            "LAD22NM": borough.name,
        },
        geometry=moved.to_crs(WGS84).to_numpy(),
        crs=WGS84,
    )


def write_data(folder: Path, boroughs: int, incidents: int) -> list[Borough]:
    """Write (or reuse, when ``folder`` already holds the same set) every borough's files.

    ``folder/manifest.json`` lists the boroughs with their files; the build reads it.
    """
    manifest = folder / "manifest.json"
    wanted = {"boroughs": boroughs, "incidents": incidents, "seed": SEED, "months": MONTHS}
    if manifest.exists():
        saved = json.loads(manifest.read_text())
        if saved["parameters"] == wanted:
            log.info("reusing the files in %s", folder)
            return [Borough(**fields) for fields in saved["boroughs"]]
    folder.mkdir(parents=True, exist_ok=True)
    started = _timer()
    wards, _vintage = read_ons_wards(DEMO_WARDS_FILE, DEMO_BOROUGH_CODE)
    wards_bng = wards.to_crs(BNG)
    demo_x, demo_y, last_month = demo_points_bng(wards_bng)
    months = month_range(last_month, MONTHS)
    rng = np.random.default_rng([SEED, incidents, boroughs])
    layout = []
    for borough in borough_layout(boroughs, incidents):
        x_bng, y_bng = points_in_wards(demo_x, demo_y, wards_bng, borough.incidents, rng)
        longitude, latitude = bng_to_wgs84(x_bng + borough.offset_x_m, y_bng + borough.offset_y_m)
        incidents_file = f"{borough.code}-street.csv"
        police_uk_frame(borough, longitude, latitude, months, rng).to_csv(
            folder / incidents_file, index=False
        )
        wards_file = ""
        if borough.code != DEMO_BOROUGH_CODE:
            wards_file = f"{borough.code}-wards.geojson"
            (folder / wards_file).write_text(moved_wards(wards_bng, borough).to_json())
        layout.append(
            Borough(
                **{**asdict(borough), "incidents_file": incidents_file, "wards_file": wards_file}
            )
        )
    size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
    manifest.write_text(
        json.dumps({"parameters": wanted, "boroughs": [asdict(b) for b in layout]}, indent=1)
    )
    log.info(
        "wrote %s incidents for %d boroughs (%s to %s, %.0f MB) in %s in %.0f s",
        f"{incidents:,}",
        boroughs,
        months[0],
        months[-1],
        size_mb,
        folder,
        _timer() - started,
    )
    return layout


def read_layout(folder: Path) -> list[Borough]:
    return [
        Borough(**fields)
        for fields in json.loads((folder / "manifest.json").read_text())["boroughs"]
    ]


# ---------------------------------------------------------------------------------------------
# Child process 1: build a store


def store_bytes(engine: Engine) -> int:
    """How much the store takes on disk: the SQLite files, or the PostgreSQL database."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return sum(
            Path(f"{url.database}{suffix}").stat().st_size
            for suffix in ("", "-wal")
            if Path(f"{url.database}{suffix}").exists()
        )
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT pg_database_size(current_database())")))


def build_store(database_url: str, data_folder: Path, label: str) -> dict[str, object]:
    """Migrate, seed the demo, load every borough's wards and incidents; returns the timings."""
    layout = read_layout(data_folder)
    engine = make_engine(database_url)
    result: dict[str, object] = {}
    try:
        started = _timer()
        migrate(engine)
        seed_demo(engine, DEMO_BOROUGH_CODE, load_taxonomy())
        with session_scope(engine) as session:  # incident_ward rows go with them (ON DELETE)
            result["demo_incidents_deleted"] = session.execute(delete(Incident)).rowcount
        users.add_user(
            engine,
            "bench",
            email=BENCH_EMAIL,
            display_name="London benchmark analyst",
            role=Role.ANALYST,
            london_wide=True,
        )
        result["setup_s"] = _timer() - started
        log.info("%s: migrated and seeded in %.1f s", label, result["setup_s"])

        started = _timer()
        for borough in layout:
            if not borough.wards_file:
                continue
            content = (data_folder / borough.wards_file).read_bytes()
            prepared = prepare_boundaries(
                engine, [(borough.wards_file, content)], borough.code, Role.ANALYST
            )
            if prepared.report.rejected:
                raise SystemExit(f"{borough.wards_file}: {prepared.report.rejected[:3]}")
            commit_boundaries(engine, prepared, BENCH_EMAIL, Role.ANALYST)
        result["boundaries_s"] = _timer() - started
        log.info(
            "%s: ward boundaries of %d boroughs imported in %.1f s",
            label,
            len(layout) - 1,
            result["boundaries_s"],
        )

        rows_read = rows_loaded = 0
        prepare_s = commit_s = 0.0
        slowest: dict[str, tuple[float, str]] = {"check": (0.0, ""), "write": (0.0, "")}
        per_borough: list[tuple[float, float]] = []  # rows/s to check and to write
        for number, borough in enumerate(layout, start=1):
            content = (data_folder / borough.incidents_file).read_bytes()
            started = _timer()
            prepared = prepare_police_uk(
                engine, [(borough.incidents_file, content)], borough.code, role=Role.ANALYST
            )
            checked_s = _timer() - started
            started = _timer()
            commit_police_uk(engine, prepared, BENCH_EMAIL, Role.ANALYST)
            written_s = _timer() - started
            report = prepared.report
            if report.rows_accepted != borough.incidents or report.rejected:
                raise SystemExit(
                    f"{borough.incidents_file}: {report.rows_accepted:,} of "
                    f"{borough.incidents:,} rows loaded; skipped {report.skipped}, "
                    f"rejected {report.rows_rejected}"
                )
            rows_read += report.rows_read
            rows_loaded += report.rows_accepted
            prepare_s += checked_s
            commit_s += written_s
            for step, seconds in (("check", checked_s), ("write", written_s)):
                slowest[step] = max(slowest[step], (seconds, borough.name))
            per_borough.append((report.rows_accepted / checked_s, report.rows_accepted / written_s))
            log.info(
                "%s: %2d/%d %s: %s rows checked in %.1f s, written in %.1f s",
                label,
                number,
                len(layout),
                borough.name,
                f"{report.rows_accepted:,}",
                checked_s,
                written_s,
            )
        result.update(
            rows_read=rows_read,
            rows_loaded=rows_loaded,
            prepare_s=prepare_s,
            commit_s=commit_s,
            slowest=slowest,
            median_rates=np.median(np.array(per_borough), axis=0).tolist(),
            store_bytes=store_bytes(engine),
        )
    finally:
        engine.dispose()
    result["peak_mb"] = peak_rss_mb()
    log.info(
        "%s: %s incidents loaded; check %.0f s, write %.0f s; peak memory %.0f MB",
        label,
        f"{result['rows_loaded']:,}",
        result["prepare_s"],
        result["commit_s"],
        result["peak_mb"],
    )
    return result


# ---------------------------------------------------------------------------------------------
# Child process 2: the pages, under AppTest


@dataclass
class PageResult:
    """One page in one borough scope: server times, what it sends, what it showed."""

    cold_s: float = 0.0
    warm_s: float = 0.0
    title: str = ""
    shown: str = ""  # the page's headline count ("Incidents shown" / "Incidents analysed")
    map_bytes: int = 0  # the st_folium component's message: the map's HTML, script and data
    payload_bytes: int = 0  # every element the run sends, the map included
    significant_cells: int = 0  # Gi* hot or cold cells drawn
    gi_bytes: int = 0  # of map_bytes, the Gi* layer's: its cells' features and style cases
    grid_cells: int = 0  # cells of the grid: the most the Gi* layer can ever draw


class PageFailed(RuntimeError):
    """A page raised or showed an error instead of its content."""


def _streamlit_like_the_server() -> None:
    """Make AppTest rerun ``streamlit_app.py`` on every run, as the real server does.

    See ``navigation_apps_rerun_their_entry_script`` in tests/app/conftest.py: without it every
    AppTest run after the first would run the page alone, then rerun the whole app
    (``ui.run_through_the_app``), and the warm time would count two runs.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original_init = PagesManager.__init__

    def init_as_navigation_app(self: PagesManager, *args: object, **kwargs: object) -> None:
        original_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init_as_navigation_app  # type: ignore[method-assign]


def _clear_caches() -> None:
    import streamlit as st
    import streamlit.logger

    # outside a server Streamlit warns of its missing runtime at every clear; AppTest's config
    # load sets the level back, so it is set here each time
    streamlit.logger.set_log_level("error")
    st.cache_data.clear()
    st.cache_resource.clear()
    gc.collect()


def _app(page: str, choice: str) -> AppTest:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP_FILE), default_timeout=APP_TIMEOUT_S)
    at.user = {"is_logged_in": True, "email": BENCH_EMAIL}
    at.session_state[BOROUGH_CHOICE_KEY] = choice
    at.switch_page(page)
    return at


def _elements(at: AppTest) -> Iterator[object]:
    """Every element of the run's tree (blocks left out: their protos hold no content)."""
    from streamlit.testing.v1.element_tree import Block

    stack = [at._tree]
    while stack:
        node = stack.pop()
        if not isinstance(node, Block):
            yield node
        stack.extend(getattr(node, "children", {}).values())


def _run(at: AppTest, key: str) -> float:
    started = _timer()
    at.run()
    elapsed = _timer() - started
    if at.exception:
        raise PageFailed(f"{key} raised: {at.exception[0].message}")
    if at.error:
        raise PageFailed(f"{key} showed an error: {at.error[0].value}")
    return elapsed


def _describe(at: AppTest, result: PageResult) -> None:
    result.title = at.title[0].value if len(at.title) else "(no title)"
    for label in ("Incidents shown", "Incidents analysed"):
        values = [m.value for m in at.metric if m.label == label]
        if values:
            result.shown = f"{label}: {values[0]}"
    payload = maps = 0
    for element in _elements(at):
        proto = getattr(element, "proto", None)
        if proto is None:
            continue
        size = proto.ByteSize()
        payload += size
        if "st_folium" in getattr(proto, "component_name", ""):
            maps += size
            script = json.loads(proto.json_args).get("script", "")
            result.significant_cells += len(SIGNIFICANT_CELL.findall(script))
            result.gi_bytes += gi_layer_bytes(script)
    result.payload_bytes, result.map_bytes = payload, maps
    for caption in at.caption:
        found = GRID_CAPTION.search(caption.value)
        if found:
            result.grid_cells = int(found.group(1).replace(",", ""))


def _escaped_len(text: str) -> int:
    """Bytes of ``text`` as it travels: a string inside the component's JSON arguments."""
    return len(json.dumps(text).encode()) - 2


def gi_layer_bytes(script: str) -> int:
    """Bytes of the map's Gi* significance layer (``maps.add_significance_layer``) in ``script``.

    That layer draws only the cells Gi* finds significant, so its size follows the data: more
    incidents give Gi* more power, and more cells pass. It is bounded by the grid, never by the
    incidents. Folium writes it as a style function with a ``case`` per cell and one
    ``..._add({features})`` call; both are counted. 0 when no cell is significant.
    """
    for found in STYLER.finditer(script):
        name = found.group(1)
        body_end = script.find(f"function {name}_onEachFeature", found.end())
        if body_end < 0 or "significance-cell" not in script[found.start() : body_end]:
            continue
        add = script.find(f"{name}_add({{", body_end)
        add_end = script.find("\n", add) if add >= 0 else -1
        data = script[add:add_end] if add_end > add else ""
        return _escaped_len(script[found.start() : body_end]) + _escaped_len(data)
    return 0


def _profiled_run(at: AppTest, key: str, top: int = 35) -> str:
    """One run of ``at`` under cProfile: cumulative time of our code, then own time of all.

    ``AppTest`` runs the page in a thread of its own, so a profiler is switched on inside each
    thread started during the run rather than in this one (where it would only see a wait).
    """
    profilers: list[cProfile.Profile] = []  # one per thread: a profiler sees its own thread only
    thread_run = threading.Thread.run

    def profiled_run(thread: threading.Thread) -> None:
        profiler = cProfile.Profile()
        profilers.append(profiler)
        profiler.enable()
        try:
            thread_run(thread)
        finally:
            profiler.disable()

    threading.Thread.run = profiled_run  # type: ignore[method-assign]
    try:
        _run(at, key)
    finally:
        threading.Thread.run = thread_run  # type: ignore[method-assign]
    if not profilers:
        return "(no thread ran the page)"
    out = io.StringIO()
    stats = pstats.Stats(*profilers, stream=out)
    out.write("--- cumulative, dashboard/ and pages/ only ---\n")
    stats.sort_stats("cumulative").print_stats(r"/(dashboard|pages)/", top)
    out.write("--- own time, everything ---\n")
    stats.sort_stats("tottime").print_stats(20)
    return out.getvalue()


def profile_runs(page: str, choice: str, key: str) -> tuple[str, str]:
    """cProfiles of one more cold run (caches cleared) and the warm run after it."""
    _clear_caches()
    at = _app(page, choice)
    return _profiled_run(at, key), _profiled_run(at, key)


def measure_pages(database_url: str, map_only: bool, profile: bool, label: str) -> dict:
    """Time each page cold and warm, then all of them held at once; returns a JSON-able dict."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["MAP_TILES"] = "none"
    os.environ["BOROUGH_CODE"] = DEMO_BOROUGH_CODE
    os.environ.pop("DEMO_MODE", None)
    _streamlit_like_the_server()
    runs = [run for run in PAGE_RUNS if not map_only or run[1] == MAP_PAGE]

    started = _timer()
    _run(_app(MAP_PAGE, DEMO_BOROUGH_CODE), "warm-up")  # imports, Streamlit's start-up
    log.info("%s: warm-up run (untimed) %.1f s", label, _timer() - started)
    results: dict[str, dict] = {}
    for key, page, choice, title in runs:
        _clear_caches()
        result = PageResult()
        at = _app(page, choice)
        result.cold_s = _run(at, key)
        if not map_only:
            result.warm_s = _run(at, key)
        _describe(at, result)
        results[key] = asdict(result)
        log.info(
            "%s: %s cold %.2f s, warm %.2f s, map %s KB, all elements %s KB (%s; %s); RSS %.0f MB",
            label,
            title,
            result.cold_s,
            result.warm_s,
            f"{result.map_bytes / KB:,.0f}",
            f"{result.payload_bytes / KB:,.0f}",
            result.title,
            result.shown,
            current_rss_mb(),
        )
        del at
    measured: dict[str, object] = {"pages": results, "load_average": os.getloadavg()[0]}
    if map_only:
        measured["peak_mb"] = peak_rss_mb()
        return measured

    _clear_caches()
    held = []
    started = _timer()
    for key, page, choice, _title in runs:  # one server, every page's caches kept
        at = _app(page, choice)
        _run(at, key)
        held.append(at)
    measured["all_pages_cold_s"] = _timer() - started
    measured["rss_all_cached_mb"] = current_rss_mb()
    measured["peak_mb"] = peak_rss_mb()
    log.info(
        "%s: the four pages one after another, caches kept: %.1f s, RSS %.0f MB, peak %.0f MB",
        label,
        measured["all_pages_cold_s"],
        measured["rss_all_cached_mb"],
        measured["peak_mb"],
    )
    del held
    if profile:
        for key, page, choice, title in runs:
            cold, warm = profile_runs(page, choice, key)
            log.info("%s: profile of a cold %s run:\n%s", label, title, cold)
            log.info("%s: profile of a warm %s run:\n%s", label, title, warm)
    return measured


# ---------------------------------------------------------------------------------------------
# The parent: stores, children, the table


@dataclass
class StoreRun:
    """One store's build and page measurements (empty where it did not run)."""

    name: str
    url: str = ""
    build: dict | None = None
    pages: dict | None = None
    problem: str = ""


def run_child(kind: str, url: str, data_folder: Path, args: argparse.Namespace, label: str) -> dict:
    """Run this script as a child doing ``kind`` on ``url``; returns what it wrote."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    command = [sys.executable, __file__, "--child", kind, url, str(data_folder), str(out), label]
    if args.profile:
        command.append("--profile")
    try:
        subprocess.run(command, check=True)
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


@contextmanager
def postgres_database(server_url: str, name: str) -> Iterator[str]:
    """A new database on the server of ``server_url``, dropped afterwards."""
    server = create_engine(make_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def bench_store(
    run: StoreRun, data_folder: Path, args: argparse.Namespace, map_only: bool = False
) -> None:
    """Build the store and measure its pages, each in a child; a failure is recorded, not raised."""
    try:
        run.build = run_child("build", run.url, data_folder, args, run.name)
        run.pages = run_child("map" if map_only else "pages", run.url, data_folder, args, run.name)
    except subprocess.CalledProcessError as error:
        run.problem = f"the {run.name} child failed (exit {error.returncode}); see its log above"
        log.error(run.problem)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _seconds(value: float, target: float) -> str:
    return f"{value:.2f} s {_verdict(value < target)}"


MAP_KEYS = (("map_one", "Wandsworth"), ("map_london", "All of London"))


def _without_gi(page: dict) -> int:
    return page["map_bytes"] - page["gi_bytes"]


def html_ratios(run: StoreRun, reference: StoreRun, key: str) -> tuple[float, float] | None:
    """The map's size over its size in the reference store: whole, and without the Gi* layer."""
    if not (run.pages and reference.pages):
        return None
    full, small = run.pages["pages"][key], reference.pages["pages"][key]
    if not small["map_bytes"]:
        return None
    return full["map_bytes"] / small["map_bytes"], _without_gi(full) / _without_gi(small)


def _within(ratio: float) -> bool:
    return abs(ratio - 1) <= SIZE_TOLERANCE


def table(runs: list[StoreRun], reference: StoreRun, incidents: int, boroughs: int) -> str:
    """The stores side by side, each figure marked against its target, in markdown."""
    reference_count = reference.build["rows_loaded"] if reference.build else 0
    rows: list[list[str]] = []

    def row(label: str, target: str, cell: Callable[[StoreRun], str]) -> None:
        rows.append([label, target, *(cell(run) if run.pages else "not run" for run in runs)])

    row("incidents loaded", f"{incidents:,}", lambda r: f"{r.build['rows_loaded']:,}")
    row(
        "import: check (prepare_police_uk)",
        "-",
        lambda r: (
            f"{r.build['rows_read'] / r.build['prepare_s']:,.0f} rows/s "
            f"({r.build['prepare_s']:.0f} s)"
        ),
    )
    row(
        "import: write (commit_police_uk)",
        "-",
        lambda r: (
            f"{r.build['rows_loaded'] / r.build['commit_s']:,.0f} rows/s "
            f"({r.build['commit_s']:.0f} s)"
        ),
    )
    for key, _page, _choice, title in PAGE_RUNS:
        row(
            f"{title}: cold",
            f"< {COLD_TARGET_S:.0f} s",
            lambda r, key=key: _seconds(r.pages["pages"][key]["cold_s"], COLD_TARGET_S),
        )
        row(
            f"{title}: warm",
            f"< {WARM_TARGET_S:.0f} s",
            lambda r, key=key: _seconds(r.pages["pages"][key]["warm_s"], WARM_TARGET_S),
        )
    for key, title in MAP_KEYS:

        def html(r: StoreRun, key: str = key) -> str:
            page = r.pages["pages"][key]
            ratios = html_ratios(r, reference, key)
            size = f"{page['map_bytes'] / KB:,.0f} KB"
            return size if ratios is None else f"{size}, x{ratios[0]:.3f}"

        def html_base(r: StoreRun, key: str = key) -> str:
            page = r.pages["pages"][key]
            ratios = html_ratios(r, reference, key)
            size = f"{_without_gi(page) / KB:,.0f} KB"
            if ratios is None:
                return f"{size} (no reference)"
            return f"{size}, x{ratios[1]:.3f} {'PASS' if _within(ratios[1]) else 'FAIL'}"

        row(f"map HTML, {title} (x at {reference_count:,} incidents)", "-", html)
        row("  the same without the Gi* layer", f"within {SIZE_TOLERANCE:.0%}", html_base)
    row(
        "all elements sent, Map All of London",
        "-",
        lambda r: f"{r.pages['pages']['map_london']['payload_bytes'] / KB:,.0f} KB",
    )
    row(
        "peak memory serving the pages",
        f"< {MEMORY_TARGET_MB / KB:.0f} GiB",
        lambda r: f"{r.pages['peak_mb']:,.0f} MB {_verdict(r.pages['peak_mb'] < MEMORY_TARGET_MB)}",
    )
    row("peak memory importing", "-", lambda r: f"{r.build['peak_mb']:,.0f} MB")
    row("store size on disk", "-", lambda r: f"{r.build['store_bytes'] / 1e6:,.0f} MB")

    header = ["", "target", *(run.name for run in runs)]
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
        "|" + "|".join(["-" * (widths[0] + 2), *(("-" * (w + 1)) + ":" for w in widths[1:])]) + "|",
    ]
    for cells in rows:
        padded = [cells[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)
        ]
        lines.append("| " + " | ".join(padded) + " |")
    title = f"{incidents:,} incidents in {boroughs} boroughs"
    return f"{title}\n\n" + "\n".join(lines) + "\n"


def notes(runs: list[StoreRun], reference: StoreRun) -> list[str]:
    """What the table cannot say: what each page showed, the whole-server figures, problems."""
    lines = []
    for run in [*runs, reference]:
        if run.problem:
            lines.append(f"{run.name}: {run.problem}")
        if not run.pages:
            continue
        shown = "; ".join(
            f"{page['title']} ({page['shown'] or 'no count'})"
            for page in run.pages["pages"].values()
        )
        lines.append(f"{run.name}: {shown}")
        for key, title in MAP_KEYS:
            page = run.pages["pages"][key]
            cells = max(page["significant_cells"], 1)
            most = _without_gi(page) + page["gi_bytes"] / cells * page["grid_cells"]
            lines.append(
                f"{run.name}: map of {title}: Gi* layer {page['gi_bytes'] / KB:,.0f} KB for "
                f"{page['significant_cells']:,} significant cells of the {page['grid_cells']:,} "
                f"in the grid; with every cell significant the map would be ~{most / KB:,.0f} KB"
            )
        if "all_pages_cold_s" in run.pages:
            lines.append(
                f"{run.name}: the four pages one after another with every cache kept (one server "
                f"holding them all): {run.pages['all_pages_cold_s']:.1f} s, RSS "
                f"{run.pages['rss_all_cached_mb']:,.0f} MB after; boundaries of the other "
                f"boroughs imported in {run.build['boundaries_s']:.1f} s"
            )
        if "slowest" in run.build:
            check_s, check_name = run.build["slowest"]["check"]
            write_s, write_name = run.build["slowest"]["write"]
            check_rate, write_rate = run.build["median_rates"]
            lines.append(
                f"{run.name}: import per borough: median {check_rate:,.0f} rows/s to check, "
                f"{write_rate:,.0f} rows/s to write; slowest to check {check_name} "
                f"({check_s:.1f} s), to write {write_name} ({write_s:.1f} s)"
            )
        if "load_average" in run.pages:
            lines.append(
                f"{run.name}: load average (2 cores) after the page timings: "
                f"{run.pages['load_average']:.1f}"
            )
    return lines


def html_grows(runs: list[StoreRun], reference: StoreRun) -> bool:
    """True when a store's map without its Gi* layer is off its reference size by more than 5 %.

    The Gi* layer is left out of the check: it draws the cells found significant, which are more
    with more incidents (more power) but never more than the grid's cells; the notes give it.
    """
    ratios = [html_ratios(run, reference, key) for run in runs for key, _title in MAP_KEYS]
    return any(ratio is not None and not _within(ratio[1]) for ratio in ratios)


@contextmanager
def workspace(keep: Path | None) -> Iterator[Path]:
    """``keep`` (made if missing, never removed), or a temporary folder removed afterwards."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    folder = Path(tempfile.mkdtemp(prefix="bench_london_"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=DEFAULT_INCIDENTS, help="in all")
    parser.add_argument(
        "--boroughs", type=int, default=DEFAULT_BOROUGHS, help="Wandsworth and N-1 others"
    )
    parser.add_argument(
        "--stores",
        default="sqlite,postgresql",
        help="comma-separated: sqlite, postgresql (needs TEST_DATABASE_URL)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="write the files (and the SQLite stores) here and keep them; reused when they match",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="log cProfiles of one more cold and warm run of each page",
    )
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.stores = [name.strip() for name in args.stores.split(",") if name.strip()]
    unknown = set(args.stores) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"--stores takes sqlite and/or postgresql, not {', '.join(sorted(unknown))}")
    return args


def child_main(args: argparse.Namespace) -> int:
    kind, url, data_folder, out, label = args.child
    if kind == "build":
        result = build_store(url, Path(data_folder), label)
    else:
        result = measure_pages(url, map_only=kind == "map", profile=args.profile, label=label)
    Path(out).write_text(json.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    log.setLevel(logging.INFO)
    if args.child:
        return child_main(args)

    started = _timer()
    load_at_start = os.getloadavg()
    server_url = os.environ.get("TEST_DATABASE_URL") or None
    out = sys.stdout
    missing_postgres = "postgresql" in args.stores and server_url is None
    if missing_postgres:
        log.warning("TEST_DATABASE_URL is not set: PostgreSQL is not available, only SQLite runs")
    reference_count = max(args.incidents // REFERENCE_SHARE, args.boroughs)
    runs = [StoreRun(name) for name in ("SQLite", "PostgreSQL") if name.lower() in args.stores]
    reference = StoreRun("reference (SQLite)")
    with workspace(args.keep) as folder:
        full_data = folder / f"police-uk-{args.incidents}-{args.boroughs}"
        reference_data = folder / f"police-uk-{reference_count}-{args.boroughs}"
        write_data(full_data, args.boroughs, args.incidents)
        write_data(reference_data, args.boroughs, reference_count)

        for name in ("london.db", "reference.db"):  # a kept folder: stores are built afresh
            for path in folder.glob(f"{name}*"):
                path.unlink()
        reference.url = f"sqlite:///{folder / 'reference.db'}"
        log.info("reference store: %s incidents, the map only", f"{reference_count:,}")
        bench_store(reference, reference_data, args, map_only=True)
        for run in runs:
            log.info("%s store: %s incidents", run.name, f"{args.incidents:,}")
            if run.name == "SQLite":
                run.url = f"sqlite:///{folder / 'london.db'}"
                bench_store(run, full_data, args)
            elif server_url is None:
                run.problem = "not available: TEST_DATABASE_URL is not set"
            else:
                with postgres_database(server_url, f"csm_bench_london_{os.getpid()}") as url:
                    run.url = url
                    bench_store(run, full_data, args)

    out.write("\n" + table(runs, reference, args.incidents, args.boroughs) + "\n")
    for line in notes(runs, reference):
        out.write(f"{line}\n")
    if missing_postgres:
        out.write(
            "PostgreSQL was NOT measured (TEST_DATABASE_URL is not set): only SQLite ran. "
            "`make bench` runs this under `python -m tests.postgres_server`, which sets it.\n"
        )
    grows = html_grows(runs, reference)
    out.write(
        f"map HTML vs the reference store: {'GROWS' if grows else 'does not grow'} with the "
        f"incidents (tolerance {SIZE_TOLERANCE:.0%}).\n"
        f"total wall time: {_timer() - started:.0f} s on {os.cpu_count()} cores; load average "
        f"{load_at_start[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.\n"
    )
    failed = any(run.problem and run.url for run in [*runs, reference])
    return 1 if grows or failed else 0


if __name__ == "__main__":
    sys.exit(main())
