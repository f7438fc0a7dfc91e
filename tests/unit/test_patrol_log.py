"""Patrols logged as done: the checks, who may log, the dosage figures and the migration."""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from dashboard import patrol_log
from dashboard.access import PERMISSIONS, Permission, Principal, Role
from dashboard.errors import InvalidInput, NotAllowed
from dashboard.patrol_log import VisitRecord
from dashboard.store.models import Cso, PatrolLog, PatrolVisit
from dashboard.store.session import make_engine, session_scope
from dashboard.users import principal_for_email

FRIDAY = date(2026, 11, 27)
NOW = datetime.combine(date(2026, 11, 28), time(9))  # the morning after a Friday evening shift
A, B, C, D = "526250_175000", "526500_175000", "526750_175250", "527000_175500"


@pytest.fixture
def engine(demo_db_url):
    store = make_engine(demo_db_url)
    yield store
    store.dispose()


def person(engine, email: str) -> Principal:
    found = principal_for_email(engine, email)
    assert found is not None
    return found


@pytest.fixture
def cso(engine) -> Principal:
    found = person(engine, "demo-cso@example.org")
    assert found.cso_id is not None
    return found


@pytest.fixture
def analyst(engine) -> Principal:
    return person(engine, "demo-analyst@example.org")


@pytest.fixture
def other_cso_id(engine, cso) -> int:
    with session_scope(engine) as session:
        found = session.scalar(select(Cso.id).where(Cso.id != cso.cso_id).order_by(Cso.id))
    assert found is not None
    return found


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute))


def patrol(cso_id: int, **overrides) -> dict:
    """A Friday 18:00-22:00 patrol of three planned stops, two visited, and one unplanned stop."""
    fields = {
        "cso_id": cso_id,
        "patrol_date": FRIDAY,
        "shift_label": "Friday 18:00-22:00",
        "starts_at": time(18),
        "ends_at": time(22),
        "ward_codes": ["E05014016", "E05014011"],
        "planned_dwell_min": 12,
        "visits": [
            VisitRecord(A, 1, visited=True, arrived_at=at(FRIDAY, 18, 10), dwell_min=15),
            VisitRecord(B, 2, visited=True, arrived_at=at(FRIDAY, 18, 40)),
            VisitRecord(C, 3, visited=False),
            VisitRecord(D, None, visited=True, arrived_at=at(FRIDAY, 19, 30), dwell_min=10),
        ],
        "notes": "Quiet until 21:00.",
        "now": NOW,
    }
    fields.update(overrides)
    return fields


def stored_rows(engine) -> tuple[int, int]:
    with session_scope(engine) as session:
        logs = session.scalar(select(func.count(PatrolLog.id)))
        visits = session.scalar(select(func.count(PatrolVisit.id)))
    return logs, visits


# --- who may log ---------------------------------------------------------------------------------


def test_csos_analysts_and_admins_may_log_patrols_and_partners_may_not():
    assert [role for role in Role if Permission.LOG_PATROLS in PERMISSIONS[role]] == [
        Role.CSO,
        Role.ANALYST,
        Role.ADMIN,
    ]


def test_a_cso_logs_only_their_own_patrols(engine, cso, analyst, other_cso_id):
    with pytest.raises(NotAllowed, match="only their own patrols"):
        patrol_log.log_patrol(engine, cso, **patrol(other_cso_id))
    assert stored_rows(engine) == (0, 0)

    # an analyst may log one for any CSO
    patrol_id = patrol_log.log_patrol(engine, analyst, **patrol(other_cso_id))
    assert patrol_log.patrol_logs(engine, Role.ANALYST)["patrol_id"].tolist() == [patrol_id]


def test_a_cso_account_without_a_cso_record_cannot_log(engine, cso):
    unlinked = Principal(user_id=cso.user_id, email=cso.email, display_name="x", role=Role.CSO)

    with pytest.raises(NotAllowed, match="not linked to a CSO record"):
        patrol_log.log_patrol(engine, unlinked, **patrol(cso.cso_id))


def test_a_partner_cannot_log_a_patrol(engine, cso):
    partner = person(engine, "demo-partner@example.org")

    with pytest.raises(NotAllowed, match="does not allow log patrols"):
        patrol_log.log_patrol(engine, partner, **patrol(cso.cso_id))
    assert stored_rows(engine) == (0, 0)


@pytest.mark.parametrize(
    "read",
    [
        lambda engine, role: patrol_log.patrol_logs(engine, role),
        lambda engine, role: patrol_log.patrol_visits(engine, role, 1),
        lambda engine, role: patrol_log.dosage_by_cell(engine, role),
    ],
)
def test_the_reads_refuse_someone_without_a_role(engine, read):
    with pytest.raises(NotAllowed):
        read(engine, None)
    assert read(engine, Role.PARTNER).empty  # any signed-in role may read; nothing logged yet


