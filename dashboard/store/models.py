"""The whole data model of DESIGN.md section 3, as typed SQLAlchemy 2 models.

Geometries are stored portably as WKB in WGS84 (EPSG:4326) so SQLite and PostgreSQL hold the same
bytes; incident points are also stored as plain British National Grid metres (``x_bng``/``y_bng``)
because every analysis works in metres and projecting once at import is far cheaper than per view.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with stable constraint names and portable (non-native) enums."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads this class attribute)
        enum.Enum: Enum(
            enum.Enum,
            native_enum=False,
            length=32,
            validate_strings=True,
            values_callable=lambda members: [member.value for member in members],
        ),
        datetime: DateTime(timezone=False),
    }


class AssetKind(enum.StrEnum):
    """What a mapped asset is."""

    KNIFE_BIN = "knife_bin"
    YOUTH_BUS_STOP = "youth_bus_stop"


class LocationPrecision(enum.StrEnum):
    """How exactly an incident's point is known."""

    EXACT = "exact"  # the police extract's own coordinates
    SNAPPED = "snapped"  # police.uk: moved to one of a fixed set of anonymised map points
    SYNTHETIC = "synthetic"  # demo data


class SaraStage(enum.StrEnum):
    """Stages of the SARA problem-solving model."""

    SCANNING = "scanning"
    ANALYSIS = "analysis"
    RESPONSE = "response"
    ASSESSMENT = "assessment"


class PlanStatus(enum.StrEnum):
    """Life of a problem-solving plan."""

    OPEN = "open"
    MONITORING = "monitoring"
    CLOSED = "closed"


class ActionStatus(enum.StrEnum):
    """Progress of a task-and-finish action; dropping is a status, nothing is deleted."""

    NOT_STARTED = "not_started"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    DONE = "done"
    DROPPED = "dropped"


class ImportStatus(enum.StrEnum):
    """Whether an import's rows are in the store."""

    COMMITTED = "committed"
    UNDONE = "undone"
    REFUSED = "refused"  # the file was refused whole; nothing was written


class Ward(Base):
    """An electoral ward of the borough, as ONS publishes it."""

    __tablename__ = "ward"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(9), index=True)  # ONS E05...
    name: Mapped[str] = mapped_column(String(120))
    borough_code: Mapped[str] = mapped_column(String(9), index=True)  # ONS E09...
    vintage: Mapped[str] = mapped_column(String(8))  # boundary edition, e.g. "2022"
    population: Mapped[int | None]  # residents, for rates per 1,000
    population_source: Mapped[str | None] = mapped_column(String(200))
    geometry_wkb: Mapped[bytes] = mapped_column(LargeBinary)  # (Multi)Polygon, EPSG:4326
    import_id: Mapped[int | None] = mapped_column(ForeignKey("data_import.id"))

    __table_args__ = (UniqueConstraint("code", "vintage", name="code_vintage"),)


class Cso(Base):
    """A Community Safety Officer. Names and contacts are internal only."""

    __tablename__ = "cso"

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(120))
    contact: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    borough_code: Mapped[str | None] = mapped_column(String(9), index=True)  # the CSO's borough

    assignments: Mapped[list[CsoAssignment]] = relationship(back_populates="cso")


class CsoAssignment(Base):
    """A CSO's responsibility for a ward over a period; history is kept, never overwritten."""

    __tablename__ = "cso_assignment"

    id: Mapped[int] = mapped_column(primary_key=True)
    cso_id: Mapped[int] = mapped_column(ForeignKey("cso.id"), index=True)
    ward_code: Mapped[str] = mapped_column(String(9), index=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)  # None: current

    cso: Mapped[Cso] = relationship(back_populates="assignments")

    __table_args__ = (CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="period"),)


class Asset(Base):
    """A place on the map: a knife amnesty bin, a Youth Bus stop, or another service point."""

    __tablename__ = "asset"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[AssetKind] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))
    longitude: Mapped[float] = mapped_column(Float)
    latitude: Mapped[float] = mapped_column(Float)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    guidance: Mapped[str | None] = mapped_column(Text)  # what the public should do here
    notes: Mapped[str | None] = mapped_column(Text)  # internal only
    borough_code: Mapped[str | None] = mapped_column(String(9), index=True)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("data_import.id"))

    visits: Mapped[list[YouthBusVisit]] = relationship(back_populates="stop")


