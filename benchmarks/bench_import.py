"""Benchmark of a police.uk import at 1,000,000 rows: validation time, commit time, peak memory.

A synthetic police.uk CSV (the real column layout, Wandsworth points, the three violence types and
some burglary) is written to a temp folder, then imported into a migrated, demo-seeded SQLite store
in a child process, so the peak memory measured is the import's own. Run by `make bench`; timings
belong here, never in tests.
"""

from __future__ import annotations

import argparse
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard.access import Role
from dashboard.demo import DEMO_BOROUGH_CODE, seed_demo
from dashboard.geo import assign_ward_codes, bng_to_wgs84
from dashboard.store import queries
from dashboard.store.session import make_engine, migrate
from dashboard.taxonomy import load_taxonomy

log = logging.getLogger("bench_import")
SEED = 20_261_127
CRIME_TYPES = np.array(
    ["Violence and sexual offences", "Robbery", "Possession of weapons", "Burglary"]
)
CRIME_WEIGHTS = [0.70, 0.12, 0.03, 0.15]


def write_police_uk_csv(path: Path, rows: int, engine: Engine) -> None:
    """A police.uk street-level CSV of ``rows`` rows, points jittered around the demo's."""
    rng = np.random.default_rng(SEED)
    wards = queries.current_wards(engine, DEMO_BOROUGH_CODE, Role.ANALYST).to_crs("EPSG:27700")
    minx, miny, maxx, maxy = wards.total_bounds
    # draw from the bounding box and keep points inside a ward, so every violent row is loaded
    x_bng, y_bng = np.empty(0), np.empty(0)
    while len(x_bng) < rows:
        x_try, y_try = rng.uniform(minx, maxx, rows), rng.uniform(miny, maxy, rows)
        inside = pd.notna(assign_ward_codes(x_try, y_try, wards))
        x_bng, y_bng = (
            np.concatenate([x_bng, x_try[inside]]),
            np.concatenate([y_bng, y_try[inside]]),
        )
    x_bng, y_bng = x_bng[:rows], y_bng[:rows]
    longitude, latitude = bng_to_wgs84(x_bng, y_bng)
    months = pd.period_range("2023-01", "2025-12", freq="M").astype(str).to_numpy()
    frame = pd.DataFrame(
        {
            "Crime ID": [f"{index:064x}" for index in range(rows)],
            "Month": rng.choice(months, rows),
            "Reported by": "Metropolitan Police Service",
            "Falls within": "Metropolitan Police Service",
            "Longitude": np.round(longitude, 6),
            "Latitude": np.round(latitude, 6),
            "Location": "On or near Garratt Lane",
            "LSOA code": "E01004600",
            "LSOA name": "Wandsworth 015C",
            "Crime type": rng.choice(CRIME_TYPES, rows, p=CRIME_WEIGHTS),
            "Last outcome category": "Under investigation",
            "Context": "",
        }
    )
    frame.to_csv(path, index=False)


def run_import(database_url: str, csv_path: Path) -> None:
    """The child process: prepare and commit the file, print the timings as one line."""
    from dashboard.importers.police_uk import commit_police_uk, prepare_police_uk

    engine = make_engine(database_url)
    started = time.perf_counter()
    prepared = prepare_police_uk(
        engine, [(csv_path.name, csv_path.read_bytes())], DEMO_BOROUGH_CODE, role=Role.ANALYST
    )
    prepared_s = time.perf_counter() - started
    started = time.perf_counter()
    commit_police_uk(engine, prepared, "bench", Role.ANALYST)
    commit_s = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = prepared.report
    fields = (report.rows_read, report.rows_accepted, f"{prepared_s:.1f}", f"{commit_s:.1f}")
    sys.stdout.write("\t".join(map(str, fields)) + f"\t{peak_mb:.0f}\n")


def main(argv: list[str] | None = None) -> int:
    """Build the store and the file, run the import in a child process, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, metavar=("DATABASE_URL", "CSV"), help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child:
        run_import(arguments.child[0], Path(arguments.child[1]))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        engine = make_engine(url)
        migrate(engine)
        seed_demo(engine, DEMO_BOROUGH_CODE, load_taxonomy())
        csv_path = Path(folder) / "synthetic-metropolitan-street.csv"
        write_police_uk_csv(csv_path, arguments.rows, engine)
        size_mb = csv_path.stat().st_size / 1e6
        log.info("wrote %s rows (%.0f MB); importing in a child process", arguments.rows, size_mb)
        child = subprocess.run(
            [sys.executable, __file__, "--child", url, str(csv_path)],
            capture_output=True,
            text=True,
            check=True,
        )
    rows_read, accepted, prepared_s, commit_s, peak_mb = child.stdout.split()
    rate = int(rows_read) / (float(prepared_s) + float(commit_s))
    sys.stdout.write(
        "| police.uk rows | file | rows loaded | check (prepare) | write (commit) | rows/s "
        "| peak memory |\n"
        "|---:|---:|---:|---:|---:|---:|---:|\n"
        f"| {int(rows_read):,} | {size_mb:,.0f} MB | {int(accepted):,} | {float(prepared_s):.1f} s "
        f"| {float(commit_s):.1f} s | {rate:,.0f} "
        f"| {float(peak_mb):,.0f} MB |\n"  # peak of the importing process alone
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
