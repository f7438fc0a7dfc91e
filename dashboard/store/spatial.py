"""PostGIS: the geometry columns PostgreSQL keeps beside the portable ones, and filters on them.

Everywhere the app writes and reads portable columns (WKB bytes, or coordinates), so SQLite and
PostgreSQL hold the same data. On PostgreSQL migration 0006 adds a geometry column to each
spatial table, *generated* by the database from the portable columns, with a GiST index: nothing
in the app writes it, it can never disagree with them, and spatial filters run in the database
on the index. On SQLite the same filters are a bounding-box test in SQL, finished exactly in
Python (``finish_on_sqlite``), so both stores return the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from geoalchemy2 import Geometry
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ColumnElement, Engine, and_, func, literal_column

from dashboard.geo import BNG_EPSG

INCIDENT_POINT = literal_column("incident.geom", Geometry("POINT", srid=BNG_EPSG))

# the generated columns migration 0006 adds on PostgreSQL: (table, column)
GENERATED_GEOMETRIES = frozenset(
    {("incident", "geom"), ("ward", "geom"), ("plan", "area"), ("asset", "geom")}
)
POSTGIS_TABLES = frozenset({"spatial_ref_sys"})  # PostGIS's own, not the app's


def uses_postgis(engine: Engine) -> bool:
    """True when spatial filters run in the database (PostgreSQL with PostGIS)."""
    return engine.dialect.name == "postgresql"


@dataclass(frozen=True)
class Place:
    """Where incidents must be: inside an area, or within a distance of a point (EPSG:27700).

    ``area_wkb`` is a (Multi)Polygon's WKB; a point on its boundary counts as inside.
    ``near`` is ``(x, y, metres)``. Both given: inside the area *and* near the point.
    Bytes and tuples keep it hashable, so it can key a cache.
    """

    area_wkb: bytes | None = None
    near: tuple[float, float, float] | None = None

    @classmethod
    def inside(cls, area_bng: BaseGeometry) -> Place:
        """Incidents in ``area_bng`` (EPSG:27700)."""
        return cls(area_wkb=shapely.to_wkb(area_bng))

    @classmethod
    def around(cls, x_bng: float, y_bng: float, metres: float) -> Place:
        """Incidents within ``metres`` of a point (EPSG:27700)."""
        if metres < 0:
            raise ValueError(f"a distance cannot be negative: {metres}")
        return cls(near=(float(x_bng), float(y_bng), float(metres)))

    def area(self) -> BaseGeometry | None:
        """The area as a Shapely geometry, or None."""
        return None if self.area_wkb is None else shapely.from_wkb(self.area_wkb)

    def bounds(self) -> tuple[float, float, float, float]:
        """The box every matching point lies in: (min x, min y, max x, max y)."""
        boxes = []
        if self.area_wkb is not None:
            boxes.append(self.area().bounds)
        if self.near is not None:
            x, y, metres = self.near
            boxes.append((x - metres, y - metres, x + metres, y + metres))
        if not boxes:
            raise ValueError("a Place needs an area or a point and distance")
        return (
            max(box[0] for box in boxes),
            max(box[1] for box in boxes),
            min(box[2] for box in boxes),
            min(box[3] for box in boxes),
        )


def incident_place_condition(
    engine: Engine, place: Place, x_column: ColumnElement, y_column: ColumnElement
) -> ColumnElement[bool]:
    """The SQL condition for ``place``: exact on PostGIS (GiST index), a bounding box on SQLite."""
    if uses_postgis(engine):
        conditions = []
        if place.area_wkb is not None:
            area = func.ST_GeomFromWKB(place.area_wkb, BNG_EPSG)
            conditions.append(func.ST_Covers(area, INCIDENT_POINT))
        if place.near is not None:
            x, y, metres = place.near
            point = func.ST_SetSRID(func.ST_MakePoint(x, y), BNG_EPSG)
            conditions.append(func.ST_DWithin(INCIDENT_POINT, point, metres))
        return and_(*conditions)
    min_x, min_y, max_x, max_y = place.bounds()
    return and_(x_column.between(min_x, max_x), y_column.between(min_y, max_y))


def finish_on_sqlite(engine: Engine, place: Place, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` (``x_bng``, ``y_bng``) exactly in ``place``; PostGIS already did."""
    if uses_postgis(engine) or frame.empty:
        return frame
    x = frame["x_bng"].to_numpy(dtype=float)
    y = frame["y_bng"].to_numpy(dtype=float)
    keep = np.ones(len(frame), dtype=bool)
    if place.area_wkb is not None:
        keep &= shapely.intersects_xy(place.area(), x, y)  # the boundary counts, as ST_Covers
    if place.near is not None:
        px, py, metres = place.near
        keep &= np.hypot(x - px, y - py) <= metres
    return frame[keep].reset_index(drop=True)
