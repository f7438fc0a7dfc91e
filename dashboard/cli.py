"""``python -m dashboard``: set up the store, load the demo, report what is stored, export.

Every command honours ``DATABASE_URL`` (through ``load_settings``). A store may hold several
boroughs (a London-wide one), so every command that works on one borough's data takes
``--borough CODE`` (default ``BOROUGH_CODE``) and reads and writes that borough's rows only.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import getpass
import logging
import os
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import geopandas as gpd
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from dashboard import hotspots, patrol_plan, plans, quarterly_pack, quarterly_report
from dashboard.access import Role
from dashboard.backup import backup, check_backup, restore
from dashboard.boroughs import ONS_BOROUGH_CODE, borough_name
from dashboard.config import DATA_DIR, MAPPINGS_DIR, Settings, load_settings
from dashboard.dates import today_in_london, whole_months_window
from dashboard.demo import seed_demo
from dashboard.errors import CommunitySafetyError, ImportRefused, InvalidInput, NotAllowed
from dashboard.exports import export_public_map
from dashboard.geo import BNG
from dashboard.importers.extract import load_mapping
from dashboard.importers.log import list_imports, undo_import
from dashboard.importers.police_uk_api import fetch_police_uk, months_between
from dashboard.importers.registry import IMPORT_KINDS, ImportRequest
from dashboard.importers.validation import ROWS_SHOWN_ON_SCREEN, check_size
from dashboard.patrol import DEFAULT_DETOUR_FACTOR, DEFAULT_DWELL_MIN
from dashboard.patrol_exports import patrol_brief_pdf, route_csv, route_gpx, route_map_png
from dashboard.public_map import read_public_snapshot
from dashboard.quarterly import Quarter
from dashboard.static_assets import prepare_static
from dashboard.store import queries
from dashboard.store.models import AssetKind
from dashboard.store.queries import table_counts
from dashboard.store.scope import stored_boroughs
from dashboard.store.session import (
    database_failure_reason,
    is_database_failure,
    make_engine,
    migrate,
    require_current_schema,
    table_names,
)
from dashboard.taxonomy import load_taxonomy
from dashboard.users import add_user

log = logging.getLogger("dashboard.cli")
# Whoever runs the command line holds the database itself; it acts as an administrator.
OPERATOR = Role.ADMIN


def _borough_code(text: str, option: str) -> str:
    """``text`` as an ONS borough code, upper-cased; InvalidInput naming ``option`` otherwise."""
    code = text.strip().upper()
    if not ONS_BOROUGH_CODE.fullmatch(code):
        raise InvalidInput(
            f"{option} must be an ONS borough code such as E09000032 (Wandsworth), got {text!r}"
        )
    return code


def _for_borough(settings: Settings, code: str | None) -> Settings:
    """``settings`` for the borough ``--borough`` names; unchanged when it names none.

    The borough's name follows its code (a configured BOROUGH_NAME belongs to BOROUGH_CODE).
    Raises InvalidInput for a code that is not E and eight digits.
    """
    if code is None:
        return settings
    code = _borough_code(code, "--borough")
    if code == settings.borough_code:
        return settings
    return dataclasses.replace(settings, borough_code=code, borough_name=borough_name(code))


def _boroughs(settings: Settings) -> tuple[str, ...]:
    """Whose rows a command reads: its borough's only, as a store of several needs saying."""
    return (settings.borough_code,)


def _borough_or_all(
    engine: Engine, settings: Settings, arguments: argparse.Namespace
) -> tuple[str, ...] | None:
    """``--borough``'s borough, or every borough the store holds (None: it holds none yet).

    For the operator's commands on the whole store (stats, the import log, undo), where
    ``--borough`` narrows rather than picks.
    """
    if arguments.borough:
        return _boroughs(settings)
    return tuple(stored_boroughs(engine)) or None


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


