"""Reads from the store, returned as (Geo)DataFrames ready for analysis and maps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Engine, Integer, Select, and_, func, or_, select

from dashboard.access import Permission, Role, require
from dashboard.geo import WGS84
from dashboard.store.models import (
    Asset,
    AssetKind,
    Cso,
    CsoAssignment,
    DataImport,
    DatasetInfo,
    Incident,
    Ward,
    YouthBusVisit,
)
from dashboard.store.scope import Boroughs, borough_restriction, in_boroughs, restricted_to
from dashboard.store.session import session_scope
from dashboard.store.spatial import Place, finish_on_sqlite, incident_place_condition

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class IncidentFilter:
    """Which incidents a view shows. Empty tuples mean "no restriction"."""

    start: date
    end: date  # inclusive
    categories: tuple[str, ...] = ()
    ward_codes: tuple[str, ...] = ()
    knife_only: bool = False
    domestic_abuse_only: bool = False
    under_25_only: bool = False
    place: Place | None = None  # only incidents in an area or near a point (PostGIS when there)
    boroughs: tuple[str, ...] | None = None  # whose incidents (see dashboard.store.scope)


def current_wards(
    engine: Engine, borough_codes: str | Sequence[str], role: Role | None
) -> gpd.GeoDataFrame:
    """The wards of one borough (or of several) in each one's newest vintage, in EPSG:4326.

    Columns: ``code``, ``name``, ``population`` (may be missing), ``geometry``; sorted by name.
    """
    require(role, Permission.VIEW_MAP)
    codes = [borough_codes] if isinstance(borough_codes, str) else list(borough_codes)
    newest = (
        select(Ward.borough_code, func.max(Ward.vintage).label("vintage"))
        .where(Ward.borough_code.in_(codes))
        .group_by(Ward.borough_code)
        .subquery()
    )
    return _read_wards(
        engine,
        select(Ward.code, Ward.name, Ward.population, Ward.geometry_wkb).join(
            newest,
            and_(Ward.borough_code == newest.c.borough_code, Ward.vintage == newest.c.vintage),
        ),
    )


def wards_of_vintage(
    engine: Engine, borough_code: str, vintage: str | None, role: Role | None
) -> gpd.GeoDataFrame:
    """The borough's wards of one boundary vintage, in EPSG:4326, for reports by older ward sets.

    Columns ``code``, ``name``, ``population`` (may be missing), ``geometry``; sorted by name.
    Empty when the vintage is not stored.
    """
    require(role, Permission.VIEW_MAP)
    return _read_wards(
        engine,
        select(Ward.code, Ward.name, Ward.population, Ward.geometry_wkb).where(
            Ward.borough_code == borough_code, Ward.vintage == vintage
        ),
    )


def _read_wards(engine: Engine, query: Select) -> gpd.GeoDataFrame:
    # by name, then code: two boroughs may each have a ward of the same name
    with session_scope(engine) as session:
        rows = session.execute(query.order_by(Ward.name, Ward.code)).all()
    return gpd.GeoDataFrame(
        {
            "code": [row.code for row in rows],
            "name": [row.name for row in rows],
            "population": pd.array([row.population for row in rows], dtype="Int64"),
        },
        geometry=shapely.from_wkb([row.geometry_wkb for row in rows]),
        crs=WGS84,
    )


def current_cso_assignments(
    engine: Engine, on: date, role: Role | None, *, boroughs: Boroughs = None
) -> pd.DataFrame:
    """Which CSO covers which ward on day ``on``: ``ward_code``, ``cso_id``, ``cso_name``."""
    require(role, Permission.VIEW_CSOS)
    with session_scope(engine) as session:
        rows = session.execute(
            select(CsoAssignment.ward_code, Cso.id, Cso.display_name)
            .join(Cso, Cso.id == CsoAssignment.cso_id)
            .where(
                CsoAssignment.valid_from <= on,
                or_(CsoAssignment.valid_to.is_(None), CsoAssignment.valid_to >= on),
                in_boroughs(session, Cso.borough_code, boroughs),
            )
            .order_by(CsoAssignment.ward_code)
        ).all()
    return pd.DataFrame(
        {
            "ward_code": [row.ward_code for row in rows],
            "cso_id": [row.id for row in rows],
            "cso_name": [row.display_name for row in rows],
        }
    )


def csos(engine: Engine, role: Role | None, *, boroughs: Boroughs = None) -> pd.DataFrame:
    """All CSOs: ``cso_id``, ``cso_name``, ``contact``, ``active``; sorted by id."""
    require(role, Permission.VIEW_CSOS)
    with session_scope(engine) as session:
        rows = session.execute(
            select(Cso.id, Cso.display_name, Cso.contact, Cso.active)
            .where(in_boroughs(session, Cso.borough_code, boroughs))
            .order_by(Cso.id)
        ).all()
    return pd.DataFrame(rows, columns=["cso_id", "cso_name", "contact", "active"])


def assets(
    engine: Engine, kind: AssetKind, role: Role | None, *, boroughs: Boroughs = None
) -> gpd.GeoDataFrame:
    """Assets of one kind in EPSG:4326 with every stored field; sorted by name."""
    require(role, Permission.VIEW_MAP)
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                Asset.id,
                Asset.name,
                Asset.address,
                Asset.longitude,
                Asset.latitude,
                Asset.public,
                Asset.guidance,
                Asset.notes,
            )
            .where(Asset.kind == kind, in_boroughs(session, Asset.borough_code, boroughs))
            .order_by(Asset.name)
        ).all()
    frame = pd.DataFrame(
        rows,
        columns=[
            "asset_id",
            "name",
            "address",
            "longitude",
            "latitude",
            "public",
            "guidance",
            "notes",
        ],
    )
    return gpd.GeoDataFrame(
        frame,
        geometry=gpd.points_from_xy(frame["longitude"], frame["latitude"]),
        crs=WGS84,
    )


def youth_bus_schedule(
    engine: Engine, role: Role | None, *, boroughs: Boroughs = None
) -> pd.DataFrame:
    """The Youth Bus timetable, ordered by stop and time.

    Columns: ``stop_id``, ``weekday``, ``on_date``, ``starts_at``, ``ends_at``, ``activity``,
    ``when`` (readable, e.g. "Tuesday 16:00-19:30").
    """
    require(role, Permission.VIEW_MAP)
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                YouthBusVisit.stop_id,
                YouthBusVisit.weekday,
                YouthBusVisit.on_date,
                YouthBusVisit.starts_at,
                YouthBusVisit.ends_at,
                YouthBusVisit.activity,
            )
            .join(Asset, Asset.id == YouthBusVisit.stop_id)
            .where(in_boroughs(session, Asset.borough_code, boroughs))
            .order_by(
                YouthBusVisit.stop_id,
                YouthBusVisit.weekday,
                YouthBusVisit.on_date,
                YouthBusVisit.starts_at,
            )
        ).all()
    frame = pd.DataFrame(
        rows, columns=["stop_id", "weekday", "on_date", "starts_at", "ends_at", "activity"]
    )
    frame["when"] = [
        describe_slot(row.weekday, row.on_date, row.starts_at, row.ends_at) for row in rows
    ]
    return frame


def describe_slot(weekday: int | None, on_date: date | None, starts_at: time, ends_at: time) -> str:
    """Readable Youth Bus slot: "Tuesday 16:00-19:30" weekly, or "Sat 04 Jul 2026 12:00-15:00"."""
    day = WEEKDAY_NAMES[weekday] if weekday is not None else f"{on_date:%a %d %b %Y}"
    return f"{day} {starts_at:%H:%M}-{ends_at:%H:%M}"


def incident_span(
    engine: Engine, role: Role | None, *, boroughs: Boroughs = None
) -> tuple[date, date] | None:
    """First and last day with an incident, or None when there are none."""
    require(role, Permission.VIEW_INCIDENTS)
    with session_scope(engine) as session:
        first, last = session.execute(
            select(func.min(Incident.occurred_on), func.max(Incident.occurred_on)).where(
                in_boroughs(session, Incident.borough_code, boroughs)
            )
        ).one()
    return None if first is None else (first, last)


def incident_categories(
    engine: Engine, role: Role | None, *, boroughs: Boroughs = None
) -> list[str]:
    """Category keys present among the incidents, sorted."""
    require(role, Permission.VIEW_INCIDENTS)
    with session_scope(engine) as session:
        return sorted(
            session.scalars(
                select(Incident.category)
                .where(in_boroughs(session, Incident.borough_code, boroughs))
                .distinct()
            )
        )


def incidents(engine: Engine, selection: IncidentFilter, role: Role | None) -> pd.DataFrame:
    """Incidents that match ``selection`` as plain columns (geometries are costly at scale).

    Columns: ``x_bng``, ``y_bng`` (EPSG:27700 metres), ``ward_code`` and ``category``
    (categoricals), ``occurred_on`` (datetime64, midnight), ``occurred_at`` (datetime64, NaT where
    the source has no time of day), ``knife``, ``gun`` and ``domestic_abuse``
    (bool), ``under_25`` (nullable boolean: missing where the source records no age),
    ``date_precision`` (categorical: "day", or "month" where the source gives the month only).
    """
    require(role, Permission.VIEW_INCIDENTS)
    conditions = [
        Incident.occurred_on >= selection.start,
        Incident.occurred_on <= selection.end,
        in_boroughs(engine, Incident.borough_code, selection.boroughs),
    ]
    if selection.categories:
        conditions.append(Incident.category.in_(selection.categories))
    if selection.ward_codes:
        conditions.append(Incident.ward_code.in_(selection.ward_codes))
    if selection.knife_only:
        conditions.append(Incident.knife.is_(True))
    if selection.domestic_abuse_only:
        conditions.append(Incident.domestic_abuse.is_(True))
    if selection.under_25_only:
        conditions.append(Incident.under_25.is_(True))
    if selection.place is not None:
        conditions.append(
            incident_place_condition(engine, selection.place, Incident.x_bng, Incident.y_bng)
        )
    query = select(
        Incident.x_bng,
        Incident.y_bng,
        Incident.ward_code,
        Incident.category,
        Incident.occurred_on,
        Incident.occurred_at,
        Incident.knife,
        Incident.gun,
        Incident.domestic_abuse,
        Incident.under_25,
        Incident.date_precision,
    ).where(and_(*conditions))
    # SQLAlchemy's per-row type conversion costs seconds at a million rows; read the driver's
    # raw values and convert whole columns instead (bound values are rendered by the dialect)
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as connection:
        cursor = connection.connection.cursor()  # the DB-API cursor: plain tuples, no Row objects
        try:
            cursor.execute(sql)
            rows = cursor.fetchall()
        finally:
            cursor.close()
    frame = pd.DataFrame.from_records(
        rows, columns=[column.name for column in query.selected_columns]
    )
    if selection.place is not None:
        frame = finish_on_sqlite(engine, selection.place, frame)
    return pd.DataFrame(
        {
            "x_bng": frame["x_bng"].astype(float),
            "y_bng": frame["y_bng"].astype(float),
            "ward_code": frame["ward_code"].astype("category"),
            "category": frame["category"].astype("category"),
            "occurred_on": pd.to_datetime(frame["occurred_on"]).astype("datetime64[s]"),
            "occurred_at": pd.to_datetime(frame["occurred_at"]).astype("datetime64[s]"),
            "knife": frame["knife"].astype(bool),
            "gun": frame["gun"].astype(bool),
            "domestic_abuse": frame["domestic_abuse"].astype(bool),
            "under_25": frame["under_25"].astype("boolean"),
            "date_precision": frame["date_precision"].astype("category"),
        }
    )


def dataset_info(engine: Engine) -> dict[str, str]:
    """Facts about the loaded data set (for example ``synthetic``: "true" for the demo)."""
    with session_scope(engine) as session:
        return {row.key: row.value for row in session.scalars(select(DatasetInfo))}


def table_counts(
    engine: Engine, table_names: list[str], role: Role | None, *, boroughs: Boroughs = None
) -> dict[str, int]:
    """Row count of each named table, of ``boroughs``' rows where the table has a borough.

    When ``boroughs`` leaves out some of the store's boroughs, tables without a borough column
    (audit trails, imports) are left out too: their counts would include the others' rows.
    """
    require(role, Permission.VIEW_DATA_SOURCES)
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        restriction = borough_restriction(connection, boroughs)
        for name in table_names:
            table = Ward.metadata.tables[name]
            query = select(func.count()).select_from(table)
            if "borough_code" in table.columns:
                query = query.where(restricted_to(table.c.borough_code, restriction))
            elif restriction is not None:
                continue
            counts[name] = connection.execute(query).scalar_one()
    return counts


SOURCE_COLUMNS = ["source", "incidents", "first_on", "last_on", "month_only", "last_imported_at"]


def incident_sources(
    engine: Engine, role: Role | None, *, boroughs: Boroughs = None
) -> pd.DataFrame:
    """Per incident source: incidents, first and last dates, month-only count, last import.

    Columns ``SOURCE_COLUMNS``; ``last_imported_at`` is missing for incidents of no import.
    """
    require(role, Permission.VIEW_DATA_SOURCES)
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                Incident.source,
                func.count(Incident.id),
                func.min(Incident.occurred_on),
                func.max(Incident.occurred_on),
                func.sum((Incident.date_precision == "month").cast(Integer)),
                func.max(DataImport.imported_at),
            )
            .outerjoin(DataImport, DataImport.id == Incident.import_id)
            .where(in_boroughs(session, Incident.borough_code, boroughs))
            .group_by(Incident.source)
            .order_by(Incident.source)
        ).all()
    return pd.DataFrame(rows, columns=SOURCE_COLUMNS)
