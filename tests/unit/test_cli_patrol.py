"""`python -m dashboard export patrol`: the page's plan, as files, from a real demo store."""

from __future__ import annotations

import csv
import io
from datetime import date, time
from pathlib import Path

import gpxpy
import pytest
from pypdf import PdfReader
from sqlalchemy import delete

from dashboard import hotspots, patrol_plan, plans
from dashboard.access import Role
from dashboard.cli import main
from dashboard.dates import today_in_london, whole_months_window
from dashboard.geo import BNG
from dashboard.patrol_exports import CSV_COLUMNS
from dashboard.store import queries
from dashboard.store.models import AssetKind, Incident
from dashboard.store.session import make_engine, session_scope
from tests.second_borough import LAMBETH, add_second_borough

WANDSWORTH = "E09000032"
SAMIR = ["--cso", "Samir Ferreira", "--weekday", "FRI,SAT", "--from", "18:00", "--to", "02:00"]
SAMIR_STOPS = 5  # the demo's hot 95% cells in his wards, Friday and Saturday nights, 24 months


def page_plan(database_url: str, request: patrol_plan.PatrolRequest) -> patrol_plan.PatrolPlan:
    """The plan as the Patrol plan page builds it: the same reads, then ``patrol_plan.build``."""
    engine = make_engine(database_url)
    role = Role.ANALYST
    span = queries.incident_span(engine, role)
    start, end = whole_months_window(span[0], span[1], request.look_back_months)
    wards = queries.current_wards(engine, WANDSWORTH, role)
    today = today_in_london()
    plan = patrol_plan.build(
        request,
        queries.incidents(engine, queries.IncidentFilter(start=start, end=end), role),
        hotspots.borough_grid(wards.to_crs(BNG)),
        bins_wgs84=queries.assets(engine, AssetKind.KNIFE_BIN, role),
        bus_stops_wgs84=queries.assets(engine, AssetKind.YOUTH_BUS_STOP, role),
        schedule=queries.youth_bus_schedule(engine, role),
        actions=plans.actions(engine, role, today),
    )
    engine.dispose()
    return plan


def samir_request(database_url: str) -> patrol_plan.PatrolRequest:
    engine = make_engine(database_url)
    assignments = queries.current_cso_assignments(engine, today_in_london(), Role.ANALYST)
    engine.dispose()
    return patrol_plan.PatrolRequest(
        ward_codes=patrol_plan.wards_of_cso(assignments, 6),
        weekdays=(4, 5),
        starts_at=time(18),
        ends_at=time(2),
        cso_id=6,
        look_back_months=24,
    )


def test_the_gpx_has_the_pages_stops_in_the_pages_order(seeded_db, tmp_path, capsys):
    out = tmp_path / "friday.gpx"

    assert main(["export", "patrol", *SAMIR, "--months", "24", "--format", "gpx", str(out)]) == 0

    expected = page_plan(seeded_db, samir_request(seeded_db)).route.stops
    assert len(expected) == SAMIR_STOPS
    gpx = gpxpy.parse(out.read_text(encoding="utf-8"))
    stops = [w for w in gpx.waypoints if w.name.startswith("Stop ")]
    assert [w.name for w in stops] == [f"Stop {n}" for n in range(1, SAMIR_STOPS + 1)]
    assert [w.latitude for w in stops] == pytest.approx(expected["latitude"].tolist(), abs=1e-6)
    assert [w.longitude for w in stops] == pytest.approx(expected["longitude"].tolist(), abs=1e-6)
    assert [w.description.rsplit("Cell ", 1)[1].rstrip(".") for w in stops] == expected[
        "cell_id"
    ].tolist()
    summary = capsys.readouterr().out
    assert summary.count("\n") == 1
    assert f"{out}: {SAMIR_STOPS} stops for Friday and Saturday 18:00" in summary
    assert "km walk" in summary
    assert "1 warning(s): Only 5 stops" in summary


