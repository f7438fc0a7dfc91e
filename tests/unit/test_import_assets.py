from datetime import date, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dashboard.access import Role
from dashboard.errors import ImportRefused, InvalidInput, NotAllowed
from dashboard.importers.assets import (
    ALREADY_ASSIGNED,
    assign_ward,
    commit_assets,
    commit_cso_assignments,
    commit_youth_bus,
    prepare_assets,
    prepare_cso_assignments,
    prepare_youth_bus,
)
from dashboard.importers.log import undo_import
from dashboard.store.models import (
    Asset,
    AssetKind,
    Cso,
    CsoAssignment,
    DataImport,
    YouthBusVisit,
)
from dashboard.store.queries import current_cso_assignments
from dashboard.store.session import make_engine, session_scope
from tests.conftest import WANDSWORTH

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "assets"
ANALYST = Role.ANALYST
ASSET_HEADER = "kind,name,address,latitude,longitude,public,guidance,notes"
BUS_HEADER = "stop_name,weekday,on_date,starts_at,ends_at,activity"
CSO_HEADER = "cso_name,ward_code,valid_from,contact"
ROEHAMPTON = "E05014017"  # cso1 (Priya Okafor) in the demo, from 2023-04-01
TODAY = date(2025, 6, 1)


@pytest.fixture
def engine(demo_db_url):
    engine = make_engine(demo_db_url)
    yield engine
    engine.dispose()


def fixture(name):
    return (name, (FIXTURES / name).read_bytes())


def csv_file(name, header, *rows):
    return (name, "\n".join([header, *rows, ""]).encode())


def store(engine):
    """Everything these imports can change, for "the store is unchanged" checks."""
    with session_scope(engine) as session:
        return {
            "assets": sorted(
                tuple(row) for row in session.execute(select(Asset.kind, Asset.name, Asset.public))
            ),
            "visits": sorted(
                session.execute(
                    select(YouthBusVisit.stop_id, YouthBusVisit.weekday, YouthBusVisit.starts_at)
                ).all(),
                key=str,
            ),
            "assignments": sorted(
                session.execute(
                    select(
                        CsoAssignment.cso_id,
                        CsoAssignment.ward_code,
                        CsoAssignment.valid_from,
                        CsoAssignment.valid_to,
                    )
                ).all(),
                key=str,
            ),
            "csos": session.scalar(select(func.count(Cso.id))),
            "imports": session.scalar(select(func.count(DataImport.id))),
        }


def only_error(prepared):
    [error] = prepared.report.rejected
    return error.line, error.column, error.value, error.reason


def refuse_and_check_unchanged(engine, prepared, commit, before):
    with pytest.raises(ImportRefused, match="loaded whole or not at all"):
        commit(engine, prepared, "analyst@example.org", ANALYST)
    assert store(engine) == before


def test_the_demo_store_has_what_these_tests_assume(engine):
    before = store(engine)
    assert len(before["assets"]) == 10
    assert len(before["visits"]) == 12
    assert before["csos"] == 7


# --- knife bins and other assets ----------------------------------------------------------------


def test_a_knife_bin_csv_replaces_the_stored_bins_and_can_be_undone(engine):
    before = store(engine)
    prepared = prepare_assets(engine, [fixture("assets.csv")], WANDSWORTH, ANALYST)
    report = prepared.report
    assert store(engine) == before  # preparing never writes
    assert (report.rows_read, report.rows_accepted, report.rejected) == (4, 4, [])
    assert report.warnings == [
        "1 asset(s) lie outside the borough and are loaded anyway (a bin may stand just over "
        "the boundary): Streatham Common knife amnesty bin",
        "this file replaces every stored asset of its kinds in Wandsworth (2 knife_bin): they "
        "are removed when it is loaded; undoing this import removes the assets it adds but "
        "cannot bring back the ones it replaced (import the previous file again instead)",
    ]

    import_id = commit_assets(engine, prepared, "analyst@example.org", ANALYST)

    after = store(engine)
    bins = [(name, public) for kind, name, public in after["assets"] if kind == "knife_bin"]
    assert bins == [
        ("Clapham Junction knife amnesty bin", True),
        ("Roehampton Library knife amnesty bin", True),
        ("St George's Hospital knife amnesty bin", True),
        ("Streatham Common knife amnesty bin", False),
    ]
    assert len(after["assets"]) == 12  # 8 Youth Bus stops untouched
    assert after["visits"] == before["visits"]
    with session_scope(engine) as session:
        clapham = session.scalars(
            select(Asset).where(Asset.name == "Clapham Junction knife amnesty bin")
        ).one()
        assert (clapham.address, clapham.notes, clapham.import_id) == (
            "St John's Hill, London SW11",
            "New unit",
            import_id,
        )
        assert clapham.latitude == pytest.approx(51.4630)

    assert undo_import(engine, ANALYST, "analyst@example.org", import_id) == {"asset": 4}
    assert len(store(engine)["assets"]) == 8  # the replaced bins do not come back