# --- a log round-trips ---------------------------------------------------------------------------


def test_a_log_round_trips_with_its_visits(engine, cso):
    fields = patrol(
        cso.cso_id,
        shift_label="  Friday 18:00-22:00 ",
        ward_codes=[" E05014016", "", "E05014011", "E05014016"],
        notes="  <b>Quiet</b> until 21:00.\n",
        plan_link="?cso=1&shift=fri-18",
        # given out of order: they are stored planned first, in planned order
        visits=list(reversed(patrol(cso.cso_id)["visits"])),
    )

    patrol_id = patrol_log.log_patrol(engine, cso, **fields)

    with session_scope(engine) as session:
        stored = session.get(PatrolLog, patrol_id)
        assert stored is not None
        assert (stored.cso_id, stored.logged_by_user_id, stored.logged_by) == (
            cso.cso_id,
            cso.user_id,
            cso.display_name,
        )
        assert stored.logged_at == NOW
        assert stored.patrol_date == FRIDAY
        assert (stored.shift_label, stored.starts_at, stored.ends_at) == (
            "Friday 18:00-22:00",
            time(18),
            time(22),
        )
        assert stored.ward_codes == "E05014016,E05014011"
        assert (stored.planned_stops, stored.planned_dwell_min) == (3, 12.0)
        assert stored.plan_link == "?cso=1&shift=fri-18"
        assert stored.notes == "<b>Quiet</b> until 21:00."  # stripped, not escaped

    visits = patrol_log.patrol_visits(engine, Role.CSO, patrol_id)
    expected = pd.DataFrame(
        {
            "cell_id": [A, B, C, D],
            "planned_order": pd.array([1, 2, 3, None], dtype="Int64"),
            "visited": [True, True, False, True],
            "arrived_at": pd.to_datetime(
                [at(FRIDAY, 18, 10), at(FRIDAY, 18, 40), None, at(FRIDAY, 19, 30)]
            ).astype("datetime64[ns]"),
            "dwell_min": [15.0, math.nan, math.nan, 10.0],
        }
    )
    assert_frame_equal(visits, expected)
    assert patrol_log.patrol_visits(engine, Role.CSO, patrol_id + 1).empty


def test_a_shift_past_midnight_takes_arrivals_on_the_next_day(engine, cso):
    saturday = date(2026, 11, 28)
    fields = patrol(
        cso.cso_id,
        shift_label="Friday 22:00-02:00",
        starts_at=time(22),
        ends_at=time(2),
        visits=[
            VisitRecord(A, 1, visited=True, arrived_at=at(FRIDAY, 21, 0), dwell_min=12),
            VisitRecord(B, 2, visited=True, arrived_at=at(saturday, 1, 0), dwell_min=12),
            VisitRecord(C, 3, visited=True, arrived_at=at(saturday, 3, 0), dwell_min=12),
        ],
    )

    patrol_id = patrol_log.log_patrol(engine, cso, **fields)

    visits = patrol_log.patrol_visits(engine, Role.CSO, patrol_id)
    assert visits["arrived_at"].tolist() == [
        pd.Timestamp(at(FRIDAY, 21)),  # an hour before the start
        pd.Timestamp(at(saturday, 1)),
        pd.Timestamp(at(saturday, 3)),  # an hour after the end
    ]
    late = VisitRecord(A, 1, visited=True, arrived_at=at(saturday, 3, 1))
    with pytest.raises(InvalidInput, match="28 Nov 2026 03:01 is outside the shift; give a time"):
        patrol_log.log_patrol(engine, cso, **{**fields, "visits": [late]})


# --- figures -------------------------------------------------------------------------------------


@pytest.fixture
def three_patrols(engine, cso, analyst, other_cso_id) -> dict[str, int]:
    """Two patrols of the demo CSO (20 and 27 November) and one of another CSO (26 November)."""
    earlier = date(2026, 11, 20)
    first = patrol_log.log_patrol(
        engine,
        cso,
        **patrol(
            cso.cso_id,
            patrol_date=earlier,
            visits=[
                VisitRecord(A, 1, visited=True, arrived_at=at(earlier, 18, 10), dwell_min=15),
                VisitRecord(B, 2, visited=True, arrived_at=at(earlier, 18, 40)),  # no minutes
                VisitRecord(C, 3, visited=False),
                VisitRecord(D, None, visited=True, dwell_min=10),
            ],
        ),
    )
    latest = patrol_log.log_patrol(
        engine,
        cso,
        **patrol(
            cso.cso_id,
            planned_dwell_min=10,
            visits=[
                VisitRecord(A, 1, visited=True, arrived_at=at(FRIDAY, 18, 5), dwell_min=20),
                VisitRecord(B, 2, visited=True, dwell_min=12),
            ],
            notes=None,
        ),
    )
    others = patrol_log.log_patrol(
        engine,
        analyst,
        **patrol(
            other_cso_id,
            patrol_date=date(2026, 11, 26),
            shift_label="Thursday 18:00-22:00",
            visits=[VisitRecord(A, None, visited=True, dwell_min=5)],  # nothing was planned
            notes=None,
        ),
    )
    return {"first": first, "latest": latest, "others": others}