def test_the_csv_has_the_headers_and_a_row_per_stop(seeded_db, tmp_path):
    out = tmp_path / "friday.csv"  # the format from the extension, the CSO by id, days any case

    args = ["--cso", "6", "--weekday", "friday,Sat", "--from", "18:00", "--to", "02:00"]
    assert main(["export", "patrol", *args, "--months", "24", str(out)]) == 0

    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    expected = page_plan(seeded_db, samir_request(seeded_db)).route.stops
    assert rows[0] == list(CSV_COLUMNS)
    assert [row[0] for row in rows[1:]] == [str(n) for n in range(1, SAMIR_STOPS + 1)]
    assert [row[1] for row in rows[1:]] == expected["cell_id"].tolist()


def test_the_pdf_brief_names_the_cso_and_carries_the_marking_and_the_map(seeded_db, tmp_path):
    out = tmp_path / "brief.pdf"

    assert main(["export", "patrol", *SAMIR, "--months", "24", "--format", "pdf", str(out)]) == 0

    reader = PdfReader(out)
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "For Samir Ferreira" in text
    assert text.count("OFFICIAL-SENSITIVE") >= 2
    assert "Synthetic demo data" in text  # the demo store says it is synthetic
    assert sum(len(page.images) for page in reader.pages) == 1  # the route map


def test_a_date_fixes_the_day_and_the_wards_narrow_the_csos(seeded_db, tmp_path, capsys):
    request = samir_request(seeded_db)
    ward = request.ward_codes[0]
    out = tmp_path / "one.csv"
    args = ["--cso", "6", "--wards", ward, "--date", "2026-10-30", "--from", "18:00"]

    assert main(["export", "patrol", *args, "--to", "02:00", "--months", "24", str(out)]) == 0

    narrowed = patrol_plan.PatrolRequest(
        ward_codes=(ward,),
        weekdays=(),
        starts_at=time(18),
        ends_at=time(2),
        on_date=date(2026, 10, 30),
        look_back_months=24,
        cso_id=6,
    )
    expected = page_plan(seeded_db, narrowed).route.stops
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))[1:]
    assert 0 < len(rows) < SAMIR_STOPS
    assert [row[1] for row in rows] == expected["cell_id"].tolist()
    assert "Fri 30 Oct 2026 18:00" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--cso", "Nobody", "--weekday", "FRI", "--from", "18:00", "--to", "22:00"],
            "No CSO matches 'Nobody'; the CSOs are: Priya Okafor (1), ",
        ),
        (
            ["--cso", "6", "--weekday", "FRY", "--from", "18:00", "--to", "22:00"],
            "--weekday: 'FRY' is not a weekday; use MON, TUE, ... SUN",
        ),
        (
            ["--cso", "6", "--from", "18:00", "--to", "22:00"],
            "Give the day the shift starts: --weekday FRI",
        ),
        (
            ["--cso", "6", "--weekday", "FRI", "--from", "6pm", "--to", "22:00"],
            "--from must be a time like 18:00, got '6pm'",
        ),
        (
            ["--cso", "6", "--weekday", "FRI", "--from", "18:00", "--to", "24:00"],
            "--to must be a time like 18:00, got '24:00'",
        ),
        (
            ["--cso", "6", "--weekday", "MON", "--date", "2026-10-30"],
            "--date 2026-10-30 is a Friday, not MON",
        ),
        (
            ["--cso", "6", "--wards", "E05014017", "--weekday", "FRI"],  # Roehampton
            "--wards: E05014017 is not one of Samir Ferreira's wards",
        ),
        (
            ["--wards", "E05000000", "--weekday", "FRI"],
            "--wards: no ward E05000000; the wards are: E05014009 (Balham), ",
        ),
        (
            ["--cso", "1", "--weekday", "FRI", "--from", "18:00", "--to", "22:00"],
            "No stops for Friday 18:00\u201322:00: No cell is a significant hotspot (hot 95% or "
            "stronger) for this shift, so no stops are proposed. Look further back (--months 24 "
            "or 36) or take weaker hotspots too (--min-class 90); nothing was written.",
        ),
    ],
)
def test_a_request_that_cannot_be_planned_says_what_to_change_and_writes_nothing(
    seeded_db, tmp_path, capsys, args, message
):
    if "--from" not in args:
        args = [*args, "--from", "18:00", "--to", "22:00"]
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "patrol.gpx"
    out.write_bytes(b"yesterday's plan")

    assert main(["export", "patrol", *args, str(out)]) == 2

    captured = capsys.readouterr()
    assert captured.err.startswith("error: ")
    assert message in captured.err
    assert captured.out == ""
    assert out.read_bytes() == b"yesterday's plan"  # left as it was
    assert [path.name for path in folder.iterdir()] == ["patrol.gpx"]  # no temporary file left


