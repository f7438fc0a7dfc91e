"""Checks on the tables the analysis and export functions are handed."""

from __future__ import annotations

from collections.abc import Iterable

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
