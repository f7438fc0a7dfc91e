"""Load the embedded demo borough (real ward shapes and knife bins, synthetic everything else)."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

import pandas as pd
import shapely
from shapely.geometry import shape
from sqlalchemy import Engine, func, insert, select

from dashboard import PROJECT_ROOT
from dashboard.access import Role
from dashboard.errors import DataError
from dashboard.geo import BNG
from dashboard.importers.boundaries import read_ons_wards
from dashboard.importers.log import record_ward_history
from dashboard.incidents import prepare_incidents
from dashboard.store.models import (
    Action,
    ActionStatus,
    ActionUpdate,
    AppUser,
    Asset,
    AssetKind,
    Cso,
    CsoAssignment,
    DataImport,
    DatasetInfo,
    ImportStatus,
    Incident,
    LocationPrecision,
    Plan,
    PlanStatus,
    PlanUpdate,
    PlanWard,
    SaraStage,
    UserChange,
    Ward,
    YouthBusVisit,
)
from dashboard.store.session import session_scope
from dashboard.taxonomy import Taxonomy

log = logging.getLogger(__name__)

GEODATA_DIR = PROJECT_ROOT / "geodata"
DEMO_DIR = GEODATA_DIR / "demo"
DEMO_WARDS_FILE = GEODATA_DIR / "wandsworth_wards_2022.geojson"
DEMO_BOROUGH_CODE = "E09000032"  # the demo's wards and bins are Wandsworth's
# The demo CSO signs in as Samir Ferreira, whose wards hold the Clapham Junction night-time
# cluster: the Patrol plan page then opens on a plan with stops rather than on an empty one.
DEMO_CSO_KEY = "cso6"
DEMO_SOURCE = "police_extract"  # the demo mimics the police's own extract: times and ages recorded
DEMO_POPULATION_SOURCE = "Synthetic demo population (not ONS figures)"
# (e-mail, label) of the demo users, one per role; the first is who demo mode opens as
DEMO_USERS = (
    ("demo-analyst@example.org", "Demo analyst (analyst)"),
    ("demo-cso@example.org", "Demo CSO (cso)"),
    ("demo-partner@example.org", "Demo partner, Metropolitan Police (partner)"),
    ("demo-admin@example.org", "Demo administrator (admin)"),
)
_DEMO_USER_ROLES = {
    "demo-analyst@example.org": (Role.ANALYST, None),
    "demo-cso@example.org": (Role.CSO, None),
    "demo-partner@example.org": (Role.PARTNER, "Metropolitan Police"),
    "demo-admin@example.org": (Role.ADMIN, None),
}


@dataclass(frozen=True)
class SeedReport:
    """What ``seed_demo`` did: ``created`` False when the demo was already loaded."""

    created: bool
    counts: dict[str, int]


def _sha256_of(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _read_incident_rows(path: Path) -> pd.DataFrame:
    rows = pd.read_csv(path, dtype={"source_ref": str, "victim_age_band": str})
    occurred_at = pd.to_datetime(rows["occurred_at"], format="%Y-%m-%dT%H:%M")
    rows["occurred_at"] = occurred_at.dt.to_pydatetime()
    rows["occurred_on"] = occurred_at.dt.date
    rows["victim_age_band"] = (
        rows["victim_age_band"].astype(object).where(rows["victim_age_band"].notna(), None)
    )
    return rows


def _parse_time(text: str) -> time:
    return datetime.strptime(text, "%H:%M").time()  # noqa: DTZ007 (a time of day has no zone)


def _seeded_update(model: type, at: datetime, **keys: int) -> object:
    """The first entry of a demo plan's or action's history: loaded with the demo data."""
    return model(
        changed_by="Demo data",
        changed_at=at,
        changes=json.dumps({"created": [None, {}]}),
        comment="Loaded with the demo data set",
        version=1,
        **keys,
    )


def is_demo_loaded(engine: Engine) -> bool:
    """True when the store holds the demo data set."""
    with session_scope(engine) as session:
        return session.get(DatasetInfo, "synthetic") is not None


def seed_demo(
    engine: Engine,
    borough_code: str,
    taxonomy: Taxonomy,
    demo_dir: Path = DEMO_DIR,
    wards_file: Path = DEMO_WARDS_FILE,
) -> SeedReport:
    """Load the demo data set in one transaction, unless it is already there.

    Idempotent: a second call changes nothing. Raises DataError when the store already holds
    other (real) data, or when the configured borough is not the demo's.
    """
    if borough_code != DEMO_BOROUGH_CODE:
        raise DataError(
            f"The demo data set is for Wandsworth ({DEMO_BOROUGH_CODE}) but BOROUGH_CODE is "
            f"{borough_code}; import your borough's own data instead of seeding the demo"
        )
    if is_demo_loaded(engine):
        return SeedReport(created=False, counts={})
    with session_scope(engine) as session:
        if session.scalar(select(func.count(Ward.id))) or session.scalar(
            select(func.count(Incident.id))
        ):
            raise DataError(
                "The database already holds real data; the demo is only loaded into an empty "
                "database. Point DATABASE_URL at a new file to try the demo."
            )

    files = [*sorted(p for p in demo_dir.iterdir() if p.is_file()), wards_file]
    wards, vintage = read_ons_wards(wards_file, borough_code)
    population = pd.read_csv(demo_dir / "ward_population.csv", dtype={"ward_code": str})
    population_by_code = dict(zip(population["ward_code"], population["population"], strict=True))
    csos = pd.read_csv(demo_dir / "csos.csv", dtype=str)
    assignments = pd.read_csv(demo_dir / "cso_assignments.csv", dtype=str, keep_default_na=False)
    asset_rows = pd.read_csv(demo_dir / "assets.csv", dtype=str, keep_default_na=False)
    visits = pd.read_csv(demo_dir / "youth_bus_visits.csv", dtype=str)
    plans = json.loads((demo_dir / "plans.json").read_text(encoding="utf-8"))
    incident_rows = _read_incident_rows(demo_dir / "incidents.csv.gz")
    incidents, left_out = prepare_incidents(
        incident_rows, DEMO_SOURCE, taxonomy, wards.to_crs(BNG), LocationPrecision.SYNTHETIC
    )
    if left_out:
        raise DataError(f"{left_out} demo incidents have offences the taxonomy does not know")

    with session_scope(engine) as session:
        data_import = DataImport(
            kind="demo",
            file_name=demo_dir.name,
            file_sha256=_sha256_of(files),
            imported_by="seed-demo",
            imported_at=datetime.now().replace(microsecond=0),  # noqa: DTZ005 (local wall time)
            rows_accepted=len(incidents),
            rows_rejected=0,
            status=ImportStatus.COMMITTED,
            borough_code=borough_code,
        )
        session.add(data_import)
        session.flush()
        session.add_all(
            Ward(
                code=row.code,
                name=row.name,
                borough_code=borough_code,
                vintage=vintage,
                population=int(population_by_code[row.code]),
                population_source=DEMO_POPULATION_SOURCE,
                geometry_wkb=shapely.to_wkb(row.geometry),
                import_id=data_import.id,
            )
            for row in wards.itertuples()
        )
        cso_by_key = {
            row.cso_key: Cso(
                display_name=row.display_name,
                contact=row.contact,
                active=True,
                borough_code=borough_code,
            )
            for row in csos.itertuples()
        }
        session.add_all(cso_by_key.values())
        session.add_all(
            CsoAssignment(
                cso=cso_by_key[row.cso_key],
                ward_code=row.ward_code,
                valid_from=date.fromisoformat(row.valid_from),
                valid_to=date.fromisoformat(row.valid_to) if row.valid_to else None,
            )
            for row in assignments.itertuples()
        )
        asset_by_key = {
            row.asset_key: Asset(
                kind=AssetKind(row.kind),
                name=row.name,
                address=row.address,
                longitude=float(row.longitude),
                latitude=float(row.latitude),
                public=row.public == "true",
                guidance=row.guidance or None,
                notes=row.notes or None,
                borough_code=borough_code,
                import_id=data_import.id,
            )
            for row in asset_rows.itertuples()
        }
        session.add_all(asset_by_key.values())
        session.add_all(
            YouthBusVisit(
                stop=asset_by_key[row.asset_key],
                weekday=int(row.weekday),
                starts_at=_parse_time(row.starts_at),
                ends_at=_parse_time(row.ends_at),
                activity=row.activity,
            )
            for row in visits.itertuples()
        )
        for spec in plans:
            lead = cso_by_key.get(spec["lead_cso_key"])
            # entered when the plan started, so "as it stood on" views of past quarters see them
            opened_at = datetime.combine(date.fromisoformat(spec["started_on"]), time(9, 30))
            session.flush()  # the CSOs' ids
            plan = Plan(
                title=spec["title"],
                area_wkb=shapely.to_wkb(shape(spec["area"])),
                area_source=spec.get("area_source", "drawn"),
                place_name=spec.get("place_name"),
                sara_stage=SaraStage(spec["sara_stage"]),
                problem=spec["problem"],
                lead_cso_id=lead.id if lead else None,
                partners="\n".join(spec["partners"]),
                started_on=date.fromisoformat(spec["started_on"]),
                review_on=date.fromisoformat(spec["review_on"]) if spec["review_on"] else None,
                status=PlanStatus(spec["status"]),
                outcome=spec.get("outcome"),
                borough_code=borough_code,
                created_at=opened_at,
            )
            session.add(plan)
            session.flush()
            session.add_all(
                PlanWard(plan_id=plan.id, ward_code=code, ward_vintage=vintage)
                for code in spec["ward_codes"]
            )
            session.add(_seeded_update(PlanUpdate, plan_id=plan.id, at=opened_at))
            for action_spec in spec["actions"]:
                action = Action(
                    plan=plan,
                    description=action_spec["description"],
                    vru_theme=int(action_spec["vru_theme"]),
                    owner_agency=action_spec["owner_agency"],
                    owner_name=action_spec.get("owner_name"),
                    due_on=date.fromisoformat(action_spec["due_on"]),
                    status=ActionStatus(action_spec["status"]),
                    longitude=action_spec.get("longitude"),
                    latitude=action_spec.get("latitude"),
                    created_at=opened_at,
                )
                session.add(action)
                session.flush()
                session.add(_seeded_update(ActionUpdate, action_id=action.id, at=opened_at))
        demo_cso = cso_by_key[DEMO_CSO_KEY]
        for email, label in DEMO_USERS:
            role, agency = _DEMO_USER_ROLES[email]
            user = AppUser(
                email=email,
                display_name=label.split(" (")[0],
                role=role.value,
                agency=agency,
                cso_id=demo_cso.id if role is Role.CSO else None,
                active=True,
                created_at=data_import.imported_at,
            )
            session.add(user)
            session.flush()
            session.add(
                UserChange(
                    user_id=user.id,
                    changed_by="seed-demo",
                    changed_at=data_import.imported_at,
                    changes=json.dumps({"created": [None, {"email": email, "role": role.value}]}),
                )
            )
        records = incidents.assign(import_id=data_import.id, borough_code=borough_code).to_dict(
            "records"
        )
        for record in records:
            if pd.isna(record["occurred_at"]):
                record["occurred_at"] = None
        session.execute(insert(Incident), records)
        record_ward_history(session, data_import.id, vintage)
        session.add(DatasetInfo(key="synthetic", value="true"))
        session.add(DatasetInfo(key="description", value="Demo borough: synthetic incidents"))
        session.flush()
        counts = {
            "ward": len(wards),
            "cso": len(cso_by_key),
            "cso_assignment": len(assignments),
            "asset": len(asset_by_key),
            "youth_bus_visit": len(visits),
            "plan": len(plans),
            "action": sum(len(spec["actions"]) for spec in plans),
            "incident": len(records),
            "app_user": len(DEMO_USERS),
        }
    log.info("demo data loaded: %s (sha256 %s)", counts, data_import.file_sha256[:12])
    return SeedReport(created=True, counts=counts)