def test_youth_bus_stops_as_geojson_replace_the_stops_and_keep_visits_of_stops_named_again(
    engine,
):
    prepared = prepare_assets(engine, [fixture("assets.geojson")], WANDSWORTH, ANALYST)
    assert prepared.report.rejected == []
    assert prepared.report.rows_accepted == 3
    assert prepared.report.warnings[-1] == (
        "8 Youth Bus visit(s) are at stops not in this file and are removed; 4 move to the new "
        "stop of the same name"
    )
    commit_assets(engine, prepared, "analyst@example.org", ANALYST)
    with session_scope(engine) as session:
        stops = session.execute(
            select(Asset.name, func.count(YouthBusVisit.id))
            .outerjoin(YouthBusVisit, YouthBusVisit.stop_id == Asset.id)
            .where(Asset.kind == AssetKind.YOUTH_BUS_STOP)
            .group_by(Asset.name)
            .order_by(Asset.name)
        ).all()
        bins = session.scalar(select(func.count(Asset.id)).where(Asset.kind == AssetKind.KNIFE_BIN))
    assert [tuple(stop) for stop in stops] == [
        ("Youth Bus: Alton Estate", 2),
        ("Youth Bus: Tooting, Totterdown Fields", 2),
        ("Youth Bus: Wandsworth Town", 0),
    ]
    assert bins == 2  # another kind, not in the file: untouched


@pytest.mark.parametrize(
    ("bad_row", "expected"),
    [
        (
            "knife_bin,Tooting bin,Mitcham Road,51.4275,-0.1680,perhaps,,",
            (2, "public", "perhaps", "public must be true or false"),
        ),
        (
            "skip,Tooting skip,Mitcham Road,51.4275,-0.1680,true,,",
            (2, "kind", "skip", "unknown kind: use one of knife_bin, youth_bus_stop"),
        ),
        (
            "knife_bin,,Mitcham Road,51.4275,-0.1680,true,,",
            (2, "name", "", "name is required"),
        ),
        (
            "knife_bin,Tooting bin,Mitcham Road,-0.1680,51.4275,true,,",
            (2, "latitude", "-0.1680", "nowhere near London (latitude and longitude swapped?)"),
        ),
        (
            "knife_bin,Tooting bin,Mitcham Road,51.4275,west,true,,",
            (2, "longitude", "west", "not a number"),
        ),
    ],
)
def test_a_bad_asset_row_is_rejected_and_the_file_is_not_loaded(engine, bad_row, expected):
    before = store(engine)
    good = "knife_bin,Balham bin,Balham High Road,51.4430,-0.1525,true,,"
    prepared = prepare_assets(
        engine, [csv_file("bins.csv", ASSET_HEADER, bad_row, good)], WANDSWORTH, ANALYST
    )
    if expected[1] == "latitude":  # swapped: the longitude is refused too
        first = prepared.report.rejected[0]
        assert (first.line, first.column, first.value, first.reason) == expected
    else:
        assert only_error(prepared) == expected
    refuse_and_check_unchanged(engine, prepared, commit_assets, before)


def test_an_asset_file_of_the_wrong_kind_is_refused(engine):
    with pytest.raises(ImportRefused, match="lacks the column"):
        prepare_assets(engine, [csv_file("x.csv", "name,colour", "a,b")], WANDSWORTH, ANALYST)


# --- the Youth Bus schedule ---------------------------------------------------------------------


