"""Server-side aggregation of incidents into British National Grid cells, and their map classes.

Only cells leave the server, never incidents: the page a browser receives stays the same size
however many incidents there are (DESIGN.md section 7).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from dashboard.geo import BNG

DEFAULT_CELL_SIZE_M = (
    250.0  # about a street block and a half: small enough to patrol, large enough to count
)
HOTSPOT_CLASS_COUNT = 5


def count_incidents_by_cell(
    x_bng: np.ndarray,
    y_bng: np.ndarray,
    ward_codes: np.ndarray | None = None,
    cell_size_m: float = DEFAULT_CELL_SIZE_M,
) -> gpd.GeoDataFrame:
    """Count incidents in square British National Grid cells of side ``cell_size_m``.

    Parameters
    ----------
    x_bng, y_bng
        Incident eastings and northings in EPSG:27700 metres.
    ward_codes
        Each incident's ward; when given, each cell is labelled with the ward most of its
        incidents fall in (``ward_code``), so a click on a cell can name its ward.
    cell_size_m
        Side of the square cells in metres.

    Returns
    -------
    Non-empty cells in EPSG:27700: ``cell_id`` (easting_northing of the south-west corner),
    ``incident_count``, ``ward_code`` and the square; busiest first, ties by ``cell_id``.
    Raises ValueError when ``cell_size_m`` is not positive.
    """
    if cell_size_m <= 0:
        raise ValueError(f"cell_size_m must be positive, got {cell_size_m}")
    x_bng, y_bng = np.asarray(x_bng, dtype=float), np.asarray(y_bng, dtype=float)
    # floor, not int(): int() truncates towards zero and would merge cells either side of an axis
    col = np.floor(x_bng / cell_size_m).astype(np.int64)
    row = np.floor(y_bng / cell_size_m).astype(np.int64)
    keyed = pd.DataFrame({"col": col, "row": row})
    if ward_codes is not None:
        keyed["ward_code"] = pd.Series(np.asarray(ward_codes, dtype=object)).fillna("")
        by_ward = keyed.groupby(["col", "row", "ward_code"], observed=True).size()
        by_ward = by_ward.sort_values(ascending=False, kind="stable").reset_index()
        main_ward = by_ward.drop_duplicates(["col", "row"]).set_index(["col", "row"])["ward_code"]
    counts = keyed.groupby(["col", "row"], as_index=False).size()
    west = counts["col"].to_numpy() * cell_size_m
    south = counts["row"].to_numpy() * cell_size_m
    cells = gpd.GeoDataFrame(
        {
            "cell_id": [f"{x:.0f}_{y:.0f}" for x, y in zip(west, south, strict=True)],
            "incident_count": counts["size"].to_numpy(dtype=np.int64),
            "ward_code": (
                main_ward.reindex(pd.MultiIndex.from_frame(counts[["col", "row"]])).to_numpy()
                if ward_codes is not None
                else None
            ),
        },
        geometry=shapely.box(west, south, west + cell_size_m, south + cell_size_m),
        crs=BNG,
    )
    return cells.sort_values(
        ["incident_count", "cell_id"], ascending=[False, True], ignore_index=True
    )


def count_class_breaks(counts: pd.Series, class_count: int = HOTSPOT_CLASS_COUNT) -> list[int]:
    """Upper bounds of up to ``class_count`` classes of cell counts, by quantiles of the counts.

    Quantiles put about as many cells in each class, so the map shows where the busiest fifth of
    cells are however skewed the counts; duplicate bounds (many cells with 1 incident) merge.
    The last bound is the maximum. An empty series has no classes.
    """
    if counts.empty:
        return []
    quantiles = np.quantile(counts.to_numpy(), np.linspace(0, 1, class_count + 1)[1:])
    return sorted({int(np.ceil(q)) for q in quantiles})


def class_of(count: int, breaks: list[int]) -> int:
    """Index of the class (0 = lowest) that ``count`` falls in, given ``count_class_breaks``."""
    return int(np.searchsorted(np.asarray(breaks), count, side="left"))


def class_labels(breaks: list[int]) -> list[str]:
    """Readable ranges of the classes, e.g. ["1", "2-3", "4-9"]."""
    labels, lower = [], 1
    for upper in breaks:
        labels.append(f"{lower}" if upper == lower else f"{lower}-{upper}")
        lower = upper + 1
    return labels
