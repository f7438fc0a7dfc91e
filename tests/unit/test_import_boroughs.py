"""Every import in a store of two boroughs: each file changes its own borough's data only.

The store is the demo's Wandsworth plus a copy of it 20 km east as Lambeth
(``tests.second_borough``), which has a knife bin, a Youth Bus stop with one visit, and a CSO
covering one ward of its own.
"""

from __future__ import annotations

from datetime import date, time, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from dashboard.access import Role
from dashboard.cli import main
from dashboard.errors import InvalidInput
from dashboard.geo import bng_to_wgs84, wgs84_to_bng
from dashboard.importers.assets import (
    assign_ward,
    commit_assets,
    commit_cso_assignments,
    commit_youth_bus,
    prepare_assets,
    prepare_cso_assignments,
    prepare_youth_bus,
)
from dashboard.importers.extract import EXTRACT_COLUMNS, commit_extract, prepare_extract
from dashboard.store.models import Asset, Cso, CsoAssignment, DataImport, Incident, YouthBusVisit
from dashboard.store.queries import current_cso_assignments
from dashboard.store.session import make_engine, session_scope
from tests.conftest import WANDSWORTH
from tests.second_borough import LAMBETH, SHIFT_M
from tests.unit.test_import_police_uk_api import Api

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ANALYST = Role.ANALYST
ASSET_HEADER = "kind,name,address,latitude,longitude,public,guidance,notes"
BUS_HEADER = "stop_name,weekday,on_date,starts_at,ends_at,activity"
CSO_HEADER = "cso_name,ward_code,valid_from,contact"
UNDO_NOTE = (
    "undoing this import cannot bring back what it replaced: import the previous file again instead"
)
TODAY = date(2025, 6, 1)
# places in Wandsworth; ``in_lambeth`` moves them to the same place in the copy
CLAPHAM_JUNCTION = (-0.1700, 51.4630)
BALHAM = (-0.1525, 51.4430)
LAMBETH_STOP = "SECRET Youth Bus stop, Stockwell"
LAMBETH_CSO = "Officer SECRET Lambeth"


@pytest.fixture
def engine(london_db_url):
    engine = make_engine(london_db_url)
    yield engine
    engine.dispose()


def in_lambeth(place: tuple[float, float]) -> tuple[float, float]:
    """A Wandsworth (longitude, latitude) moved to the same place in the copy, 20 km east."""
    x_bng, y_bng = wgs84_to_bng(np.array([place[0]]), np.array([place[1]]))
    longitude, latitude = bng_to_wgs84(x_bng + SHIFT_M, y_bng)
    return float(longitude[0]), float(latitude[0])


def csv_file(name: str, header: str, *rows: str) -> tuple[str, bytes]:
    return (name, "\n".join([header, *rows, ""]).encode())


def fixture(name: str) -> tuple[str, bytes]:
    return (name, (FIXTURES / "assets" / name).read_bytes())


def asset_rows(engine, borough: str) -> list[tuple]:
    """The borough's assets as ``(kind, name, id)``, sorted."""
    with session_scope(engine) as session:
        rows = session.execute(
            select(Asset.kind, Asset.name, Asset.id).where(Asset.borough_code == borough)
        ).all()
    return sorted((str(kind), name, asset_id) for kind, name, asset_id in rows)


def names(rows: list[tuple]) -> list[tuple[str, str]]:
    return [(kind, name) for kind, name, _ in rows]


def visit_rows(engine, borough: str) -> list[tuple]:
    """Visits at the borough's stops: ``(stop id, stop name, weekday, on_date, starts_at)``."""
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                YouthBusVisit.stop_id,
                Asset.name,
                YouthBusVisit.weekday,
                YouthBusVisit.on_date,
                YouthBusVisit.starts_at,
            )
            .join(Asset, Asset.id == YouthBusVisit.stop_id)
            .where(Asset.borough_code == borough)
        ).all()
    return sorted((tuple(row) for row in rows), key=str)


def cso_rows(engine) -> list[tuple]:
    with session_scope(engine) as session:
        return [
            tuple(row)
            for row in session.execute(
                select(Cso.id, Cso.display_name, Cso.contact, Cso.borough_code).order_by(Cso.id)
            )
        ]


def import_borough(engine, import_id: int) -> str | None:
    with session_scope(engine) as session:
        return session.get(DataImport, import_id).borough_code


def commit(engine, prepared, writer) -> int:
    assert prepared.report.rejected == []
    return writer(engine, prepared, "analyst@example.org", ANALYST)


# --- knife bins and Youth Bus stops -------------------------------------------------------------