class YouthBusVisit(Base):
    """One slot of the Youth Bus schedule: weekly by weekday, or a one-off date."""

    __tablename__ = "youth_bus_visit"

    id: Mapped[int] = mapped_column(primary_key=True)
    stop_id: Mapped[int] = mapped_column(ForeignKey("asset.id"), index=True)
    weekday: Mapped[int | None] = mapped_column(Integer)  # 0 = Monday
    on_date: Mapped[date | None] = mapped_column(Date)
    starts_at: Mapped[time] = mapped_column(Time)
    ends_at: Mapped[time] = mapped_column(Time)
    activity: Mapped[str | None] = mapped_column(String(200))

    stop: Mapped[Asset] = relationship(back_populates="visits")

    __table_args__ = (
        CheckConstraint("weekday IS NULL OR weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("(weekday IS NULL) <> (on_date IS NULL)", name="weekly_or_dated"),
        CheckConstraint("ends_at > starts_at", name="slot"),
    )


class Incident(Base):
    """One recorded incident of serious violence (or a related offence) at a point."""

    __tablename__ = "incident"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))  # "demo", "police_uk", "police_extract"
    source_ref: Mapped[str] = mapped_column(String(100))  # the source's own id: dedupe key
    occurred_on: Mapped[date] = mapped_column(Date)
    occurred_at: Mapped[datetime | None]  # None where the source has no time of day
    offence: Mapped[str] = mapped_column(String(200))  # as the source recorded it
    category: Mapped[str] = mapped_column(String(40))  # serious-violence category (taxonomy)
    knife: Mapped[bool] = mapped_column(Boolean, default=False)
    gun: Mapped[bool] = mapped_column(Boolean, default=False)
    domestic_abuse: Mapped[bool] = mapped_column(Boolean, default=False)
    victim_age_band: Mapped[str | None] = mapped_column(String(10))  # None: not recorded
    under_25: Mapped[bool | None] = mapped_column(Boolean)  # None: age not recorded
    longitude: Mapped[float] = mapped_column(Float)
    latitude: Mapped[float] = mapped_column(Float)
    x_bng: Mapped[float] = mapped_column(Float)  # EPSG:27700 easting, metres
    y_bng: Mapped[float] = mapped_column(Float)  # EPSG:27700 northing, metres
    ward_code: Mapped[str | None] = mapped_column(String(9))  # in the newest ward set, derived
    borough_code: Mapped[str | None] = mapped_column(String(9))  # the importing borough's
    location_precision: Mapped[LocationPrecision]
    # "day", or "month" where the source gives the month only (police.uk)
    date_precision: Mapped[str] = mapped_column(String(8), default="day", server_default="day")
    outcome: Mapped[str | None] = mapped_column(String(200))  # the latest outcome, where given
    import_id: Mapped[int | None] = mapped_column(ForeignKey("data_import.id"))

    __table_args__ = (
        UniqueConstraint("source", "source_ref", name="source_ref"),
        Index("ix_incident_occurred_on_category", "occurred_on", "category"),
        Index("ix_incident_ward_code_occurred_on", "ward_code", "occurred_on"),
        Index("ix_incident_borough_code_occurred_on", "borough_code", "occurred_on"),
    )


class IncidentWard(Base):
    """The ward an incident falls in under each boundary set, so old reports keep their wards."""

    __tablename__ = "incident_ward"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), primary_key=True
    )
    vintage: Mapped[str] = mapped_column(String(8), primary_key=True)
    ward_code: Mapped[str | None] = mapped_column(String(9), index=True)