def test_patrol_logs_compare_planned_and_delivered_dosage(
    engine, cso, analyst, other_cso_id, three_patrols
):
    logs = patrol_log.patrol_logs(engine, Role.PARTNER)

    assert list(logs.columns) == patrol_log.PATROL_LOG_COLUMNS
    figures = [
        "patrol_id",
        "cso_id",
        "patrol_date",
        "planned_stops",
        "visited_planned",
        "unplanned_visits",
        "planned_minutes",
        "delivered_minutes",
        "visits_without_dwell",
        "delivery_share",
    ]
    expected = pd.DataFrame(
        [
            (three_patrols["latest"], cso.cso_id, FRIDAY, 2, 2, 0, 20.0, 32.0, 0, 1.0),
            (three_patrols["others"], other_cso_id, date(2026, 11, 26), 0, 0, 1, 0.0, 5.0, 0, None),
            (three_patrols["first"], cso.cso_id, date(2026, 11, 20), 3, 2, 1, 36.0, 25.0, 1, 2 / 3),
        ],
        columns=figures,
    ).astype({"delivery_share": "float64"})
    assert_frame_equal(logs[figures], expected)  # newest first
    assert logs["logged_by"].tolist() == [cso.display_name, analyst.display_name, cso.display_name]
    assert logs["notes"].tolist() == ["", "", "Quiet until 21:00."]
    assert logs["cso_name"].notna().all()

    mine = patrol_log.patrol_logs(engine, Role.CSO, cso_id=cso.cso_id)
    assert mine["patrol_id"].tolist() == [three_patrols["latest"], three_patrols["first"]]
    recent = patrol_log.patrol_logs(engine, Role.CSO, since=date(2026, 11, 26))
    assert recent["patrol_id"].tolist() == [three_patrols["latest"], three_patrols["others"]]


def test_dosage_by_cell_adds_up_every_patrol_busiest_first(engine, other_cso_id, three_patrols):
    dosage = patrol_log.dosage_by_cell(engine, Role.ANALYST)

    expected = pd.DataFrame(
        [
            (A, 2, 22.0, 3, 40.0, 0),  # planned twice (12 + 10 min); visited three times
            (B, 2, 22.0, 2, 12.0, 1),  # one visit with no minutes recorded
            (D, 0, 0.0, 1, 10.0, 0),  # visited without being planned
            (C, 1, 12.0, 0, 0.0, 0),  # planned, never visited
        ],
        columns=patrol_log.DOSAGE_COLUMNS,
    )
    assert_frame_equal(dosage, expected)

    theirs = patrol_log.dosage_by_cell(engine, Role.ANALYST, cso_id=other_cso_id)
    assert theirs.to_dict("records") == [
        {
            "cell_id": A,
            "planned_visits": 0,
            "planned_minutes": 0.0,
            "delivered_visits": 1,
            "delivered_minutes": 5.0,
            "visits_without_dwell": 0,
        }
    ]
    recent = patrol_log.dosage_by_cell(engine, Role.ANALYST, since=FRIDAY)
    assert recent[["cell_id", "planned_minutes", "delivered_minutes"]].values.tolist() == [
        [A, 10.0, 20.0],
        [B, 10.0, 12.0],
    ]


# --- checks --------------------------------------------------------------------------------------