def test_knife_bins_for_lambeth_replace_lambeth_s_bin_and_leave_wandsworth_s(engine, lambeth):
    wandsworth = asset_rows(engine, WANDSWORTH)
    brixton, kennington = in_lambeth(CLAPHAM_JUNCTION), in_lambeth(BALHAM)
    bins = csv_file(
        "lambeth_bins.csv",
        ASSET_HEADER,
        f"knife_bin,Brixton bin,Brixton Road,{brixton[1]:.6f},{brixton[0]:.6f},true,,",
        f"knife_bin,Kennington bin,Kennington Lane,{kennington[1]:.6f},{kennington[0]:.6f},false,,",
    )

    prepared = prepare_assets(engine, [bins], LAMBETH, ANALYST)

    # Lambeth holds one bin and Wandsworth two: only Lambeth's is replaced, and both new
    # bins lie inside Lambeth (no "outside the borough" warning)
    assert prepared.report.warnings == [
        "this file replaces every stored asset of its kinds in Lambeth (1 knife_bin): they are "
        "removed when it is loaded; undoing this import removes the assets it adds but cannot "
        "bring back the ones it replaced (import the previous file again instead)"
    ]
    import_id = commit(engine, prepared, commit_assets)

    assert asset_rows(engine, WANDSWORTH) == wandsworth  # the same rows, ids and all
    assert names(asset_rows(engine, LAMBETH)) == [
        ("knife_bin", "Brixton bin"),
        ("knife_bin", "Kennington bin"),
        ("youth_bus_stop", LAMBETH_STOP),  # another kind: untouched
    ]
    assert import_borough(engine, import_id) == LAMBETH


def test_knife_bins_for_wandsworth_leave_lambeth_s_bin_and_carry_wandsworth_s_code(engine, lambeth):
    lambeth_before = asset_rows(engine, LAMBETH)

    prepared = prepare_assets(engine, [fixture("assets.csv")], WANDSWORTH, ANALYST)

    assert "in Wandsworth (2 knife_bin)" in prepared.report.warnings[-1]
    import_id = commit(engine, prepared, commit_assets)
    assert asset_rows(engine, LAMBETH) == lambeth_before
    bins = [row for row in asset_rows(engine, WANDSWORTH) if row[0] == "knife_bin"]
    assert [name for _, name, _ in bins] == [
        "Clapham Junction knife amnesty bin",
        "Roehampton Library knife amnesty bin",
        "St George's Hospital knife amnesty bin",
        "Streatham Common knife amnesty bin",
    ]
    assert import_borough(engine, import_id) == WANDSWORTH


def test_lambeth_stops_named_like_wandsworth_s_take_none_of_wandsworth_s_visits(engine, lambeth):
    wandsworth_stops, wandsworth_visits = (
        asset_rows(engine, WANDSWORTH),
        visit_rows(engine, WANDSWORTH),
    )
    assert len(wandsworth_visits) == 12
    alton = in_lambeth((-0.2460, 51.4502))
    stops = csv_file(
        "lambeth_stops.csv",
        ASSET_HEADER,
        f"youth_bus_stop,Youth Bus: Alton Estate,Stockwell Road,{alton[1]:.6f},{alton[0]:.6f},"
        "true,,",
    )

    prepared = prepare_assets(engine, [stops], LAMBETH, ANALYST)

    # Wandsworth's Alton Estate has visits, but only Lambeth's one visit (at a stop not named
    # again) counts
    assert prepared.report.warnings[-1] == (
        "1 Youth Bus visit(s) are at stops not in this file and are removed; 0 move to the new "
        "stop of the same name"
    )
    commit(engine, prepared, commit_assets)
    assert asset_rows(engine, WANDSWORTH) == wandsworth_stops
    assert visit_rows(engine, WANDSWORTH) == wandsworth_visits
    assert names(asset_rows(engine, LAMBETH)) == [
        ("knife_bin", lambeth.bin_name),
        ("youth_bus_stop", "Youth Bus: Alton Estate"),
    ]
    assert visit_rows(engine, LAMBETH) == []


def test_wandsworth_stops_count_and_move_wandsworth_s_visits_only(engine, lambeth):
    lambeth_stops, lambeth_visits = asset_rows(engine, LAMBETH), visit_rows(engine, LAMBETH)

    prepared = prepare_assets(engine, [fixture("assets.geojson")], WANDSWORTH, ANALYST)

    # the numbers of a Wandsworth-only store: Lambeth's visit is not among them
    assert prepared.report.warnings[-1] == (
        "8 Youth Bus visit(s) are at stops not in this file and are removed; 4 move to the new "
        "stop of the same name"
    )
    commit(engine, prepared, commit_assets)
    assert (asset_rows(engine, LAMBETH), visit_rows(engine, LAMBETH)) == (
        lambeth_stops,
        lambeth_visits,
    )
    assert len(visit_rows(engine, WANDSWORTH)) == 4