def test_with_no_incidents_loaded_it_says_to_import_some(seeded_db, tmp_path, capsys):
    engine = make_engine(seeded_db)
    with session_scope(engine) as session:
        session.execute(delete(Incident))
    engine.dispose()
    out = tmp_path / "patrol.pdf"

    assert main(["export", "patrol", *SAMIR, str(out)]) == 2

    assert "No incidents are loaded" in capsys.readouterr().err
    assert not out.exists()


def test_an_out_file_without_a_format_or_folder_is_refused_before_reading(tmp_path, capsys):
    assert main(["export", "patrol", *SAMIR, str(tmp_path / "patrol.txt")]) == 2
    assert "Give --format gpx, csv or pdf" in capsys.readouterr().err
    assert main(["export", "patrol", *SAMIR, str(tmp_path / "missing" / "patrol.gpx")]) == 2
    assert "OUT must be a file in an existing folder" in capsys.readouterr().err


def test_the_help_shows_the_usage_and_an_example(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["export", "patrol", "--help"])

    assert stopped.value.code == 0
    text = capsys.readouterr().out
    assert "usage: python -m dashboard export patrol" in text
    assert "--from HH:MM --to HH:MM" in text
    assert '--cso "Samir Ferreira" --weekday FRI,SAT' in text


def csv_cells(out: Path) -> list[str]:
    """The cells of a patrol CSV, in visiting order."""
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    return [row[1] for row in rows[1:]]


def east_of(cell_id: str, distance_m: int = 20_000) -> str:
    """The id of the cell ``distance_m`` east of ``cell_id`` ("easting_northing")."""
    easting, northing = cell_id.split("_")
    return f"{int(easting) + distance_m}_{northing}"


def test_in_a_store_of_two_boroughs_each_plans_on_its_own_incidents(seeded_db, tmp_path, capsys):
    request = samir_request(seeded_db)
    expected = page_plan(seeded_db, request).route.stops["cell_id"].tolist()
    engine = make_engine(seeded_db)
    names = queries.current_wards(engine, WANDSWORTH, Role.ANALYST).set_index("code")["name"]
    add_second_borough(engine)  # Wandsworth again as Lambeth, 20 km east, with its own CSO
    copies = queries.current_wards(engine, LAMBETH, Role.ANALYST).set_index("name")["code"]
    engine.dispose()
    lambeth_wards = ",".join(copies[f"{names[code]} East"] for code in request.ward_codes)
    samir, wandsworth, lambeth = (tmp_path / f"{name}.csv" for name in ("samir", "w", "l"))

    def patrol(out: Path, *args: str) -> int:
        shift = ["--weekday", "FRI,SAT", "--from", "18:00", "--to", "02:00", "--months", "24"]
        return main(["export", "patrol", *args, *shift, str(out)])

    assert patrol(samir, "--cso", "Samir Ferreira") == 0
    assert patrol(wandsworth, "--wards", ",".join(request.ward_codes)) == 0
    assert patrol(lambeth, "--borough", LAMBETH, "--wards", lambeth_wards) == 0

    # Wandsworth's plan is what it was before the store held Lambeth too
    assert csv_cells(samir) == expected
    # Lambeth's incidents are Wandsworth's moved 20 km east (a whole number of 250 m cells):
    # the same hotspots, 20 km east, in the same order
    assert sorted(csv_cells(wandsworth)) == sorted(expected)
    assert csv_cells(lambeth) == [east_of(cell) for cell in csv_cells(wandsworth)]
    capsys.readouterr()
    # a CSO is looked for among the borough's own: Samir is Wandsworth's
    assert patrol(lambeth, "--borough", LAMBETH, "--cso", "Samir Ferreira") == 2
    assert "No CSO matches 'Samir Ferreira'; the CSOs are: Officer SECRET Lambeth" in (
        capsys.readouterr().err
    )