def _stats(settings: Settings, arguments: argparse.Namespace) -> int:
    """Count each table's rows: the whole store's, or with ``--borough`` that borough's."""
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    # tables without a borough (audit trails) are left out of one borough's counts
    boroughs = _borough_or_all(engine, settings, arguments)
    counts = table_counts(engine, table_names(engine), OPERATOR, boroughs=boroughs)
    for table, count in counts.items():
        sys.stdout.write(f"{table}: {count}\n")
    return 0


def _prepare(settings: Settings) -> int:
    """Everything ``make run`` needs: schema, demo data in an empty store, static map assets.

    It also publishes the knife-bin snapshot into ``PUBLIC_DIR`` for ``make run-public``.
    """
    engine = make_engine(settings.database_url)
    migrate(engine)
    if not stored_boroughs(engine):  # no wards of any borough: an empty store
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


def _export_public_map(settings: Settings, arguments: argparse.Namespace) -> int:
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    _write_public_map(engine, settings, arguments.out_dir)
    return 0


PATROL_FORMATS = ("gpx", "csv", "pdf")
PATROL_MIN_CLASSES = ("99", "95", "90")  # Gi* confidence, as `--min-class` takes it


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    A reader (or a phone syncing the folder) sees the old file or the whole new one, never half.
    The file is its owner's alone (``mkstemp`` makes it 0600), as suits OFFICIAL-SENSITIVE.
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _patrol_wards(
    engine: Engine,
    arguments: argparse.Namespace,
    wards_wgs84: gpd.GeoDataFrame,
    today: date,
    boroughs: tuple[str, ...],
) -> tuple[tuple[str, ...], int | None, str]:
    """The wards to plan (``--wards``, the CSO's, or the CSO's narrowed), the CSO's id and name.

    ``--cso`` is looked for among ``boroughs``' CSOs, and ``--wards`` among ``wards_wgs84``.
    """
    cso_id, cso_name, wards = None, "", ()
    if arguments.cso:
        cso = patrol_plan.find_cso(queries.csos(engine, OPERATOR, boroughs=boroughs), arguments.cso)
        cso_id, cso_name = int(cso["cso_id"]), str(cso["cso_name"])
        assignments = queries.current_cso_assignments(engine, today, OPERATOR, boroughs=boroughs)
        wards = patrol_plan.wards_of_cso(assignments, cso_id)
        if not wards and not arguments.wards:
            raise InvalidInput(f"{cso_name} covers no ward today; name the wards with --wards")
    if not arguments.wards:
        return wards, cso_id, cso_name
    asked = tuple(dict.fromkeys(filter(None, (w.strip() for w in arguments.wards.split(",")))))
    names = dict(zip(wards_wgs84["code"], wards_wgs84["name"], strict=True))
    unknown = [code for code in asked if code not in names]
    if unknown:
        listed = ", ".join(f"{code} ({name})" for code, name in names.items())
        raise InvalidInput(f"--wards: no ward {', '.join(unknown)}; the wards are: {listed}")
    outside = [code for code in asked if arguments.cso and code not in wards]
    if outside:
        raise InvalidInput(
            f"--wards: {', '.join(outside)} is not one of {cso_name}'s wards "
            f"({', '.join(wards) or 'none today'}); leave out --cso to plan any ward"
        )
    return asked, cso_id, cso_name