def _visits(*records: VisitRecord) -> dict:
    return {"visits": list(records)}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cso_id": 99_999}, "There is no CSO 99999; pick the CSO from the list"),
        ({"visits": []}, "has no stops; record at least one stop"),
        (_visits(VisitRecord(A, 1, True), VisitRecord(A, None, True)), f"Stop {A} is listed twice"),
        (
            _visits(VisitRecord(A, 1, True), VisitRecord(B, 1, True)),
            f"Stops {A} and {B} both have planned order 1",
        ),
        (_visits(VisitRecord(A, 0, True)), "planned order 0; use 1, 2, ..."),
        (_visits(VisitRecord(A, None, False)), "neither planned nor visited; leave it out"),
        (
            _visits(VisitRecord(A, 1, True, arrived_at=at(FRIDAY, 16, 59))),
            "arrival 27 Nov 2026 16:59 is outside the shift; "
            "give a time between 27 Nov 2026 17:00 and 27 Nov 2026 23:00",
        ),
        (
            _visits(VisitRecord(A, 1, True, arrived_at=at(FRIDAY, 23, 1))),
            "arrival 27 Nov 2026 23:01 is outside the shift",
        ),
        (
            _visits(VisitRecord(A, 1, True, arrived_at=at(date(2026, 11, 26), 19))),
            "arrival 26 Nov 2026 19:00 is outside the shift",  # the right time, the wrong day
        ),
        (
            _visits(VisitRecord(A, 1, False, arrived_at=at(FRIDAY, 19))),
            "has an arrival time but is not marked visited",
        ),
        (_visits(VisitRecord(A, 1, True, dwell_min=-5)), "give a number of minutes, 0 or more"),
        (_visits(VisitRecord(A, 1, True, dwell_min=math.nan)), "0 or more"),
        (_visits(VisitRecord(A, 1, False, dwell_min=10)), "10 minutes spent but is not marked"),
        (
            {"patrol_date": date(2026, 11, 29)},
            "The patrol date 29 Nov 2026 is in the future",
        ),
        (
            {"now": at(FRIDAY, 18, 30)},  # logged during the shift itself
            "arrival 27 Nov 2026 18:40 is in the future",
        ),
        ({"notes": "x" * 2001}, "The note is 2,001 characters; shorten it to at most 2,000"),
        ({"shift_label": "  "}, "The shift name is required"),
        ({"starts_at": time(18), "ends_at": time(18)}, "starts and ends at 18:00"),
        ({"planned_dwell_min": -1}, "planned time at each stop is -1"),
        (_visits(VisitRecord("", 1, True)), "The stop's cell id is required"),
    ],
)
def test_each_wrong_field_is_refused_and_nothing_is_written(
    engine, analyst, cso, overrides, message
):
    with pytest.raises(InvalidInput, match=re.escape(message)):
        patrol_log.log_patrol(engine, analyst, **{**patrol(cso.cso_id), **overrides})

    assert stored_rows(engine) == (0, 0)


def test_notes_of_exactly_2000_characters_are_kept(engine, cso):
    patrol_id = patrol_log.log_patrol(engine, cso, **patrol(cso.cso_id, notes="x" * 2000))

    assert patrol_log.patrol_logs(engine, Role.CSO)["notes"].str.len().tolist() == [2000]
    assert patrol_id > 0


# --- the store -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("visit", "constraint"),
    [
        ("'A', 1, false, '2026-11-27 19:00:00.000000', NULL", "ck_patrol_visit_arrival"),
        ("'A', 1, true, NULL, -1", "ck_patrol_visit_dwell"),
        ("'526250_175000', 2, true, NULL, NULL", r"(?i)unique"),  # SQLite and PostgreSQL say it so
    ],
)
def test_the_store_itself_refuses_inconsistent_visits(engine, cso, visit, constraint):
    patrol_id = patrol_log.log_patrol(engine, cso, **patrol(cso.cso_id))

    with pytest.raises(IntegrityError, match=constraint), engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO patrol_visit (cell_id, planned_order, visited, arrived_at, "
                f"dwell_min, patrol_id) VALUES ({visit}, :patrol_id)"
            ),
            {"patrol_id": patrol_id},
        )


def test_migration_0005_adds_and_removes_the_patrol_tables(new_db_url):
    from alembic import command

    from dashboard.store.session import alembic_config

    engine = make_engine(new_db_url)
    config = alembic_config(engine)
    command.upgrade(config, "0004")
    assert not {"patrol_log", "patrol_visit"} & set(inspect(engine).get_table_names())

    command.upgrade(config, "0005")
    assert {"patrol_log", "patrol_visit"} <= set(inspect(engine).get_table_names())
    indexes = inspect(engine).get_indexes("patrol_visit")
    # PostgreSQL also lists the index behind the unique constraint; it is not one of ours
    assert {index["name"] for index in indexes if "duplicates_constraint" not in index} == {
        "ix_patrol_visit_patrol_id"
    }
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO cso (display_name, active) VALUES ('Sam', true)"))
        connection.execute(
            text(
                "INSERT INTO patrol_log (cso_id, logged_by, logged_at, patrol_date, shift_label, "
                "starts_at, ends_at, ward_codes, planned_stops, planned_dwell_min) VALUES (1, "
                "'Sam', '2026-11-28 09:00:00.000000', '2026-11-27', 'Friday', "
                "'18:00:00.000000', '22:00:00.000000', '', 1, 12)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO patrol_visit (patrol_id, cell_id, planned_order, visited) "
                "VALUES (1, 'A', 1, true)"
            )
        )

    command.downgrade(config, "0004")
    assert not {"patrol_log", "patrol_visit"} & set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert connection.execute(text("SELECT display_name FROM cso")).scalar() == "Sam"

    command.upgrade(config, "head")
    assert {"patrol_log", "patrol_visit"} <= set(inspect(engine).get_table_names())
    engine.dispose()