# --- the Youth Bus schedule ---------------------------------------------------------------------


def test_a_lambeth_schedule_replaces_lambeth_s_visits_only(engine, lambeth):
    wandsworth_visits = visit_rows(engine, WANDSWORTH)
    schedule = csv_file(
        "lambeth_bus.csv",
        BUS_HEADER,
        f'"{LAMBETH_STOP.lower()}",Monday,,16:00,18:00,football',
        f'"{LAMBETH_STOP}",,2025-08-14,10:00,13:00,summer special',
    )

    prepared = prepare_youth_bus(engine, [schedule], LAMBETH, ANALYST)

    assert prepared.report.warnings == [
        "this file replaces Lambeth's whole Youth Bus schedule: 1 stored visit(s) are removed "
        f"and 2 loaded; {UNDO_NOTE}"
    ]
    import_id = commit(engine, prepared, commit_youth_bus)
    assert visit_rows(engine, WANDSWORTH) == wandsworth_visits
    stop_id = asset_rows(engine, LAMBETH)[1][2]
    assert visit_rows(engine, LAMBETH) == [
        (stop_id, LAMBETH_STOP, 0, None, time(16, 0)),
        (stop_id, LAMBETH_STOP, None, date(2025, 8, 14), time(10, 0)),
    ]
    assert import_borough(engine, import_id) == LAMBETH


def test_a_lambeth_schedule_cannot_name_a_wandsworth_stop(engine, lambeth):
    schedule = csv_file("bus.csv", BUS_HEADER, "Youth Bus: Alton Estate,Tuesday,,15:30,17:30,")

    prepared = prepare_youth_bus(engine, [schedule], LAMBETH, ANALYST)

    [error] = prepared.report.rejected
    assert (error.line, error.column, error.reason) == (
        2,
        "stop_name",
        "not a Youth Bus stop of Lambeth in the store; import the stops (assets) first or "
        "check the spelling",
    )


def test_a_wandsworth_schedule_leaves_lambeth_s_visit(engine, lambeth):
    lambeth_visits = visit_rows(engine, LAMBETH)

    prepared = prepare_youth_bus(engine, [fixture("youth_bus.csv")], WANDSWORTH, ANALYST)

    assert prepared.report.warnings == [
        "this file replaces Wandsworth's whole Youth Bus schedule: 12 stored visit(s) are "
        f"removed and 5 loaded; {UNDO_NOTE}"
    ]
    commit(engine, prepared, commit_youth_bus)
    assert visit_rows(engine, LAMBETH) == lambeth_visits
    assert len(visit_rows(engine, WANDSWORTH)) == 5


# --- CSO assignments ----------------------------------------------------------------------------


def test_a_lambeth_cso_file_matches_lambeth_s_csos_only_and_new_ones_are_lambeth_s(engine, lambeth):
    first, second = lambeth.ward_codes[:2]
    wandsworth_now = current_cso_assignments(engine, TODAY, ANALYST, boroughs=(WANDSWORTH,))
    csos_before = cso_rows(engine)
    assignments = csv_file(
        "lambeth_csos.csv",
        CSO_HEADER,
        # Wandsworth has a Priya Okafor: in Lambeth's file she is someone else
        f"Priya Okafor,{first},2025-04-01,priya.okafor@lambeth.example.org",
        f"{LAMBETH_CSO},{second},2025-04-01,",
    )

    prepared = prepare_cso_assignments(engine, [assignments], LAMBETH, ANALYST)

    assert prepared.report.warnings[0] == "1 new CSO(s) of Lambeth will be added: Priya Okafor"
    import_id = commit(engine, prepared, commit_cso_assignments)
    new_id = csos_before[-1][0] + 1
    assert cso_rows(engine) == [
        *csos_before,  # Wandsworth's Priya keeps her contact: she was not matched
        (new_id, "Priya Okafor", "priya.okafor@lambeth.example.org", LAMBETH),
    ]
    assert current_cso_assignments(engine, TODAY, ANALYST, boroughs=(WANDSWORTH,)).equals(
        wandsworth_now
    )
    lambeth_now = current_cso_assignments(engine, TODAY, ANALYST, boroughs=(LAMBETH,))
    assert lambeth_now.values.tolist() == [
        [first, new_id, "Priya Okafor"],
        [second, lambeth.cso_id, LAMBETH_CSO],
    ]
    with session_scope(engine) as session:
        ended = session.scalar(
            select(CsoAssignment.valid_to).where(
                CsoAssignment.ward_code == first, CsoAssignment.cso_id == lambeth.cso_id
            )
        )
    assert ended == date(2025, 4, 1) - timedelta(days=1)
    assert import_borough(engine, import_id) == LAMBETH