def _patrol_request(
    engine: Engine,
    arguments: argparse.Namespace,
    wards_wgs84: gpd.GeoDataFrame,
    today: date,
    boroughs: tuple[str, ...],
) -> tuple[patrol_plan.PatrolRequest, str]:
    """The plan the arguments ask for, and the CSO's name ("" without ``--cso``)."""
    on_date = None
    if arguments.date:
        try:
            on_date = date.fromisoformat(arguments.date)
        except ValueError:
            raise InvalidInput(f"--date must be YYYY-MM-DD, got {arguments.date!r}") from None
    if not arguments.weekday and on_date is None:
        raise InvalidInput("Give the day the shift starts: --weekday FRI (or --date YYYY-MM-DD)")
    try:
        weekdays = patrol_plan.parse_weekdays(arguments.weekday) if arguments.weekday else ()
    except InvalidInput as error:
        raise InvalidInput(f"--weekday: {error}, or several: FRI,SAT") from None
    starts_at = patrol_plan.parse_clock(arguments.starts_at, "--from")
    ends_at = patrol_plan.parse_clock(arguments.ends_at, "--to")
    if on_date is not None and weekdays and on_date.weekday() not in weekdays:
        raise InvalidInput(
            f"--date {on_date:%Y-%m-%d} is a {on_date:%A}, not {arguments.weekday}; "
            "leave out --weekday or change one of them"
        )
    if not arguments.cso and not arguments.wards:
        raise InvalidInput("Say whose patrol it is: --cso NAME (or the wards: --wards CODE,CODE)")
    wards, cso_id, cso_name = _patrol_wards(engine, arguments, wards_wgs84, today, boroughs)
    request = patrol_plan.PatrolRequest(
        ward_codes=wards,
        weekdays=weekdays,
        starts_at=starts_at,
        ends_at=ends_at,
        cso_id=cso_id,
        on_date=on_date,
        look_back_months=arguments.months,
        stop_count=arguments.stops,
        min_class=f"hot {arguments.min_class}%",
        dwell_min=arguments.dwell,
    )
    return request, cso_name


def _plan_patrol(
    engine: Engine,
    request: patrol_plan.PatrolRequest,
    span: tuple[date, date],
    wards_wgs84: gpd.GeoDataFrame,
    today: date,
    boroughs: tuple[str, ...],
) -> patrol_plan.PatrolPlan:
    """Read what a plan rests on from the store and build it, as the Patrol plan page does.

    The incidents are the whole borough's over the look-back (Gi* needs every cell's count), and
    the grid is the current wards' (``hotspots.borough_grid``). Every read is of ``boroughs``.
    """
    start, end = whole_months_window(span[0], span[1], request.look_back_months)
    incidents = queries.incidents(
        engine, queries.IncidentFilter(start=start, end=end, boroughs=boroughs), OPERATOR
    )
    return patrol_plan.build(
        request,
        incidents,
        hotspots.borough_grid(wards_wgs84.to_crs(BNG), hotspots.DEFAULT_CELL_SIZE_M),
        bins_wgs84=queries.assets(engine, AssetKind.KNIFE_BIN, OPERATOR, boroughs=boroughs),
        bus_stops_wgs84=queries.assets(
            engine, AssetKind.YOUTH_BUS_STOP, OPERATOR, boroughs=boroughs
        ),
        schedule=queries.youth_bus_schedule(engine, OPERATOR, boroughs=boroughs),
        actions=plans.actions(engine, OPERATOR, today, boroughs=boroughs),
    )


