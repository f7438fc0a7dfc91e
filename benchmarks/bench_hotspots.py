"""Benchmark of the hotspot analysis and the patrol planner at 100k and 1M incidents (`make bench`).

For each size N it builds the same store as ``bench_map.py`` (``bench_map.build_store``: Alembic
migrations, the demo seeder, then N synthetic incidents clustered like the demo's over its last
365 days, each with a demo incident's time of day, so day and hour filters apply) and measures:

- reading every incident of the last 12 whole months from the store (``queries.incidents``);
- ``hotspot_analysis.select_when`` for Friday 18:00-22:00;
- ``hotspot_analysis.analyse`` on all those incidents: Gi* with 999 permutations and
  concentration on the borough's 250 m grid (the grid is built once, outside);
- ``patrol_plan.build`` for one CSO, Friday 18:00-22:00 over 12 months (what the Patrol plan
  page and ``python -m dashboard export patrol`` run);
- the Hotspots page (``pages/hotspots.py``) and the Patrol plan page (``pages/patrol.py``) under
  Streamlit's ``AppTest`` as the demo analyst: cold (caches cleared) and warm (run again);
- the peak resident memory of the process after each size.

A page whose script does not exist yet is skipped with a note, and one that raises is reported,
so the analysis timings are still printed. It prints one markdown table, sizes side by side.

Timings belong here, never in tests: a test that asserts a duration fails on a busy machine for
no reason a user would care about.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import time as clock
from pathlib import Path

import numpy as np
import streamlit as st

# `python benchmarks/bench_hotspots.py` puts benchmarks/ on the path, not the project beside it
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_map import (
    DEMO_FILES_DIR,
    OPERATOR,
    SEED,
    build_store,
    fresh_app,
    peak_rss_mb,
    wait_for_demo_files,
)
from dashboard import PROJECT_ROOT, hotspot_analysis, hotspots, patrol_plan, plans
from dashboard.dates import today_in_london, whole_months_window
from dashboard.demo import DEMO_BOROUGH_CODE
from dashboard.geo import BNG
from dashboard.store import queries
from dashboard.store.models import AssetKind
from dashboard.store.session import make_engine

log = logging.getLogger("bench_hotspots")

DEFAULT_SIZES = (100_000, 1_000_000)
DEFAULT_CSO_ID = 6
LOOK_BACK_MONTHS = 12
FRIDAY_EVENING = hotspot_analysis.When((4,), clock(18), clock(22))
PAGES = {"Hotspots": "pages/hotspots.py", "Patrol plan": "pages/patrol.py"}
WARM_UP_INCIDENTS = 2_000  # an untimed first analysis, so one-off costs miss the first size


@dataclass
class PageTiming:
    """One page's server times, or why there are none."""

    cold_s: float | None = None
    warm_s: float | None = None
    problem: str = ""  # "no such page yet", or the exception the page raised
    title: str = ""  # the page's st.title: proof the page timed is the one meant

    def cells(self) -> tuple[str, str]:
        if self.problem:
            return ("skipped", "skipped") if self.problem == "no such page yet" else ("raised",) * 2
        return f"{self.cold_s:.2f}", f"{self.warm_s:.2f}"


@dataclass
class SizeResult:
    """Everything measured for one number of incidents."""

    incidents: int
    with_time_share: float = 0.0
    read_s: float = 0.0
    select_when_s: float = 0.0
    in_window: int = 0
    grid_s: float = 0.0
    analyse_s: float = 0.0
    hot_cells: int = 0
    build_s: float = 0.0
    stops: int = 0
    pages: dict[str, PageTiming] = field(default_factory=dict)
    peak_rss_mb: float = 0.0


def _timer() -> float:
    return time.perf_counter()


def time_page(database_url: str, page: str, **query: str) -> PageTiming:
    """Server seconds of ``page``'s first run with empty caches, then of a second (cached) run.

    ``query`` becomes the page's query parameters, as when a link opens it.
    """
    if not (PROJECT_ROOT / page).is_file():
        return PageTiming(problem="no such page yet")
    at = fresh_app(database_url)
    at.switch_page(page)  # pages are registered by file name, so this works before the first run
    for name, value in query.items():
        at.query_params[name] = value
    timings = []
    for _run in range(2):
        started = _timer()
        at.run()
        timings.append(_timer() - started)
        if at.exception:
            return PageTiming(problem=str(at.exception[0].message).splitlines()[0])
    title = at.title[0].value if len(at.title) else "(no title)"
    return PageTiming(*timings, title=title)


