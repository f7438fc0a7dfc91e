from datetime import date

import pytest
import shapely
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from dashboard.errors import DatabaseNotReady
from dashboard.store.models import Action, ActionStatus, Plan
from dashboard.store.session import (
    current_revision,
    data_version,
    head_revision,
    make_engine,
    migrate,
    require_current_schema,
    session_scope,
    table_names,
)
from tests.stores import sqlite_only

DATA_MODEL_TABLES = [
    "action",
    "action_update",
    "app_user",
    "asset",
    "cso",
    "cso_assignment",
    "data_import",
    "dataset_info",
    "incident",
    "incident_ward",
    "patrol_log",
    "patrol_visit",
    "plan",
    "plan_update",
    "plan_ward",
    "user_change",
    "ward",
    "youth_bus_visit",
]


def test_migrations_create_the_whole_data_model_once(new_db_url):
    engine = make_engine(new_db_url)

    assert current_revision(engine) is None
    with pytest.raises(DatabaseNotReady, match="python -m dashboard init-db"):
        require_current_schema(engine)
    assert migrate(engine) is True
    assert migrate(engine) is False  # already at head

    assert current_revision(engine) == head_revision()
    assert table_names(engine) == DATA_MODEL_TABLES
    incident_indexes = {index["name"] for index in inspect(engine).get_indexes("incident")}
    assert {
        "ix_incident_occurred_on_category",
        "ix_incident_ward_code_occurred_on",
    } <= incident_indexes


@sqlite_only
def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(empty_db_url):
    engine = make_engine(empty_db_url)
    with engine.connect() as connection:
        pragmas = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout")
        }

    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30_000}


def test_an_action_must_belong_to_a_plan_and_a_vru_theme_between_1_and_8(demo_db_url):
    engine = make_engine(demo_db_url)
    plan_id = 1

    with pytest.raises(IntegrityError, match=r"(?i)foreign key"), session_scope(engine) as session:
        session.add(
            Action(
                plan_id=999,
                description="x",
                vru_theme=1,
                owner_agency="Police",
                due_on=date(2026, 1, 1),
                status=ActionStatus.ON_TRACK,
            )
        )
    with (
        pytest.raises(IntegrityError, match="ck_action_vru_theme"),
        session_scope(engine) as session,
    ):
        session.add(
            Action(
                plan_id=plan_id,
                description="x",
                vru_theme=9,
                owner_agency="Police",
                due_on=date(2026, 1, 1),
                status=ActionStatus.ON_TRACK,
            )
        )


def test_a_stale_edit_of_an_action_is_refused_by_its_version(demo_db_url):
    from sqlalchemy.orm.exc import StaleDataError

    engine = make_engine(demo_db_url)
    with session_scope(engine) as first, session_scope(engine) as second:
        mine = first.get(Action, 1)
        theirs = second.get(Action, 1)
        theirs.owner_name = "Their edit"
        second.commit()
        mine.owner_name = "My edit"
        with pytest.raises(StaleDataError):
            first.flush()
        first.rollback()

    with session_scope(engine) as session:
        assert session.get(Action, 1).owner_name == "Their edit"
        assert session.get(Action, 1).version == 2


def test_data_version_changes_when_an_import_is_added(demo_db_url):
    engine = make_engine(demo_db_url)
    before = data_version(engine)
    with session_scope(engine) as session:
        plan = session.scalars(select(Plan)).first()
        assert plan is not None  # plans do not change the data version; imports do
    assert data_version(engine) == before
    assert before.endswith(":1:1")


def test_upgrading_a_store_with_incidents_keeps_them_and_fills_the_new_columns(new_db_url):
    from alembic import command
    from sqlalchemy import text

    from dashboard.store.session import alembic_config

    engine = make_engine(new_db_url)
    command.upgrade(alembic_config(engine), "0002")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO incident (source, source_ref, occurred_on, offence, category, "
                "knife, gun, domestic_abuse, longitude, latitude, x_bng, y_bng, "
                "location_precision) VALUES ('police_uk', 'abc', '2024-01-01', 'Robbery', "
                "'robbery', false, false, false, -0.17, 51.46, 527000, 175000, 'snapped')"
            )
        )

    assert migrate(engine) is True

    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT source_ref, date_precision, outcome FROM incident")
        ).one()
    assert tuple(row) == ("abc", "day", None)