def _export_patrol(settings: Settings, arguments: argparse.Namespace) -> int:
    """Plan a CSO's patrol with ``patrol_plan.build`` and write it as GPX, CSV or a PDF brief."""
    out: Path = arguments.out
    kind = arguments.format or out.suffix.lstrip(".").lower()
    if kind not in PATROL_FORMATS:
        raise InvalidInput(f"Give --format gpx, csv or pdf (OUT {out.name!r} does not say which)")
    if out.is_dir() or not out.parent.is_dir():
        raise InvalidInput(f"OUT must be a file in an existing folder; {out} is not")
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    boroughs = _boroughs(settings)
    span = queries.incident_span(engine, OPERATOR, boroughs=boroughs)
    if span is None:
        raise InvalidInput(
            f"No incidents are loaded for {settings.borough_name}, so there are no hotspots to "
            "patrol; import some first (python -m dashboard import police-uk FILE, or fetch "
            "police-uk), or name another borough with --borough"
        )
    today = today_in_london()
    wards = queries.current_wards(engine, settings.borough_code, OPERATOR)
    request, cso_name = _patrol_request(engine, arguments, wards, today, boroughs)
    plan = _plan_patrol(engine, request, span, wards, today, boroughs)
    route = plan.route
    if route.stops.empty:
        why = " ".join(filter(None, (*(plan.notes or route.warnings), plan.when_note)))
        raise InvalidInput(
            f"No stops for {request.label}: {why} Look further back (--months 24 or 36) or "
            "take weaker hotspots too (--min-class 90); nothing was written."
        )
    if kind == "gpx":
        data = route_gpx(route, f"Patrol {request.label}", request.shift, on_date=request.on_date)
    elif kind == "csv":
        data = route_csv(route)
    else:
        synthetic = queries.dataset_info(engine).get("synthetic") == "true"
        picture = route_map_png(route, wards, plan.assets, plan.actions, synthetic=synthetic)
        data = patrol_brief_pdf(
            route,
            cso_name,
            request.shift,
            plan.assets,
            plan.actions,
            today=today,
            map_png=picture,
            on_date=request.on_date,
            synthetic=synthetic,
            notes=plan.notes_for_brief,
        )
    _write_atomically(out, data)
    warnings = (*plan.warnings, *filter(None, [plan.when_note]))
    sys.stdout.write(
        f"{out}: {len(route.stops)} stops for {request.label}, "
        f"{route.walk_distance_m / 1000:.1f} km walk (straight-line estimate), "
        f"one round about {route.total_time_min:.0f} min; "
        + (f"{len(warnings)} warning(s): {' '.join(warnings)}" if warnings else "no warnings")
        + "\n"
    )
    return 0


def _out_file(path: Path, suffix: str, option: str) -> None:
    """Refuse an output path that is not a ``suffix`` file in an existing folder."""
    if path.suffix.lower() != suffix:
        raise InvalidInput(f"{option} must end in {suffix}; {path.name!r} does not")
    if path.is_dir() or not path.parent.is_dir():
        raise InvalidInput(f"{option} must be a file in an existing folder; {path} is not")


def _pack_quarter(asked: str | None, inputs: quarterly_report.ReportInputs, today: date) -> Quarter:
    """The quarter ``--quarter`` names (the last complete one the data covers when omitted)."""
    available = quarterly_report.quarters_available(inputs)
    span = inputs.data_span
    if not available or span is None:
        covered = f" (it runs from {span[0]:%d %b %Y} to {span[1]:%d %b %Y})" if span else ""
        raise InvalidInput(
            f"The incidents cover no complete quarter{covered}; a pack needs a whole quarter "
            "of data. Import more (python -m dashboard import police-uk FILE) and try again"
        )
    listed = ", ".join(quarter.label for quarter in available)
    if asked is None:
        return quarterly_report.default_quarter(inputs, today) or available[0]
    try:
        quarter = Quarter.parse(asked)
    except InvalidInput as error:
        raise InvalidInput(f"--quarter: {error}. The data covers {listed}") from None
    if quarter not in available:
        raise InvalidInput(
            f"--quarter: the data does not cover the whole of {quarter.label} "
            f"({quarter.months_label}); it covers {listed}"
        )
    return quarter


