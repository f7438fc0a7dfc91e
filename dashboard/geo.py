"""Coordinate systems and point-in-ward assignment, vectorised for many thousands of points."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer

WGS84 = "EPSG:4326"  # what sources and Leaflet use
BNG = "EPSG:27700"  # British National Grid: metres, so distances and areas mean what they say
BNG_EPSG = 27700


def wgs84_to_bng(longitude: np.ndarray, latitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project WGS84 longitude/latitude (degrees) to British National Grid easting/northing (m)."""
    transformer = Transformer.from_crs(WGS84, BNG, always_xy=True)
    x_bng, y_bng = transformer.transform(np.asarray(longitude), np.asarray(latitude))
    return np.asarray(x_bng, dtype=float), np.asarray(y_bng, dtype=float)


def bng_to_wgs84(x_bng: np.ndarray, y_bng: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project British National Grid easting/northing (m) to WGS84 longitude/latitude (degrees)."""
    transformer = Transformer.from_crs(BNG, WGS84, always_xy=True)
    longitude, latitude = transformer.transform(np.asarray(x_bng), np.asarray(y_bng))
    return np.asarray(longitude, dtype=float), np.asarray(latitude, dtype=float)


def assign_ward_codes(
    x_bng: np.ndarray, y_bng: np.ndarray, wards_bng: gpd.GeoDataFrame
) -> np.ndarray:
    """Return, for each point, the ``code`` of the ward that contains it (None outside every ward).

    ``wards_bng`` must be in EPSG:27700 with a ``code`` column. Points on a shared boundary go to
    the first ward in ``wards_bng`` order, so each point has exactly one ward.
    """
    if wards_bng.crs is None or wards_bng.crs.to_epsg() != 27700:
        raise ValueError(f"wards_bng must be in EPSG:27700, got {wards_bng.crs}")
    x_bng, y_bng = np.asarray(x_bng, dtype=float), np.asarray(y_bng, dtype=float)
    codes = np.full(x_bng.shape, None, dtype=object)
    unassigned = np.ones(x_bng.shape, dtype=bool)
    for code, polygon in zip(wards_bng["code"], wards_bng.geometry, strict=True):
        minx, miny, maxx, maxy = polygon.bounds
        # the bounding-box test is cheap and rules out most points before the exact test
        candidates = (
            unassigned & (x_bng >= minx) & (x_bng <= maxx) & (y_bng >= miny) & (y_bng <= maxy)
        )
        index = np.flatnonzero(candidates)
        inside = shapely.intersects_xy(polygon, x_bng[index], y_bng[index])
        codes[index[inside]] = code
        unassigned[index[inside]] = False
    return codes
