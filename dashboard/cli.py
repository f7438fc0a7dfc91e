"""``python -m dashboard``: set up the store, load the demo, report what is stored, export.

Every command honours ``DATABASE_URL`` (through ``load_settings``).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine

from dashboard.access import Role
from dashboard.config import DATA_DIR, MAPPINGS_DIR, Settings, load_settings
from dashboard.dates import today_in_london
from dashboard.demo import seed_demo
from dashboard.errors import CommunitySafetyError, ImportRefused
from dashboard.exports import export_public_map
from dashboard.importers.extract import load_mapping
from dashboard.importers.log import list_imports, undo_import
from dashboard.importers.police_uk import commit_police_uk
from dashboard.importers.police_uk_api import fetch_police_uk, months_between
from dashboard.importers.registry import IMPORT_KINDS, ImportRequest
from dashboard.importers.validation import ROWS_SHOWN_ON_SCREEN, check_size
from dashboard.public_map import read_public_snapshot
from dashboard.static_assets import prepare_static
from dashboard.store.queries import table_counts
from dashboard.store.session import make_engine, migrate, require_current_schema, table_names
from dashboard.taxonomy import load_taxonomy
from dashboard.users import add_user

log = logging.getLogger("dashboard.cli")
# Whoever runs the command line holds the database itself; it acts as an administrator.
OPERATOR = Role.ADMIN


def _init_db(settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    changed = migrate(engine)
    sys.stdout.write(
        "database created or upgraded\n" if changed else "database already up to date\n"
    )
    return 0


def _seed_demo(settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    report = seed_demo(engine, settings.borough_code, load_taxonomy())
    if not report.created:
        sys.stdout.write("demo data already loaded; nothing changed\n")
    else:
        for table, count in report.counts.items():
            sys.stdout.write(f"loaded {table}: {count}\n")
    return 0


def _stats(settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    for table, count in table_counts(engine, table_names(engine), OPERATOR).items():
        sys.stdout.write(f"{table}: {count}\n")
    return 0


def _prepare(settings: Settings) -> int:
    """Everything ``make run`` needs: schema, demo data in an empty store, static map assets.

    It also publishes the knife-bin snapshot into ``PUBLIC_DIR`` for ``make run-public``.
    """
    engine = make_engine(settings.database_url)
    migrate(engine)
    if not table_counts(engine, ["ward"], OPERATOR)["ward"]:
        seed_demo(engine, settings.borough_code, load_taxonomy())
        sys.stdout.write("the database was empty: demo data loaded\n")
    prepare_static()
    _write_public_map(engine, settings, Path(settings.public_dir))  # what `make run-public` shows
    sys.stdout.write("ready\n")
    return 0


def _prepare_static(_settings: Settings) -> int:
    written = prepare_static()
    sys.stdout.write(f"map assets ready: {len(written)} files in static/\n")
    return 0


def _write_public_map(engine: Engine, settings: Settings, out_dir: Path) -> None:
    index = export_public_map(engine, out_dir, settings, today_in_london())
    count = len(read_public_snapshot(index.parent).bins)  # read back: what was really written
    sys.stdout.write(f"public knife-bin map: {count} bins written to {index}\n")


def _export_public_map(settings: Settings, out_dir: Path) -> int:
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    _write_public_map(engine, settings, out_dir)
    return 0


def _add_user(settings: Settings, arguments: argparse.Namespace) -> int:
    """Register someone (the first administrator, typically) from the command line."""
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    user_id = add_user(
        engine,
        "cli",
        email=arguments.email,
        display_name=arguments.name,
        role=arguments.role,
        agency=arguments.agency,
    )
    sys.stdout.write(
        f"user {user_id} added: {arguments.email.strip().lower()} ({arguments.role})\n"
    )
    return 0


def _import(settings: Settings, arguments: argparse.Namespace) -> int:
    """Validate files, print the report, and write them unless --dry-run or refused rows."""
    kind = IMPORT_KINDS[arguments.kind]
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    limit = settings.max_import_mb * 1024 * 1024
    files = [(path.name, _read_file(path, limit)) for path in arguments.files]
    lsoa = getattr(arguments, "lsoa_boundaries", None)
    extra = [(lsoa.name, _read_file(lsoa, limit))] if lsoa else []
    mapping = (
        load_mapping(MAPPINGS_DIR, arguments.mapping)
        if getattr(arguments, "mapping", None)
        else None
    )
    request = ImportRequest(files, settings, OPERATOR, extra, _print_progress, mapping)
    prepared = kind.prepare(engine, request)
    sys.stderr.write("\n")
    report = prepared.report
    for line in report.summary_lines():
        sys.stdout.write(f"{line}\n")
    for error in report.rejected[:ROWS_SHOWN_ON_SCREEN]:
        sys.stdout.write(
            f"rejected {error.file_name} line {error.line}, {error.column} "
            f"{error.value!r}: {error.reason}\n"
        )
    if report.rows_rejected > ROWS_SHOWN_ON_SCREEN:
        sys.stdout.write(f"... and {report.rows_rejected - ROWS_SHOWN_ON_SCREEN:,} more\n")
    if report.rejected and not arguments.accept_valid_rows:
        sys.stderr.write(
            f"error: {report.rows_rejected:,} row(s) rejected; nothing was written. Fix the file, "
            "or add --accept-valid-rows to load the others\n"
        )
        return 2
    if arguments.dry_run:
        sys.stdout.write("dry run: nothing was written\n")
        return 0
    import_id = kind.commit(engine, prepared, f"cli:{getpass.getuser()}", OPERATOR)
    sys.stdout.write(f"import {import_id} committed: {report.rows_accepted:,} rows\n")
    return 0


def _fetch(settings: Settings, arguments: argparse.Namespace) -> int:
    """Fetch months from the police.uk API (resumable), report, and load unless --dry-run."""
    months = months_between(arguments.start, arguments.end)
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    cache_dir = DATA_DIR / "cache" / "police_uk" / settings.borough_code  # one folder per borough
    prepared = fetch_police_uk(
        engine,
        borough_code=settings.borough_code,
        months=months,
        role=OPERATOR,
        cache_dir=cache_dir,
        base_url=settings.police_uk_api_url,
        progress=lambda done: sys.stderr.write(f"\rfetched {done} of {len(months)} months"),
    )
    sys.stderr.write("\n")
    for line in prepared.report.summary_lines():
        sys.stdout.write(f"{line}\n")
    if arguments.dry_run:
        sys.stdout.write(f"dry run: nothing was written (months kept in {cache_dir})\n")
        return 0
    import_id = commit_police_uk(engine, prepared, f"cli:{getpass.getuser()}", OPERATOR)
    sys.stdout.write(f"import {import_id} committed: {prepared.report.rows_accepted:,} rows\n")
    return 0


def _print_progress(rows: int) -> None:
    sys.stderr.write(f"\rchecked {rows:,} rows")
    sys.stderr.flush()


def _undo(settings: Settings, arguments: argparse.Namespace) -> int:
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    removed = undo_import(engine, OPERATOR, f"cli:{getpass.getuser()}", arguments.import_id)
    done = ", ".join(f"{table} {count:,}" for table, count in removed.items()) or "nothing"
    sys.stdout.write(f"import {arguments.import_id} undone; removed {done}\n")
    return 0


def _imports(settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    for row in list_imports(engine, OPERATOR).itertuples():
        sys.stdout.write(
            f"{row.import_id}\t{row.kind}\t{row.status}\t{row.when:%Y-%m-%d %H:%M}\t"
            f"{row.rows_loaded}\t{row.by}\t{row.file}\n"
        )
    return 0


def _read_file(path: Path, max_bytes: int) -> bytes:
    if not path.is_file():
        raise ImportRefused(f"{path} does not exist or is not a file")
    check_size(path.name, path.stat().st_size, max_bytes)
    return path.read_bytes()


COMMANDS = {
    "init-db": (_init_db, "create the database, or upgrade it to the newest schema (Alembic)"),
    "seed-demo": (_seed_demo, "load the demo borough into an empty database (idempotent)"),
    "stats": (_stats, "print one 'table: count' line per table"),
    "imports": (_imports, "list the import log, newest first"),
    "prepare-static": (_prepare_static, "copy Leaflet and jQuery from installed packages"),
    "prepare": (
        _prepare,
        "init-db, seed the demo if the database is empty, copy map assets, write the public "
        "knife-bin map into PUBLIC_DIR",
    ),
}
EXPORTS = {
    "public-map": (
        _export_public_map,
        "the public knife-bin map for the council website: DIR/index.html, DIR/bins.geojson and "
        "DIR/assets/ (public knife bins only, allow-listed fields only); DIR is replaced whole",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m dashboard",
        description="Community Safety Map: set up and inspect the store. DATABASE_URL picks the "
        "database (a SQLite file under data/ by default).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (_handler, help_text) in COMMANDS.items():
        commands.add_parser(name, help=help_text, description=help_text)
    add = commands.add_parser(
        "add-user",
        help="register a person who may sign in (the first administrator, typically)",
        description="Register a person who may sign in, matched on their e-mail address.",
    )
    add.add_argument("email", help="the address their identity provider gives")
    add.add_argument("--name", required=True, help="the name colleagues know them by")
    add.add_argument("--role", required=True, choices=[role.value for role in Role])
    add.add_argument("--agency", default=None, help="their agency (partners)")
    load = commands.add_parser(
        "import",
        help="validate a file and load it (all or nothing); --dry-run only validates",
        description="Validate files, show what is wrong, then load them in one transaction.",
    )
    kinds_in = load.add_subparsers(dest="kind", required=True, metavar="KIND")
    for name, kind in IMPORT_KINDS.items():
        sub = kinds_in.add_parser(name, help=kind.help, description=kind.help)
        sub.add_argument("files", nargs="+", type=Path, metavar="FILE")
        sub.add_argument("--dry-run", action="store_true", help="validate and report only")
        sub.add_argument(
            "--accept-valid-rows",
            action="store_true",
            help="load the valid rows even when some are rejected (the report lists them)",
        )
        if name == "extract":
            sub.add_argument(
                "--mapping", metavar="NAME", help="a column mapping saved on the Data page"
            )
        if name == "population":
            sub.add_argument(
                "--lsoa-boundaries",
                type=Path,
                help="LSOA boundaries (GeoJSON, GeoPackage or zipped Shapefile)",
            )
    fetch = commands.add_parser(
        "fetch",
        help="fetch data from a public API, then load it (all or nothing)",
        description="Fetch data from a public API; months already fetched are kept and reused.",
    )
    sources = fetch.add_subparsers(dest="source", required=True, metavar="SOURCE")
    police = sources.add_parser(
        "police-uk",
        help="police.uk street-level crimes for the borough polygon, month by month",
        description="police.uk crimes-street/all-crime by the borough polygon, at most 15 "
        "requests a second, splitting the polygon when police.uk refuses over 10,000 crimes.",
    )
    police.add_argument("--from", dest="start", required=True, metavar="YYYY-MM")
    police.add_argument("--to", dest="end", required=True, metavar="YYYY-MM")
    police.add_argument("--dry-run", action="store_true", help="fetch and report only")
    undo = commands.add_parser("undo", help="undo an import (see `imports` for the ids)")
    undo.add_argument("import_id", type=int)
    export = commands.add_parser(
        "export",
        help="write files for people outside the app",
        description="Write files for people outside the app.",
    )
    kinds = export.add_subparsers(dest="export_kind", required=True, metavar="KIND")
    for name, (_handler, help_text) in EXPORTS.items():
        kind = kinds.add_parser(name, help=help_text, description=help_text)
        kind.add_argument("out_dir", metavar="DIR", type=Path, help="the folder to write")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user-facing problems print a message and exit with status 2."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    arguments = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        if arguments.command == "export":
            return EXPORTS[arguments.export_kind][0](settings, arguments.out_dir)
        if arguments.command == "add-user":
            return _add_user(settings, arguments)
        if arguments.command == "import":
            return _import(settings, arguments)
        if arguments.command == "undo":
            return _undo(settings, arguments)
        if arguments.command == "fetch":
            return _fetch(settings, arguments)
        return COMMANDS[arguments.command][0](settings)
    except CommunitySafetyError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