def _export_quarterly_pack(settings: Settings, arguments: argparse.Namespace) -> int:
    """Build the quarterly pack as the Quarterly page does and write the PDF (and workbook)."""
    out: Path = arguments.out
    workbook_out: Path | None = arguments.workbook
    _out_file(out, ".pdf", "OUT")
    if workbook_out is not None:
        _out_file(workbook_out, ".xlsx", "--workbook")
        if workbook_out.resolve() == out.resolve():
            raise InvalidInput("--workbook must be another file than OUT")
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    if queries.incident_span(engine, OPERATOR, boroughs=_boroughs(settings)) is None:
        raise InvalidInput(
            f"No incidents are loaded for {settings.borough_name}, so there is nothing to report; "
            "import some first (python -m dashboard import police-uk FILE, or fetch police-uk), "
            "or name another borough with --borough"
        )
    today = today_in_london()
    synthetic = queries.dataset_info(engine).get("synthetic") == "true"
    inputs = quarterly_report.read_inputs(engine, OPERATOR, settings.borough_code, today, synthetic)
    quarter = _pack_quarter(arguments.quarter, inputs, today)
    suppress = quarterly_report.must_suppress(
        OPERATOR, for_pack=True, internal_pack=arguments.internal
    )
    if arguments.internal and suppress:  # the operator may; a narrower role would land here
        raise NotAllowed("--internal: this role may not make a pack without suppression")
    report = quarterly_report.build_report(
        inputs, quarter, suppress=suppress, threshold=settings.small_number_threshold
    )
    pdf = quarterly_pack.pack_pdf(
        report,
        borough_name=settings.borough_name,
        generated_on=today,
        marking=settings.protective_marking,
    )
    workbook = (
        quarterly_pack.pack_workbook(
            report,
            marking=settings.protective_marking,
            generated_on=today,
            borough_name=settings.borough_name,
        )
        if workbook_out is not None
        else None
    )
    _write_atomically(out, pdf)
    also = ""
    if workbook is not None and workbook_out is not None:
        _write_atomically(workbook_out, workbook)
        also = f"; workbook {workbook_out} ({len(workbook) / 1024:,.0f} KB)"
    kind = "internal (small numbers not suppressed)" if not suppress else "suppressed"
    sys.stdout.write(
        f"{out}: {quarterly_pack.page_count(pdf)} pages, {len(pdf) / 1024:,.0f} KB, "
        f"{quarter.label}, {kind}{also}\n"
    )
    return 0


def _add_user(settings: Settings, arguments: argparse.Namespace) -> int:
    """Register someone (the first administrator, typically) from the command line."""
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    borough = arguments.user_borough
    if borough is not None:
        borough = _borough_code(borough, "--borough")
    user_id = add_user(
        engine,
        "cli",
        email=arguments.email,
        display_name=arguments.name,
        role=arguments.role,
        agency=arguments.agency,
        borough_code=borough,
        london_wide=arguments.london_wide,
    )
    sees = ", London-wide" if arguments.london_wide else ""
    of = f", {borough_name(borough)}" if borough is not None else ""
    sys.stdout.write(
        f"user {user_id} added: {arguments.email.strip().lower()} ({arguments.role}{of}{sees})\n"
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
    sys.stdout.write(f"borough: {settings.borough_name} ({settings.borough_code})\n")
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
    sys.stdout.write(f"borough: {settings.borough_name} ({settings.borough_code})\n")
    for line in prepared.report.summary_lines():
        sys.stdout.write(f"{line}\n")
    if arguments.dry_run:
        sys.stdout.write(f"dry run: nothing was written (months kept in {cache_dir})\n")
        return 0
    commit = IMPORT_KINDS["police-uk"].commit  # reports a failure mid-write as the import does
    import_id = commit(engine, prepared, f"cli:{getpass.getuser()}", OPERATOR)
    sys.stdout.write(f"import {import_id} committed: {prepared.report.rows_accepted:,} rows\n")
    return 0


def _print_progress(rows: int) -> None:
    sys.stderr.write(f"\rchecked {rows:,} rows")
    sys.stderr.flush()


def _undo(settings: Settings, arguments: argparse.Namespace) -> int:
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    removed = undo_import(
        engine,
        OPERATOR,
        f"cli:{getpass.getuser()}",
        arguments.import_id,
        boroughs=_borough_or_all(engine, settings, arguments),
    )
    done = ", ".join(f"{table} {count:,}" for table, count in removed.items()) or "nothing"
    sys.stdout.write(f"import {arguments.import_id} undone; removed {done}\n")
    return 0


def _imports(settings: Settings, arguments: argparse.Namespace) -> int:
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    boroughs = _borough_or_all(engine, settings, arguments)
    for row in list_imports(engine, OPERATOR, boroughs=boroughs).itertuples():
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
        "DIR/assets/ (the borough's public knife bins only, allow-listed fields only); DIR is "
        "replaced whole",
    ),
    "patrol": (
        _export_patrol,
        "a CSO's patrol for a shift: the significant hotspots in their wards for those days and "
        "hours, in walking order, as GPX (phone), CSV (spreadsheet) or a PDF brief with a map; "
        "the same plan as the Patrol plan page",
    ),
    "quarterly-pack": (
        _export_quarterly_pack,
        "the Violence Strategic Delivery Group's quarterly pack as a PDF for the meeting papers "
        "(small numbers suppressed unless --internal), and its tables as an Excel workbook "
        "with --workbook; the same figures as the Quarterly page",
    ),
}
PATROL_EXAMPLE = f"""examples:
  python -m dashboard export patrol --cso "Samir Ferreira" --weekday FRI,SAT \\
      --from 18:00 --to 02:00 --months 24 --format pdf brief.pdf
  python -m dashboard export patrol --cso 6 --date 2026-11-06 --from 18:00 --to 22:00 patrol.gpx

Distances are straight lines between cell centres times {DEFAULT_DETOUR_FACTOR:g}, not routes
along streets. On any error nothing is written and the exit status is 2."""