class Plan(Base):
    """An area-based problem-solving plan run by a task-and-finish group."""

    __tablename__ = "plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    area_wkb: Mapped[bytes] = mapped_column(LargeBinary)  # Polygon or MultiPolygon, EPSG:4326
    # how the area was chosen: "drawn", "ward", "cells", "place" or "uploaded"
    area_source: Mapped[str] = mapped_column(String(20), default="drawn", server_default="drawn")
    place_name: Mapped[str | None] = mapped_column(String(200))  # e.g. "Alton Estate"
    borough_code: Mapped[str | None] = mapped_column(String(9), index=True)
    sara_stage: Mapped[SaraStage]
    problem: Mapped[str] = mapped_column(Text)
    lead_cso_id: Mapped[int | None] = mapped_column(ForeignKey("cso.id"))
    partners: Mapped[str] = mapped_column(Text, default="")  # agencies, one per line
    started_on: Mapped[date] = mapped_column(Date)
    review_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[PlanStatus]
    outcome: Mapped[str | None] = mapped_column(Text)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    actions: Mapped[list[Action]] = relationship(back_populates="plan", order_by="Action.due_on")
    wards: Mapped[list[PlanWard]] = relationship(back_populates="plan")
    updates: Mapped[list[PlanUpdate]] = relationship(
        back_populates="plan", order_by="PlanUpdate.id"
    )

    __table_args__ = (
        CheckConstraint("review_on IS NULL OR review_on >= started_on", name="dates"),
    )
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class PlanWard(Base):
    """A ward a plan's area covers, tied to the stored ward set so it cannot be removed under it.

    The foreign key is deferred to the end of the transaction: a corrected boundary file replaces
    its wards (delete, then insert the same codes) in one transaction, which must not trip it.
    """

    __tablename__ = "plan_ward"

    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id"), primary_key=True)
    ward_code: Mapped[str] = mapped_column(String(9), primary_key=True)
    ward_vintage: Mapped[str] = mapped_column(String(8), primary_key=True)

    plan: Mapped[Plan] = relationship(back_populates="wards")

    __table_args__ = (
        ForeignKeyConstraint(
            ["ward_code", "ward_vintage"],
            ["ward.code", "ward.vintage"],
            name="fk_plan_ward_ward",
            deferrable=True,
            initially="DEFERRED",
        ),
    )


class PlanUpdate(Base):
    """An append-only record of one change to a plan: who, when, what changed, and why."""

    __tablename__ = "plan_update"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id"), index=True)
    changed_by: Mapped[str] = mapped_column(String(120))  # the name shown in the history
    changed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    changed_at: Mapped[datetime]
    changes: Mapped[str] = mapped_column(Text)  # JSON: {"field": [old, new], ...}
    comment: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int | None] = mapped_column(Integer)  # the plan's version after the change

    plan: Mapped[Plan] = relationship(back_populates="updates")


class Action(Base):
    """One task-and-finish action of a problem-solving plan."""

    __tablename__ = "action"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id"), index=True)
    description: Mapped[str] = mapped_column(Text)
    vru_theme: Mapped[int] = mapped_column(Integer)  # 1-8, enforced by the check constraint below
    owner_agency: Mapped[str] = mapped_column(String(80), index=True)
    owner_name: Mapped[str | None] = mapped_column(String(120))
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[ActionStatus]
    longitude: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    plan: Mapped[Plan] = relationship(back_populates="actions")
    updates: Mapped[list[ActionUpdate]] = relationship(
        back_populates="action", order_by="ActionUpdate.id"
    )

    __table_args__ = (
        CheckConstraint("vru_theme BETWEEN 1 AND 8", name="vru_theme"),
        CheckConstraint("(longitude IS NULL) = (latitude IS NULL)", name="point"),
    )
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class ActionUpdate(Base):
    """An append-only record of one change to an action: the audit trail."""

    __tablename__ = "action_update"

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("action.id"), index=True)
    changed_by: Mapped[str] = mapped_column(String(120))  # the name shown in the history
    changed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    changed_at: Mapped[datetime]
    changes: Mapped[str] = mapped_column(Text)  # JSON: {"field": [old, new], ...}
    comment: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int | None] = mapped_column(Integer)  # the action's version after the change

    action: Mapped[Action] = relationship(back_populates="updates")