def test_a_lambeth_cso_file_cannot_assign_a_wandsworth_ward(engine, lambeth):
    roehampton = "E05014017"
    assignments = csv_file("csos.csv", CSO_HEADER, f"{LAMBETH_CSO},{roehampton},2025-04-01,")

    prepared = prepare_cso_assignments(engine, [assignments], LAMBETH, ANALYST)

    [error] = prepared.report.rejected
    assert (error.column, error.value, error.reason) == (
        "ward_code",
        roehampton,
        f"not a ward of borough {LAMBETH} in the current ward set; check the code",
    )


def test_a_wandsworth_cso_file_adds_wandsworth_s_cso_and_leaves_lambeth_s(engine, lambeth):
    lambeth_now = current_cso_assignments(engine, TODAY, ANALYST, boroughs=(LAMBETH,))

    prepared = prepare_cso_assignments(
        engine, [fixture("cso_assignments.csv")], WANDSWORTH, ANALYST
    )

    assert prepared.report.warnings[0] == (
        "1 new CSO(s) of Wandsworth will be added: Amara Lindqvist"
    )
    commit(engine, prepared, commit_cso_assignments)
    assert cso_rows(engine)[-1][1:] == (
        "Amara Lindqvist",
        "amara.lindqvist@example.org",
        WANDSWORTH,
    )
    assert current_cso_assignments(engine, TODAY, ANALYST, boroughs=(LAMBETH,)).equals(lambeth_now)


def test_the_data_page_cannot_give_a_wandsworth_ward_to_lambeth_s_cso(engine, lambeth):
    with pytest.raises(
        InvalidInput,
        match="Officer SECRET Lambeth is a CSO of Lambeth; ward E05014017 is in Wandsworth",
    ):
        assign_ward(engine, ANALYST, "a", "E05014017", lambeth.cso_id, date(2025, 6, 1))

    assign_ward(engine, ANALYST, "a", lambeth.ward_codes[1], lambeth.cso_id, date(2025, 6, 1))

    with session_scope(engine) as session:
        entry = session.scalars(select(DataImport).order_by(DataImport.id.desc())).first()
    assert (entry.file_name, entry.borough_code) == ("edited on the Data page", LAMBETH)


# --- incidents ----------------------------------------------------------------------------------


def extract_row(ref: str, place: tuple[float, float]) -> str:
    values = {
        "incident_ref": ref,
        "occurred_at": "2024-03-02 21:15",
        "offence": "Robbery of personal property",
        "latitude": f"{place[1]:.6f}",
        "longitude": f"{place[0]:.6f}",
    }
    return ",".join(values.get(column, "") for column in EXTRACT_COLUMNS)


@pytest.mark.parametrize(
    ("borough", "place", "ward_prefix"),
    [
        (WANDSWORTH, CLAPHAM_JUNCTION, "E05014"),
        (LAMBETH, in_lambeth(CLAPHAM_JUNCTION), "E05990"),
    ],
)
def test_an_extract_writes_the_borough_it_was_checked_for(
    engine, lambeth, borough, place, ward_prefix
):
    extract = csv_file("extract.csv", ",".join(EXTRACT_COLUMNS), extract_row("R1", place))

    prepared = prepare_extract(engine, [extract], borough, ANALYST, today=date(2024, 12, 31))

    assert prepared.payload.attrs["borough_code"] == borough
    assert prepared.report.rows_accepted == 1
    import_id = commit(engine, prepared, commit_extract)
    with session_scope(engine) as session:
        [incident] = session.scalars(select(Incident).where(Incident.import_id == import_id))
        assert (incident.borough_code, incident.ward_code[:6]) == (borough, ward_prefix)
    assert import_borough(engine, import_id) == borough


def police_uk_csv(path: Path, place: tuple[float, float]) -> Path:
    """Two rows of the police.uk fixture month, moved to ``place``."""
    lines = (FIXTURES / "police_uk" / "2024-01-metropolitan-street.csv").read_text().splitlines()
    rows = []
    for line in lines[1:3]:
        cells = line.split(",")
        cells[4], cells[5] = f"{place[0]:.6f}", f"{place[1]:.6f}"
        rows.append(",".join(cells))
    path.write_text("\n".join([lines[0], *rows, ""]))
    return path