def _add_patrol_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "out", metavar="OUT", type=Path, help="the file to write (replaced whole, never half)"
    )
    who = parser.add_argument_group("whose patrol (one or both)")
    who.add_argument(
        "--cso",
        metavar="NAME",
        help="the CSO's name as stored (any case), or their id; plans their wards today",
    )
    who.add_argument(
        "--wards",
        metavar="CODE,CODE",
        help="ward codes to plan: instead of --cso, or some of the CSO's wards",
    )
    when = parser.add_argument_group("when (London time)")
    when.add_argument(
        "--weekday",
        metavar="DAY",
        help="the day(s) the shift starts: FRI, fri, Friday, or several as FRI,SAT",
    )
    when.add_argument(
        "--date",
        metavar="YYYY-MM-DD",
        help="one shift starting on this date (then --weekday may be left out); the files "
        "carry clock times on that date",
    )
    when.add_argument(
        "--from", dest="starts_at", metavar="HH:MM", required=True, help="when the shift starts"
    )
    when.add_argument(
        "--to",
        dest="ends_at",
        metavar="HH:MM",
        required=True,
        help="when it ends; earlier than --from means the next day (--from 22:00 --to 02:00)",
    )
    how = parser.add_argument_group("the plan")
    how.add_argument(
        "--format",
        choices=PATROL_FORMATS,
        help="gpx for a phone, csv for a spreadsheet, pdf for a printed brief with a map "
        "(default: OUT's extension)",
    )
    how.add_argument(
        "--months",
        type=int,
        default=12,
        metavar="N",
        help="months of incidents to find hotspots in, up to the newest (default %(default)s)",
    )
    how.add_argument(
        "--stops",
        type=int,
        default=patrol_plan.DEFAULT_STOP_COUNT,
        metavar="N",
        help="the most stops to visit (default %(default)s)",
    )
    how.add_argument(
        "--min-class",
        choices=PATROL_MIN_CLASSES,
        default="95",
        help="the weakest Gi* hotspot to visit, as %% confidence (default %(default)s)",
    )
    how.add_argument(
        "--dwell",
        type=float,
        default=DEFAULT_DWELL_MIN,
        metavar="MIN",
        help="minutes at each stop (default %(default)g; 10-15 deters longest, Koper 1995)",
    )


QUARTERLY_PACK_EXAMPLE = """examples:
  python -m dashboard export quarterly-pack --quarter 2025/26-Q2 pack.pdf
  python -m dashboard export quarterly-pack --internal --workbook tables.xlsx pack.pdf

PROTECTIVE_MARKING sets the marking on every page, SMALL_NUMBER_THRESHOLD the
suppression threshold and BOROUGH_NAME the cover's borough. On any error nothing
is written and the exit status is 2."""