def test_a_youth_bus_schedule_replaces_the_whole_schedule(engine):
    before = store(engine)
    prepared = prepare_youth_bus(engine, [fixture("youth_bus.csv")], WANDSWORTH, ANALYST)
    assert prepared.report.rejected == []
    assert prepared.report.warnings == [
        "this file replaces Wandsworth's whole Youth Bus schedule: 12 stored visit(s) are "
        "removed and 5 loaded; undoing this import cannot bring back what it replaced: import "
        "the previous file again instead"
    ]
    assert store(engine) == before
    commit_youth_bus(engine, prepared, "analyst@example.org", ANALYST)
    with session_scope(engine) as session:
        visits = session.execute(
            select(
                Asset.name,
                YouthBusVisit.weekday,
                YouthBusVisit.on_date,
                YouthBusVisit.starts_at,
                YouthBusVisit.ends_at,
                YouthBusVisit.activity,
            )
            .join(Asset, Asset.id == YouthBusVisit.stop_id)
            .order_by(YouthBusVisit.id)
        ).all()
    assert [tuple(visit) for visit in visits] == [
        ("Youth Bus: Alton Estate", 1, None, time(15, 30), time(17, 30), "sport, music"),
        (
            "Youth Bus: Alton Estate",
            4,
            None,
            time(18, 0),
            time(21, 30),
            "sport, bleed-kit training",
        ),
        (
            "Youth Bus: Tooting, Totterdown Fields",
            5,
            None,
            time(12, 0),
            time(14, 30),
            "arts, sport",
        ),
        (
            "Youth Bus: Putney Vale",
            None,
            date(2025, 8, 14),
            time(10, 0),
            time(13, 0),
            "summer holiday special",
        ),
        (
            "Youth Bus: Furzedown",
            None,
            date(2025, 8, 21),
            time(10, 0),
            time(13, 0),
            "summer holiday special",
        ),
    ]


@pytest.mark.parametrize(
    ("bad_row", "expected"),
    [
        (
            "Youth Bus: Alton Estate,Tuesday,,17:30,15:30,sport",
            (2, "ends_at", "15:30", "the visit must end after it starts (17:30)"),
        ),
        (
            "Youth Bus: Battersea Power Station,Tuesday,,15:30,17:30,sport",
            (
                2,
                "stop_name",
                "Youth Bus: Battersea Power Station",
                "not a Youth Bus stop of Wandsworth in the store; import the stops (assets) "
                "first or check the spelling",
            ),
        ),
        (
            "Youth Bus: Alton Estate,Funday,,15:30,17:30,sport",
            (2, "weekday", "Funday", "not a weekday: Monday..Sunday, or 0 (Monday) to 6 (Sunday)"),
        ),
        (
            "Youth Bus: Alton Estate,,,15:30,17:30,sport",
            (2, "weekday", "", "give a weekday (weekly) or an on_date (one-off)"),
        ),
        (
            "Youth Bus: Alton Estate,,2025-02-30,15:30,17:30,sport",
            (2, "on_date", "2025-02-30", "not a real date (YYYY-MM-DD or DD/MM/YYYY)"),
        ),
        (
            "Youth Bus: Alton Estate,2,,15:30,25:00,sport",
            (2, "ends_at", "25:00", "not a time of day (HH:MM, 00:00 to 23:59)"),
        ),
    ],
)
def test_a_bad_schedule_row_is_rejected_and_the_schedule_is_kept(engine, bad_row, expected):
    before = store(engine)
    prepared = prepare_youth_bus(
        engine, [csv_file("bus.csv", BUS_HEADER, bad_row)], WANDSWORTH, ANALYST
    )
    assert only_error(prepared) == expected
    refuse_and_check_unchanged(engine, prepared, commit_youth_bus, before)


# --- CSO assignments ----------------------------------------------------------------------------


def test_cso_assignments_close_the_previous_assignment_the_day_before_and_keep_history(engine):
    before = store(engine)
    prepared = prepare_cso_assignments(
        engine, [fixture("cso_assignments.csv")], WANDSWORTH, ANALYST
    )
    assert prepared.report.rejected == []
    assert prepared.report.rows_accepted == 3
    assert prepared.report.warnings[0] == (
        "1 new CSO(s) of Wandsworth will be added: Amara Lindqvist"
    )
    assert store(engine) == before

    commit_cso_assignments(engine, prepared, "analyst@example.org", ANALYST)

    assert store(engine)["csos"] == 8
    with session_scope(engine) as session:
        history = session.execute(
            select(Cso.display_name, CsoAssignment.valid_from, CsoAssignment.valid_to)
            .join(Cso, Cso.id == CsoAssignment.cso_id)
            .where(CsoAssignment.ward_code == ROEHAMPTON)
            .order_by(CsoAssignment.valid_from)
        ).all()
        contact = session.scalar(select(Cso.contact).where(Cso.display_name == "Amara Lindqvist"))
    new_from = date(2025, 4, 1)
    assert [tuple(row) for row in history] == [
        ("Priya Okafor", date(2023, 4, 1), new_from - timedelta(days=1)),
        ("Amara Lindqvist", new_from, None),
    ]
    assert contact == "amara.lindqvist@example.org"
    now = current_cso_assignments(engine, TODAY, ANALYST).set_index("ward_code")["cso_name"]
    then = current_cso_assignments(engine, date(2025, 3, 31), ANALYST).set_index("ward_code")
    assert now[ROEHAMPTON] == "Amara Lindqvist"
    assert now["E05014030"] == "Amara Lindqvist"
    assert now["E05014029"] == "Daniel Szabo-Mensah"
    assert then.loc[ROEHAMPTON, "cso_name"] == "Priya Okafor"  # history is kept
    assert len(now) == 22  # every ward still has exactly one CSO


