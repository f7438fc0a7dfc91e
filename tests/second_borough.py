"""A second borough in a demo store, for tests of a London-wide store.

Lambeth is the demo's Wandsworth moved 20 km east (so nothing overlaps): the same wards under new
codes, the same incidents, and a CSO, assets, a plan with an action, a patrol log and an import of
its own. Every name of its internal records carries ``SECRET``, so a test can look for that
word on any page a Wandsworth user sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, insert, select

from dashboard import patrol_log, plans, users
from dashboard.access import Role
from dashboard.dates import now_in_london
from dashboard.geo import BNG, WGS84, bng_to_wgs84
from dashboard.store.models import (
    Asset,
    AssetKind,
    Cso,
    CsoAssignment,
    DataImport,
    ImportStatus,
    Incident,
    SaraStage,
    Ward,
    YouthBusVisit,
)
from dashboard.store.session import session_scope

WANDSWORTH = "E09000032"
LAMBETH = "E09000022"
SHIFT_M = 20_000.0  # east, in metres: the copy lies clear of Wandsworth
LAMBETH_ANALYST = "analyst@lambeth.example.org"  # a user of the second borough
SECRET = "SECRET"  # in every name of the second borough's internal records
INCIDENT_SOURCE = "second-borough"


@dataclass(frozen=True)
class SecondBorough:
    """What was added, by id, so tests can ask for it directly."""

    code: str
    ward_codes: tuple[str, ...]
    incidents: int
    cso_id: int
    plan_id: int
    action_id: int
    patrol_id: int
    import_id: int
    bin_name: str
    cso_name: str
    plan_title: str


def _shifted(geometry_wkb: bytes) -> bytes:
    shape = gpd.GeoSeries(shapely.from_wkb([geometry_wkb]), crs=WGS84).to_crs(BNG)
    moved = shape.translate(xoff=SHIFT_M).to_crs(WGS84).iloc[0]
    return shapely.to_wkb(moved)


def _shifted_point(longitude: float, latitude: float) -> tuple[float, float]:
    point = gpd.GeoSeries(gpd.points_from_xy([longitude], [latitude]), crs=WGS84).to_crs(BNG)
    moved = point.translate(xoff=SHIFT_M).to_crs(WGS84).iloc[0]
    return float(moved.x), float(moved.y)


def add_second_borough(engine: Engine, code: str = LAMBETH) -> SecondBorough:
    """Copy the demo borough (Wandsworth) into ``code``, 20 km east, with its own records."""
    with session_scope(engine) as session:
        entry = DataImport(
            kind="police-uk",
            file_name=f"{SECRET}-lambeth-street.csv",
            file_sha256="0" * 64,
            imported_by="second-borough@example.org",
            imported_at=now_in_london(),
            rows_accepted=0,
            rows_rejected=0,
            status=ImportStatus.COMMITTED,
            borough_code=code,
        )
        session.add(entry)
        session.flush()
        import_id = entry.id
        ward_codes: dict[str, str] = {}
        for ward in session.scalars(select(Ward).where(Ward.borough_code == WANDSWORTH)):
            new_code = ward_codes.setdefault(ward.code, f"E0599{len(ward_codes) + 1:04d}")
            session.add(
                Ward(
                    code=new_code,
                    name=f"{ward.name} East",
                    borough_code=code,
                    vintage=ward.vintage,
                    population=ward.population,
                    geometry_wkb=_shifted(ward.geometry_wkb),
                    import_id=import_id,
                )
            )
        cso = Cso(
            display_name=f"Officer {SECRET} Lambeth",
            contact="x@lambeth.example",
            active=True,
            borough_code=code,
        )
        session.add(cso)
        session.flush()
        first_ward = sorted(set(ward_codes.values()))[0]
        session.add(CsoAssignment(cso_id=cso.id, ward_code=first_ward, valid_from=date(2024, 1, 1)))
        for kind, name in (
            (AssetKind.KNIFE_BIN, f"{SECRET} knife bin, Brixton Road"),
            (AssetKind.YOUTH_BUS_STOP, f"{SECRET} Youth Bus stop, Stockwell"),
        ):
            longitude, latitude = _shifted_point(-0.1900, 51.4570)
            session.add(
                Asset(
                    kind=kind,
                    name=name,
                    address=f"{SECRET} address",
                    longitude=longitude,
                    latitude=latitude,
                    public=True,
                    guidance="Hand knives in here",
                    notes=f"{SECRET} internal note",
                    borough_code=code,
                    import_id=import_id,
                )
            )
        session.flush()
        stop_id = session.scalar(select(Asset.id).where(Asset.name.like(f"{SECRET} Youth Bus%")))
        session.add(
            YouthBusVisit(
                stop_id=stop_id,
                weekday=2,
                starts_at=time(16, 0),
                ends_at=time(19, 0),
                activity=f"{SECRET} boxing",
            )
        )
        cso_id = cso.id
    incidents = _copy_incidents(engine, code, ward_codes, import_id)
    users.add_user(
        engine,
        "test",
        email=LAMBETH_ANALYST,
        display_name="Lambeth analyst",
        role=Role.ANALYST,
        borough_code=code,
    )
    actor = users.principal_for_email(engine, LAMBETH_ANALYST)
    assert actor is not None
    wards = _wards(engine, code)
    area = wards.geometry.iloc[0].buffer(-0.001)
    plan_title = f"{SECRET} Lambeth estate plan"
    plan_id = plans.create_plan(
        engine,
        actor,
        plans.PlanDraft(
            title=plan_title,
            problem=f"{SECRET} robberies at the estate",
            sara_stage=SaraStage.ANALYSIS,
            started_on=date(2026, 9, 1),
            area_wgs84=area,
            lead_cso_id=cso_id,
            partners=("Metropolitan Police",),
        ),
        wards,
        code,
    )
    action_id = plans.add_action(
        engine,
        actor,
        plan_id,
        plans.ActionDraft(
            description=f"{SECRET} patrols on the estate",
            vru_theme=3,
            owner_agency="Metropolitan Police",
            due_on=date(2026, 12, 20),
        ),
    )
    patrol_id = patrol_log.log_patrol(
        engine,
        actor,
        cso_id=cso_id,
        patrol_date=date(2026, 11, 20),
        shift_label=f"{SECRET} Friday 18:00-22:00",
        starts_at=time(18, 0),
        ends_at=time(22, 0),
        ward_codes=[first_ward],
        planned_dwell_min=10,
        visits=[patrol_log.VisitRecord("545000_175000", 1, visited=True, dwell_min=10)],
        notes=f"{SECRET} patrol note",
    )
    return SecondBorough(
        code=code,
        ward_codes=tuple(sorted(ward_codes.values())),
        incidents=incidents,
        cso_id=cso_id,
        plan_id=plan_id,
        action_id=action_id,
        patrol_id=patrol_id,
        import_id=import_id,
        bin_name=f"{SECRET} knife bin, Brixton Road",
        cso_name=f"Officer {SECRET} Lambeth",
        plan_title=plan_title,
    )


def _wards(engine: Engine, code: str) -> gpd.GeoDataFrame:
    from dashboard.store import queries

    return queries.current_wards(engine, code, Role.ANALYST)


def _copy_incidents(engine: Engine, code: str, ward_codes: dict[str, str], import_id: int) -> int:
    """Every Wandsworth incident again in the copy, moved east with it."""
    columns = [column.name for column in Incident.__table__.columns if column.name != "id"]
    with engine.connect() as connection:
        frame = pd.read_sql(
            select(*[Incident.__table__.c[name] for name in columns]).where(
                Incident.borough_code == WANDSWORTH
            ),
            connection,
        )
    frame["x_bng"] = frame["x_bng"] + SHIFT_M
    longitude, latitude = bng_to_wgs84(frame["x_bng"].to_numpy(), frame["y_bng"].to_numpy())
    frame["longitude"], frame["latitude"] = np.asarray(longitude), np.asarray(latitude)
    frame["ward_code"] = frame["ward_code"].map(ward_codes)
    frame["borough_code"] = code
    frame["source"] = INCIDENT_SOURCE
    frame["import_id"] = import_id
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    with session_scope(engine) as session:
        session.execute(insert(Incident), records)
    return len(records)