def _add_quarterly_pack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "out", metavar="OUT", type=Path, help="the PDF to write (replaced whole, never half)"
    )
    parser.add_argument(
        "--quarter",
        metavar="QUARTER",
        help="the financial quarter, e.g. 2025/26-Q2 or '2025/26 Q2' (Q1 is April-June; "
        "default: the last complete quarter the data covers)",
    )
    parser.add_argument(
        "--internal",
        action="store_true",
        help="an internal pack: small numbers shown exactly, not suppressed (not for circulation)",
    )
    parser.add_argument(
        "--workbook",
        metavar="OUT.xlsx",
        type=Path,
        help="also write the pack's tables as an Excel workbook",
    )


def _backup(settings: Settings, arguments: argparse.Namespace) -> int:
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    held = backup(engine, arguments.out)
    rows = sum(digest.rows for digest in held.values())
    sys.stdout.write(f"backup written to {arguments.out}: {len(held)} tables, {rows:,} rows\n")
    return 0


def _restore(settings: Settings, arguments: argparse.Namespace) -> int:
    engine = make_engine(settings.database_url)
    if not arguments.yes:
        check_backup(engine, arguments.source)
        sys.stdout.write(
            f"{arguments.source} is a sound backup of this store. Restoring it replaces "
            "everything the store holds now; run again with --yes to do it.\n"
        )
        return 0
    held = restore(engine, arguments.source)
    rows = sum(digest.rows for digest in held.values())
    sys.stdout.write(f"restored {arguments.source}: {len(held)} tables, {rows:,} rows\n")
    return 0


BOROUGH_HELP = "the borough's ONS code, e.g. E09000022 for Lambeth (default: BOROUGH_CODE)"