def test_naming_a_ward_s_current_cso_again_changes_nothing(engine):
    prepared = prepare_cso_assignments(
        engine,
        [csv_file("same.csv", CSO_HEADER, f"Priya Okafor,{ROEHAMPTON},2025-04-01,")],
        WANDSWORTH,
        ANALYST,
    )
    assert prepared.report.skipped == {ALREADY_ASSIGNED: 1}
    assert prepared.report.rows_accepted == 0


@pytest.mark.parametrize(
    ("bad_row", "expected"),
    [
        (
            "Priya Okafor,E05099999,2025-04-01,",
            (
                2,
                "ward_code",
                "E05099999",
                f"not a ward of borough {WANDSWORTH} in the current ward set; check the code",
            ),
        ),
        (
            f"Priya Okafor,{ROEHAMPTON},2023-03-01,",
            (
                2,
                "valid_from",
                "2023-03-01",
                f"ward {ROEHAMPTON}'s current assignment starts on 2023-04-01; a new one must "
                "start after that",
            ),
        ),
        (
            f"Daniel Szabo-Mensah,{ROEHAMPTON},31/04/2025,",
            (2, "valid_from", "31/04/2025", "not a real date (YYYY-MM-DD or DD/MM/YYYY)"),
        ),
    ],
)
def test_a_bad_cso_row_is_rejected_and_assignments_are_unchanged(engine, bad_row, expected):
    before = store(engine)
    prepared = prepare_cso_assignments(
        engine, [csv_file("cso.csv", CSO_HEADER, bad_row)], WANDSWORTH, ANALYST
    )
    assert only_error(prepared) == expected
    refuse_and_check_unchanged(engine, prepared, commit_cso_assignments, before)


def test_assign_ward_from_the_data_page_keeps_history_and_logs_who(engine):
    with session_scope(engine) as session:
        daniel = session.scalar(select(Cso.id).where(Cso.display_name == "Daniel Szabo-Mensah"))
    assign_ward(engine, ANALYST, "analyst@example.org", ROEHAMPTON, daniel, date(2025, 5, 1))
    with session_scope(engine) as session:
        closed = session.scalar(
            select(CsoAssignment.valid_to).where(
                CsoAssignment.ward_code == ROEHAMPTON, CsoAssignment.valid_from == date(2023, 4, 1)
            )
        )
        entry = session.scalars(select(DataImport).order_by(DataImport.id.desc())).first()
    assert closed == date(2025, 4, 30)
    assert (entry.kind, entry.imported_by, entry.file_name) == (
        "cso-assignments",
        "analyst@example.org",
        "edited on the Data page",
    )
    now = current_cso_assignments(engine, TODAY, ANALYST).set_index("ward_code")["cso_name"]
    assert now[ROEHAMPTON] == "Daniel Szabo-Mensah"

    before = store(engine)
    with pytest.raises(InvalidInput, match="already covers ward"):
        assign_ward(engine, ANALYST, "a", ROEHAMPTON, daniel, date(2025, 6, 1))
    with pytest.raises(InvalidInput, match="must start after that"):
        assign_ward(engine, ANALYST, "a", ROEHAMPTON, daniel + 1, date(2025, 5, 1))
    with pytest.raises(InvalidInput, match="There is no ward E05099999"):
        assign_ward(engine, ANALYST, "a", "E05099999", daniel, date(2025, 6, 1))
    with pytest.raises(NotAllowed):
        assign_ward(engine, Role.CSO, "a", ROEHAMPTON, daniel + 1, date(2025, 6, 1))
    assert store(engine) == before