def test_upgrading_moves_each_plans_ward_list_into_plan_ward_rows(new_db_url):
    from alembic import command
    from sqlalchemy import text

    from dashboard.store.session import alembic_config

    engine = make_engine(new_db_url)
    command.upgrade(alembic_config(engine), "0003")
    with engine.begin() as connection:
        for vintage in ("2018", "2022"):
            connection.execute(
                text(
                    "INSERT INTO ward (code, name, borough_code, vintage, geometry_wkb) "
                    "VALUES ('E05014016', 'Northcote', 'E09000032', :vintage, :shape)"
                ),
                {
                    "vintage": vintage,
                    "shape": shapely.to_wkb(shapely.box(-0.17, 51.45, -0.16, 51.46)),
                },
            )
        connection.execute(
            text(
                "INSERT INTO plan (title, area_wkb, ward_codes, sara_stage, problem, partners, "
                "started_on, status, version) VALUES ('Northcote Road', :shape, "
                "'E05014016,E05099999', 'scanning', 'Robbery', '', '2026-01-05', 'open', 1)"
            ),
            {"shape": shapely.to_wkb(shapely.box(-0.17, 51.45, -0.16, 51.46))},
        )

    command.upgrade(alembic_config(engine), "head")

    with engine.connect() as connection:
        links = connection.execute(text("SELECT plan_id, ward_code, ward_vintage FROM plan_ward"))
        assert links.all() == [(1, "E05014016", "2022")]  # the newest vintage; unknown codes go
        assert "ward_codes" not in {c["name"] for c in inspect(engine).get_columns("plan")}
    command.downgrade(alembic_config(engine), "0003")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT ward_codes FROM plan")).scalar() == "E05014016"


def _store_at_0006_with_two_boroughs(new_db_url: str, boroughs: tuple[str, ...]):
    from alembic import command
    from sqlalchemy import text

    from dashboard.store.session import alembic_config

    engine = make_engine(new_db_url)
    command.upgrade(alembic_config(engine), "0006")
    shape = shapely.to_wkb(shapely.box(-0.17, 51.45, -0.16, 51.46))
    with engine.begin() as connection:
        for number, borough in enumerate(boroughs, start=1):
            connection.execute(
                text(
                    "INSERT INTO ward (code, name, borough_code, vintage, geometry_wkb) "
                    "VALUES (:code, :name, :borough, '2022', :shape)"
                ),
                {
                    "code": f"E0500000{number}",
                    "name": f"Ward {number}",
                    "borough": borough,
                    "shape": shape,
                },
            )
            connection.execute(
                text(
                    "INSERT INTO incident (source, source_ref, occurred_on, offence, category, "
                    "knife, gun, domestic_abuse, longitude, latitude, x_bng, y_bng, ward_code, "
                    "location_precision) VALUES ('police_uk', :ref, '2024-01-01', 'Robbery', "
                    "'robbery', false, false, false, -0.17, 51.46, 527000, 175000, :ward, "
                    "'snapped')"
                ),
                {"ref": f"in-{number}", "ward": f"E0500000{number}"},
            )
        connection.execute(
            text(
                "INSERT INTO plan (title, area_wkb, sara_stage, problem, partners, started_on, "
                "status, version) VALUES ('A plan', :shape, 'scanning', 'Robbery', '', "
                "'2026-01-05', 'open', 1)"
            ),
            {"shape": shape},
        )
        connection.execute(
            text(
                "INSERT INTO plan_ward (plan_id, ward_code, ward_vintage) "
                f"VALUES (1, 'E0500000{len(boroughs)}', '2022')"
            )
        )
        connection.execute(text("INSERT INTO cso (display_name, active) VALUES ('Sam', true)"))
        connection.execute(
            text(
                "INSERT INTO cso_assignment (cso_id, ward_code, valid_from) "
                "VALUES (1, 'E05000001', '2025-01-01')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO asset (kind, name, address, longitude, latitude, public) "
                "VALUES ('knife_bin', 'Bin', 'Road', -0.17, 51.46, true)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO app_user (email, display_name, role, active, created_at, version) "
                "VALUES ('a@example.org', 'A', 'analyst', true, '2026-01-01 09:00:00', 1)"
            )
        )
    return engine


def test_upgrading_gives_each_record_the_borough_it_is_linked_to(new_db_url):
    from sqlalchemy import text

    engine = _store_at_0006_with_two_boroughs(new_db_url, ("E09000032", "E09000022"))

    assert migrate(engine) is True

    with engine.connect() as connection:
        incidents = connection.execute(
            text("SELECT source_ref, borough_code FROM incident ORDER BY source_ref")
        ).all()
        plan = connection.execute(text("SELECT borough_code FROM plan")).scalar()
        cso = connection.execute(text("SELECT borough_code FROM cso")).scalar()
        asset = connection.execute(text("SELECT borough_code FROM asset")).scalar()
        user = connection.execute(text("SELECT borough_code, london_wide FROM app_user")).one()
    assert [tuple(row) for row in incidents] == [("in-1", "E09000032"), ("in-2", "E09000022")]
    assert (plan, cso) == ("E09000022", "E09000032")
    assert asset is None  # linked to no ward: left for the borough's next asset import
    assert tuple(user) == (None, False)  # the home borough, and no London-wide access


def test_upgrading_a_one_borough_store_gives_everything_that_borough(new_db_url):
    from alembic import command
    from sqlalchemy import text

    from dashboard.store.session import alembic_config

    engine = _store_at_0006_with_two_boroughs(new_db_url, ("E09000032",))

    assert migrate(engine) is True

    with engine.connect() as connection:
        for table in ("incident", "plan", "cso", "asset"):
            codes = connection.execute(text(f"SELECT DISTINCT borough_code FROM {table}")).all()
            assert [code for (code,) in codes] == ["E09000032"], table
    command.downgrade(alembic_config(engine), "0006")
    assert "borough_code" not in {c["name"] for c in inspect(engine).get_columns("incident")}