def bench_size(
    count: int, args: argparse.Namespace, rng: np.random.Generator, warm_up: bool
) -> SizeResult:
    """Every measurement for ``count`` incidents, in a store that is deleted afterwards."""
    result = SizeResult(incidents=count)
    with tempfile.TemporaryDirectory(prefix="bench_hotspots_") as directory:
        database_url, _insert_rate = build_store(Path(directory), args.demo_dir, count, rng)
        engine = make_engine(database_url)
        try:
            span = queries.incident_span(engine, OPERATOR)
            assert span is not None, "the store holds no incidents"
            start, end = whole_months_window(span[0], span[1], LOOK_BACK_MONTHS)
            started = _timer()
            incidents = queries.incidents(
                engine, queries.IncidentFilter(start=start, end=end), OPERATOR
            )
            result.read_s = _timer() - started
            assert len(incidents) == count, f"read {len(incidents):,} of {count:,} incidents"
            result.with_time_share = float(incidents["occurred_at"].notna().mean())

            wards = queries.current_wards(engine, DEMO_BOROUGH_CODE, OPERATOR)
            started = _timer()
            grid_bng = hotspots.borough_grid(wards.to_crs(BNG), hotspots.DEFAULT_CELL_SIZE_M)
            result.grid_s = _timer() - started
            if warm_up:
                hotspot_analysis.analyse(incidents.head(WARM_UP_INCIDENTS), grid_bng)

            started = _timer()
            selection = hotspot_analysis.select_when(incidents, FRIDAY_EVENING)
            result.select_when_s = _timer() - started
            result.in_window = len(selection.incidents)

            started = _timer()
            analysis = hotspot_analysis.analyse(incidents, grid_bng)
            result.analyse_s = _timer() - started
            result.hot_cells = len(analysis.hot_cells)

            today = today_in_london()
            assignments = queries.current_cso_assignments(engine, today, OPERATOR)
            request = patrol_plan.PatrolRequest(
                ward_codes=patrol_plan.wards_of_cso(assignments, args.cso),
                weekdays=FRIDAY_EVENING.weekdays,
                starts_at=FRIDAY_EVENING.starts_at,
                ends_at=FRIDAY_EVENING.ends_at,
                cso_id=args.cso,
                look_back_months=LOOK_BACK_MONTHS,
            )
            bins = queries.assets(engine, AssetKind.KNIFE_BIN, OPERATOR)
            bus_stops = queries.assets(engine, AssetKind.YOUTH_BUS_STOP, OPERATOR)
            schedule = queries.youth_bus_schedule(engine, OPERATOR)
            actions = plans.actions(engine, OPERATOR, today)
            started = _timer()
            plan = patrol_plan.build(
                request,
                incidents,
                grid_bng,
                bins_wgs84=bins,
                bus_stops_wgs84=bus_stops,
                schedule=schedule,
                actions=actions,
            )
            result.build_s = _timer() - started
            result.stops = len(plan.route.stops)
            link = request.query_params()
        finally:
            engine.dispose()
        del incidents, selection, analysis, plan
        gc.collect()

        for label, page in PAGES.items():
            # the patrol page opens on the same plan as above, as its link would open it
            query = link if page == "pages/patrol.py" else {}
            if warm_up and (PROJECT_ROOT / page).is_file():
                time_page(database_url, page, **query)  # untimed: imports, Streamlit's start-up
            result.pages[label] = time_page(database_url, page, **query)
            log.info("%s: %s page %s", f"{count:,}", label, result.pages[label])
    st.cache_data.clear()
    st.cache_resource.clear()
    gc.collect()
    result.peak_rss_mb = peak_rss_mb()
    log.info("%s: done; peak RSS so far %.0f MB", f"{count:,}", result.peak_rss_mb)
    return result


def table(results: list[SizeResult]) -> str:
    """The measurements as rows and the sizes as columns, in markdown."""
    rows: list[list[str]] = [
        ["incidents with a time of day", *(f"{r.with_time_share:.0%}" for r in results)],
        ["incidents read from the store (s)", *(f"{r.read_s:.2f}" for r in results)],
        ["select_when Friday 18:00-22:00 (s)", *(f"{r.select_when_s:.3f}" for r in results)],
        ["  incidents in that window", *(f"{r.in_window:,}" for r in results)],
        [
            "analyse, all of the last 12 months: Gi* with 999 permutations (s)",
            *(f"{r.analyse_s:.2f}" for r in results),
        ],
        ["  hot cells (90% or stronger)", *(f"{r.hot_cells:,}" for r in results)],
        [
            "patrol_plan.build, one CSO, Friday 18:00-22:00 (s)",
            *(f"{r.build_s:.2f}" for r in results),
        ],
        ["  stops planned", *(f"{r.stops}" for r in results)],
    ]
    for label in PAGES:
        timings = [r.pages[label].cells() for r in results]
        rows.append([f"{label} page cold (s)", *(cold for cold, _ in timings)])
        rows.append([f"{label} page warm (s)", *(warm for _, warm in timings)])
    rows.append(["peak RSS after this size (MB)", *(f"{r.peak_rss_mb:,.0f}" for r in results)])
    header = ["incidents", *(f"{r.incidents:,}" for r in results)]
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def notes(results: list[SizeResult], cso_id: int) -> list[str]:
    """What the table cannot say: skipped or failing pages, and the fixed costs left out."""
    lines = []
    for label, page in PAGES.items():
        titles = sorted({r.pages[label].title for r in results} - {""})
        if titles:
            lines.append(f"{label} page: {page} timed, titled {', '.join(map(repr, titles))}.")
        problems = {r.pages[label].problem for r in results} - {""}
        if "no such page yet" in problems:
            lines.append(f"{label} page: {page} does not exist yet, so its timings were skipped.")
        for problem in sorted(problems - {"no such page yet"}):
            lines.append(f"{label} page: it raised, so its timings were not taken: {problem}")
    grid = ", ".join(f"{r.grid_s:.2f} s" for r in results)
    lines.append(f"The borough grid (built once, not in the analyse row) took {grid}.")
    lines.append(
        f"patrol_plan.build is for CSO {cso_id}'s wards and includes its own select_when and "
        "analyse of that window, the route and what is near it."
    )
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="incident counts"
    )
    parser.add_argument(
        "--cso", type=int, default=DEFAULT_CSO_ID, help="the CSO whose patrol is planned"
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
    wait_for_demo_files(args.demo_dir, args.wait_for_demo_s)
    started = _timer()
    rng = np.random.default_rng(SEED)
    results = [
        bench_size(count, args, rng, warm_up=index == 0)
        for index, count in enumerate(sorted(set(args.sizes)))
    ]
    sys.stdout.write(table(results))
    sys.stdout.write("\n")
    for line in notes(results, args.cso):
        sys.stdout.write(f"{line}\n")
    sys.stdout.write(f"total wall time: {_timer() - started:.0f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
