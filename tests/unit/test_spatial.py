"""Spatial filters: in PostGIS on its GiST index, on SQLite a box in SQL then an exact test."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from alembic import command
from shapely.geometry import Point, Polygon
from sqlalchemy import inspect, select, text

from dashboard import plan_evidence
from dashboard.access import Role
from dashboard.store import queries
from dashboard.store.session import alembic_config, make_engine
from dashboard.store.spatial import INCIDENT_POINT, Place, incident_place_condition
from tests.stores import on_postgresql

ROLE = Role.ANALYST
# an uneven pentagon over Clapham Junction, where the demo's busiest cluster is (EPSG:27700)
JUNCTION = Polygon(
    [(526700, 175200), (527400, 175250), (527500, 175800), (527000, 176000), (526650, 175700)]
)


@pytest.fixture(scope="module")
def store(demo_template_url):
    engine = make_engine(demo_template_url)
    span = queries.incident_span(engine, ROLE)
    everything = queries.incidents(engine, queries.IncidentFilter(span[0], span[1]), ROLE)
    yield engine, span, everything
    engine.dispose()


def as_points(frame) -> list[tuple[float, float, str]]:
    return sorted(
        zip(frame["x_bng"], frame["y_bng"], frame["occurred_on"].astype(str), strict=True)
    )


def test_incidents_in_an_area_are_those_the_exact_test_finds(store):
    engine, span, everything = store

    inside = queries.incidents(
        engine, queries.IncidentFilter(span[0], span[1], place=Place.inside(JUNCTION)), ROLE
    )

    expected = plan_evidence.incidents_in_area(everything, JUNCTION)
    assert len(inside) > 200  # the cluster is in it
    assert len(inside) < len(everything) / 10
    assert as_points(inside) == as_points(expected)


def test_incidents_near_a_point_are_those_within_the_distance(store):
    engine, span, everything = store
    x, y = 527000.0, 175500.0

    near = queries.incidents(
        engine, queries.IncidentFilter(span[0], span[1], place=Place.around(x, y, 300)), ROLE
    )

    distance = np.hypot(everything["x_bng"] - x, everything["y_bng"] - y)
    assert len(near) == int((distance <= 300).sum()) > 50
    assert (np.hypot(near["x_bng"] - x, near["y_bng"] - y) <= 300).all()


def test_an_area_and_a_point_together_keep_only_what_is_in_both(store):
    engine, span, everything = store
    place = Place(area_wkb=shapely.to_wkb(JUNCTION), near=(527400.0, 175800.0, 250.0))

    both = queries.incidents(engine, queries.IncidentFilter(span[0], span[1], place=place), ROLE)

    in_area = plan_evidence.incidents_in_area(everything, JUNCTION)
    near = np.hypot(in_area["x_bng"] - 527400, in_area["y_bng"] - 175800) <= 250
    assert as_points(both) == as_points(in_area[near])
    assert 0 < len(both) < len(in_area)


def test_a_place_far_from_the_borough_finds_nothing(store):
    engine, span, _everything = store
    far = Place.inside(Point(400000, 300000).buffer(1000))  # the Midlands

    assert queries.incidents(
        engine, queries.IncidentFilter(span[0], span[1], place=far), ROLE
    ).empty


def test_a_negative_distance_is_refused():
    with pytest.raises(ValueError, match="cannot be negative"):
        Place.around(527000, 175000, -1)


@pytest.mark.skipif(not on_postgresql(), reason="PostGIS only: this run's stores are SQLite")
def test_postgis_filters_on_the_gist_index_of_a_generated_point(store):
    engine, _span, _everything = store
    condition = incident_place_condition(engine, Place.inside(JUNCTION), None, None)
    query = select(text("count(*)")).select_from(text("incident")).where(condition)
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))

    with engine.connect() as connection:
        connection.execute(text("SET enable_seqscan = off"))  # the demo is small enough to scan
        plan = "\n".join(row[0] for row in connection.execute(text(f"EXPLAIN {sql}")))
        mismatched = connection.execute(
            select(text("count(*)"))
            .select_from(text("incident"))
            .where(text("NOT ST_Equals(geom, ST_SetSRID(ST_MakePoint(x_bng, y_bng), 27700))"))
        ).scalar()
        srid = connection.execute(select(text("Find_SRID('public', 'incident', 'geom')"))).scalar()

    assert "ix_incident_geom" in plan
    assert mismatched == 0
    assert srid == 27700
    assert str(INCIDENT_POINT) == "incident.geom"


@pytest.mark.skipif(not on_postgresql(), reason="PostGIS only: this run's stores are SQLite")
def test_the_database_fills_each_geometry_from_the_portable_columns(demo_db_url):
    engine = make_engine(demo_db_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE asset SET longitude = -0.2, latitude = 51.45"))
        points = connection.execute(text("SELECT DISTINCT ST_AsText(geom) FROM asset")).all()
        wards_valid = connection.execute(
            text("SELECT bool_and(ST_IsValid(geom)) AND count(*) = 22 FROM ward")
        ).scalar()
        plans = connection.execute(text("SELECT count(*) FROM plan WHERE area IS NULL")).scalar()
    engine.dispose()

    assert points == [("POINT(-0.2 51.45)",)]
    assert wards_valid is True
    assert plans == 0


def test_migration_0006_adds_geometries_only_on_postgresql_and_goes_back(new_db_url):
    engine = make_engine(new_db_url)
    config = alembic_config(engine)
    command.upgrade(config, "0006")

    def columns(table: str) -> set[str]:
        return {column["name"] for column in inspect(engine).get_columns(table)}

    with_geometry = {"geom"} <= columns("incident") and {"area"} <= columns("plan")
    assert with_geometry is on_postgresql()
    command.downgrade(config, "0005")
    assert "geom" not in columns("incident")
    command.upgrade(config, "head")
    assert ("geom" in columns("incident")) is on_postgresql()
    engine.dispose()