def _add_borough_argument(parser: argparse.ArgumentParser, help_text: str = BOROUGH_HELP) -> None:
    # checked in main(), not by argparse, so a bad code is one line of error, not the usage
    parser.add_argument("--borough", metavar="CODE", help=help_text)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m dashboard",
        description="Community Safety Map: set up and inspect the store. DATABASE_URL picks the "
        "database (a SQLite file under data/ by default). A store may hold several boroughs: "
        "commands on one borough's data take --borough CODE (default: BOROUGH_CODE).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (_handler, help_text) in COMMANDS.items():
        commands.add_parser(name, help=help_text, description=help_text)
    count = commands.add_parser(
        "stats",
        help="print one 'table: count' line per table (--borough: that borough's rows only)",
        description="Print one 'table: count' line per table, counting the whole store.",
    )
    _add_borough_argument(
        count,
        "count this borough's rows only (ONS code, e.g. E09000022); tables holding no "
        "borough (audit trails) are then left out",
    )
    log_of = commands.add_parser(
        "imports",
        help="list the import log, newest first (--borough: that borough's imports only)",
        description="List the import log of the whole store, newest first.",
    )
    _add_borough_argument(log_of, "list this borough's imports only (ONS code, e.g. E09000022)")
    add = commands.add_parser(
        "add-user",
        help="register a person who may sign in (the first administrator, typically)",
        description="Register a person who may sign in, matched on their e-mail address.",
    )
    add.add_argument("email", help="the address their identity provider gives")
    add.add_argument("--name", required=True, help="the name colleagues know them by")
    add.add_argument("--role", required=True, choices=[role.value for role in Role])
    add.add_argument("--agency", default=None, help="their agency (partners)")
    add.add_argument(
        "--borough",
        dest="user_borough",
        metavar="CODE",
        help="the borough whose internal data they see, as its ONS code (default: the "
        "deployment's, BOROUGH_CODE)",
    )
    add.add_argument(
        "--london-wide",
        action="store_true",
        help="let them see every borough the store holds, one at a time or all at once",
    )
    load = commands.add_parser(
        "import",
        help="validate a file and load it (all or nothing); --dry-run only validates",
        description="Validate files, show what is wrong, then load them in one transaction.",
    )
    kinds_in = load.add_subparsers(dest="kind", required=True, metavar="KIND")
    for name, kind in IMPORT_KINDS.items():
        sub = kinds_in.add_parser(name, help=kind.help, description=kind.help)
        sub.add_argument("files", nargs="+", type=Path, metavar="FILE")
        _add_borough_argument(
            sub,
            "the borough the file is for, as its ONS code, e.g. E09000022 for Lambeth "
            "(default: BOROUGH_CODE); it replaces or adds to that borough's data only",
        )
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
    _add_borough_argument(police)
    police.add_argument("--dry-run", action="store_true", help="fetch and report only")
    undo = commands.add_parser("undo", help="undo an import (see `imports` for the ids)")
    undo.add_argument("import_id", type=int)
    _add_borough_argument(
        undo, "undo it only if it is this borough's import (ONS code, e.g. E09000022)"
    )
    save = commands.add_parser(
        "backup",
        help="write a consistent backup of the store to a file (while the app runs)",
        description="Write a consistent backup of the store: SQLite's online backup, or "
        "pg_dump's custom format for PostgreSQL. The file appears whole or not at all.",
    )
    save.add_argument("out", metavar="OUT", type=Path)
    back = commands.add_parser(
        "restore",
        help="replace the store's content with a backup (checked first; --yes to do it)",
        description="Check a backup, then replace the store's content with it and migrate it "
        "forward if it is older. Without --yes, only checks and says what would happen.",
    )
    back.add_argument("source", metavar="IN", type=Path)
    back.add_argument("--yes", action="store_true", help="really replace the store's content")
    export = commands.add_parser(
        "export",
        help="write files for people outside the app",
        description="Write files for people outside the app.",
    )
    kinds = export.add_subparsers(dest="export_kind", required=True, metavar="KIND")
    # exports with arguments of their own, and the examples their help ends with
    detailed = {
        "patrol": (_add_patrol_arguments, PATROL_EXAMPLE),
        "quarterly-pack": (_add_quarterly_pack_arguments, QUARTERLY_PACK_EXAMPLE),
    }
    for name, (_handler, help_text) in EXPORTS.items():
        if name in detailed:
            add_arguments, example = detailed[name]
            kind = kinds.add_parser(
                name,
                help=help_text,
                # the raw formatter keeps the examples' lines; the description is wrapped here
                description=textwrap.fill(help_text[0].upper() + help_text[1:] + ".", 79),
                epilog=example,
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )
            add_arguments(kind)
            _add_borough_argument(kind)
        else:
            kind = kinds.add_parser(name, help=help_text, description=help_text)
            kind.add_argument("out_dir", metavar="DIR", type=Path, help="the folder to write")
            _add_borough_argument(kind)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user-facing problems print a message and exit with status 2."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # fpdf2's font subsetting logs every glyph table at INFO: noise next to our export lines
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    arguments = build_parser().parse_args(argv)
    try:
        settings = _for_borough(load_settings(), getattr(arguments, "borough", None))
        if arguments.command == "stats":
            return _stats(settings, arguments)
        if arguments.command == "imports":
            return _imports(settings, arguments)
        if arguments.command == "export":
            return EXPORTS[arguments.export_kind][0](settings, arguments)
        if arguments.command == "add-user":
            return _add_user(settings, arguments)
        if arguments.command == "import":
            return _import(settings, arguments)
        if arguments.command == "undo":
            return _undo(settings, arguments)
        if arguments.command == "fetch":
            return _fetch(settings, arguments)
        if arguments.command == "backup":
            return _backup(settings, arguments)
        if arguments.command == "restore":
            return _restore(settings, arguments)
        return COMMANDS[arguments.command][0](settings)
    except CommunitySafetyError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    except DBAPIError as error:
        if not is_database_failure(error):
            raise  # bad SQL or a broken constraint: a bug, and its traceback should surface
        sys.stderr.write(
            f"error: the database failed: {database_failure_reason(error)}. Check DATABASE_URL "
            "and that the database server is running (or the SQLite file is there and the disk "
            "has space), then run the command again\n"
        )
        return 2
