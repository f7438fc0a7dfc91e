"""Checks on the tables the analysis and export functions are handed, and their fingerprints."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import geopandas as gpd
import pandas as pd


def require_columns(frame: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    """Raise TypeError unless ``frame`` is a DataFrame, ValueError naming the missing columns."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} lacks the columns {', '.join(missing)}; "
            f"it has {', '.join(map(str, frame.columns)) or 'none'}"
        )


def fingerprint(*frames: pd.DataFrame | None) -> str:
    """A digest of the frames' contents, for cache keys: the same in any process for equal frames.

    Column names, index and values go in; geometries as WKB.
    """
    digest = hashlib.sha256()
    for frame in frames:
        if frame is None:
            digest.update(b"\0none")
            continue
        table = frame.to_wkb() if isinstance(frame, gpd.GeoDataFrame) else frame
        digest.update("\0".join(map(str, table.columns)).encode() + b"\0")
        digest.update(pd.util.hash_pandas_object(table, index=True).to_numpy().tobytes())
    return digest.hexdigest()