class DataImport(Base):
    """One load of a file into the store, so it can be audited and undone."""

    __tablename__ = "data_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # "demo", "boundaries", "police-uk", ...
    file_name: Mapped[str] = mapped_column(String(300))
    file_sha256: Mapped[str] = mapped_column(String(64))
    imported_by: Mapped[str] = mapped_column(String(120))
    imported_at: Mapped[datetime]
    rows_accepted: Mapped[int] = mapped_column(Integer)
    rows_rejected: Mapped[int] = mapped_column(Integer)
    status: Mapped[ImportStatus]
    summary: Mapped[str | None] = mapped_column(Text)  # the report's lines, or why it was refused
    borough_code: Mapped[str | None] = mapped_column(String(9), index=True)  # whose data it loaded
    undone_by: Mapped[str | None] = mapped_column(String(254))
    undone_at: Mapped[datetime | None]


class DatasetInfo(Base):
    """Facts about the loaded data set as a whole, such as whether it is the synthetic demo."""

    __tablename__ = "dataset_info"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class AppUser(Base):
    """A person who may sign in, matched on the e-mail address their identity provider gives."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-case
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str | None] = mapped_column(String(20))  # an access.Role value; None: no role yet
    agency: Mapped[str | None] = mapped_column(String(80))  # partners update their agency's actions
    cso_id: Mapped[int | None] = mapped_column(ForeignKey("cso.id"))  # a CSO's own record
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # whose internal data they see: None is the deployment's own borough (BOROUGH_CODE)
    borough_code: Mapped[str | None] = mapped_column(String(9))
    london_wide: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class UserChange(Base):
    """An append-only record of one change to a user: who changed what, and when."""

    __tablename__ = "user_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    changed_by: Mapped[str] = mapped_column(String(254))
    changed_at: Mapped[datetime]
    changes: Mapped[str] = mapped_column(Text)  # JSON: {"field": [old, new], ...}


class PatrolLog(Base):
    """A patrol as done, logged after the shift so planned and delivered dosage can be compared.

    Append-only, like the other audit records: a wrong log is followed by a corrected one, never
    edited, so what was reported at the time stays on record.
    """

    __tablename__ = "patrol_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    cso_id: Mapped[int] = mapped_column(ForeignKey("cso.id"), index=True)  # whose patrol
    logged_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    logged_by: Mapped[str] = mapped_column(String(120))  # the name shown, kept if the user goes
    logged_at: Mapped[datetime]
    patrol_date: Mapped[date] = mapped_column(Date)  # the day the shift started
    shift_label: Mapped[str] = mapped_column(String(120))  # e.g. "Friday 18:00-22:00"
    # the shift band; ends_at < starts_at means the shift runs past midnight
    starts_at: Mapped[time] = mapped_column(Time)
    ends_at: Mapped[time] = mapped_column(Time)
    ward_codes: Mapped[str] = mapped_column(Text)  # comma-separated: the wards planned for
    planned_stops: Mapped[int] = mapped_column(Integer)  # visits with a planned order
    planned_dwell_min: Mapped[float] = mapped_column(Float)  # minutes planned at each stop
    plan_link: Mapped[str | None] = mapped_column(Text)  # the query string that reopens the plan
    notes: Mapped[str | None] = mapped_column(Text)

    visits: Mapped[list[PatrolVisit]] = relationship(back_populates="patrol")

    __table_args__ = (CheckConstraint("planned_stops >= 0", name="planned_stops"),)


class PatrolVisit(Base):
    """One stop of a logged patrol: planned, visited, or both, with when and for how long."""

    __tablename__ = "patrol_visit"

    id: Mapped[int] = mapped_column(primary_key=True)
    patrol_id: Mapped[int] = mapped_column(ForeignKey("patrol_log.id"), index=True)
    cell_id: Mapped[str] = mapped_column(String(32))  # grid cell, "easting_northing"
    planned_order: Mapped[int | None] = mapped_column(Integer)  # None: visited but not planned
    visited: Mapped[bool] = mapped_column(Boolean)
    arrived_at: Mapped[datetime | None]
    dwell_min: Mapped[float | None] = mapped_column(Float)  # None: visited, stay not recorded

    patrol: Mapped[PatrolLog] = relationship(back_populates="visits")

    __table_args__ = (
        UniqueConstraint("patrol_id", "cell_id", name="patrol_cell"),
        CheckConstraint("dwell_min IS NULL OR dwell_min >= 0", name="dwell"),
        # an arrival time only makes sense for a stop that was reached
        CheckConstraint("visited OR arrived_at IS NULL", name="arrival"),
    )