def incident_boroughs(engine) -> dict[str, int]:
    with session_scope(engine) as session:
        rows = session.execute(select(Incident.borough_code, Incident.ward_code)).all()
    counts: dict[str, int] = {}
    for borough, ward in rows:
        key = f"{borough} {(ward or '')[:6]}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_import_police_uk_with_borough_loads_lambeth_s_incidents(
    engine, lambeth, london_db_url, monkeypatch, tmp_path, capsys
):
    monkeypatch.setenv("DATABASE_URL", london_db_url)
    monkeypatch.delenv("BOROUGH_CODE", raising=False)
    month = police_uk_csv(tmp_path / "2024-01-metropolitan-street.csv", in_lambeth(BALHAM))
    before = incident_boroughs(engine)

    # the default borough is BOROUGH_CODE's (Wandsworth): the points lie 20 km outside it
    assert main(["import", "police-uk", str(month), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "borough: Wandsworth (E09000032)"
    assert "to load 0," in out

    assert main(["import", "police-uk", str(month), "--borough", "e09000022"]) == 0

    out = capsys.readouterr().out
    assert out.splitlines()[0] == "borough: Lambeth (E09000022)"
    import_id = int(out.splitlines()[-1].split()[1])
    after = incident_boroughs(engine)
    assert after.pop(f"{LAMBETH} E05990") == before.pop(f"{LAMBETH} E05990") + 2
    assert after == before
    assert import_borough(engine, import_id) == LAMBETH


def test_fetch_police_uk_with_borough_asks_for_lambeth_and_loads_it_as_lambeth_s(
    engine, lambeth, london_db_url, monkeypatch, tmp_path, capsys
):
    longitude, latitude = in_lambeth(BALHAM)
    record = {
        "category": "robbery",
        "location_type": "Force",
        "location": {
            "latitude": f"{latitude:.6f}",
            "longitude": f"{longitude:.6f}",
            "street": {"id": 1, "name": "On or near Kennington Lane"},
        },
        "context": "",
        "outcome_status": None,
        "persistent_id": "f" * 64,
        "id": 1,
        "location_subtype": "",
        "month": "2024-01",
    }
    asked = []

    def answer(month, polygon):
        asked.append(polygon.centroid.x)
        return 200, [record]

    server = Api(answer)
    try:
        monkeypatch.setenv("DATABASE_URL", london_db_url)
        monkeypatch.setenv("POLICE_UK_API_URL", server.base_url)
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        monkeypatch.setattr("dashboard.cli.DATA_DIR", tmp_path)
        args = ["fetch", "police-uk", "--from", "2024-01", "--to", "2024-01"]

        assert main([*args, "--borough", LAMBETH]) == 0
    finally:
        server.close()

    out = capsys.readouterr().out
    assert out.splitlines()[0] == "borough: Lambeth (E09000022)"
    # the polygon sent is Lambeth's, east of Wandsworth (whose centre is near -0.19)
    assert len(asked) == 1
    assert asked[0] > 0
    assert (tmp_path / "cache" / "police_uk" / LAMBETH / "2024-01.json").is_file()
    with session_scope(engine) as session:
        incident = session.scalars(select(Incident).where(Incident.source_ref == "f" * 64)).one()
        assert (incident.borough_code, incident.ward_code[:6]) == (LAMBETH, "E05990")
        assert session.get(DataImport, incident.import_id).borough_code == LAMBETH


def test_a_boroughs_ward_boundaries_leave_another_boroughs_incidents_in_their_wards(
    engine, lambeth
):
    from dashboard.importers.boundaries import commit_boundaries, prepare_boundaries

    def lambeth_wards() -> dict[str, int]:
        with session_scope(engine) as session:
            rows = session.execute(
                select(Incident.ward_code).where(Incident.borough_code == LAMBETH)
            ).all()
        counts: dict[str, int] = {}
        for (code,) in rows:
            counts[str(code)] = counts.get(str(code), 0) + 1
        return counts

    before = lambeth_wards()
    wards_file = FIXTURES.parents[1] / "geodata" / "wandsworth_wards_2022.geojson"
    prepared = prepare_boundaries(
        engine, [("wards.geojson", wards_file.read_bytes())], WANDSWORTH, ANALYST
    )

    commit_boundaries(engine, prepared, "analyst@example.org", ANALYST)

    assert lambeth_wards() == before
    assert "None" not in before
    assert sum(before.values()) == lambeth.incidents
