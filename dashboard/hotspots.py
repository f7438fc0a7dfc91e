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
# All of London at once: 1 km cells keep the map to about 1,600 cells (250 m would be 25,000, too
# many to draw or to read), and show where in London violence concentrates, not which street
LONDON_CELL_SIZE_M = 1_000.0
HOTSPOT_CLASS_COUNT = 5


def count_incidents_by_cell(
    x_bng: np.ndarray, y_bng: np.ndarray, cell_size_m: float = DEFAULT_CELL_SIZE_M
) -> gpd.GeoDataFrame:
    """Count incidents in square British National Grid cells of side ``cell_size_m``.

    ``x_bng``/``y_bng`` are eastings and northings in EPSG:27700 metres. Returns the non-empty
    cells in EPSG:27700: ``cell_id`` (easting_northing of the south-west corner),
    ``incident_count`` and the square; busiest first, ties by ``cell_id``. Raises ValueError
    when ``cell_size_m`` is not positive.
    """
    if cell_size_m <= 0:
        raise ValueError(f"cell_size_m must be positive, got {cell_size_m}")
    x_bng, y_bng = np.asarray(x_bng, dtype=float), np.asarray(y_bng, dtype=float)
    # floor, not int(): int() truncates towards zero and would merge cells either side of an axis
    col = np.floor(x_bng / cell_size_m).astype(np.int64)
    row = np.floor(y_bng / cell_size_m).astype(np.int64)
    counts = pd.DataFrame({"col": col, "row": row}).groupby(["col", "row"], as_index=False).size()
    west = counts["col"].to_numpy() * cell_size_m
    south = counts["row"].to_numpy() * cell_size_m
    cells = gpd.GeoDataFrame(
        {
            "cell_id": [f"{x:.0f}_{y:.0f}" for x, y in zip(west, south, strict=True)],
            "incident_count": counts["size"].to_numpy(dtype=np.int64),
        },
        geometry=shapely.box(west, south, west + cell_size_m, south + cell_size_m),
        crs=BNG,
    )
    return cells.sort_values(
        ["incident_count", "cell_id"], ascending=[False, True], ignore_index=True
    )


def borough_grid(
    wards_bng: gpd.GeoDataFrame, cell_size_m: float = DEFAULT_CELL_SIZE_M
) -> gpd.GeoDataFrame:
    """Every square cell of side ``cell_size_m`` that overlaps a ward: the fixed hotspot grid.

    The map always sends this whole grid, so the page's size depends on the borough and the cell
    size only, never on how many incidents there are. ``wards_bng`` is in EPSG:27700 with a
    ``code`` column. Returns ``cell_id``, ``ward_code`` (the ward holding most of the cell's
    area) and the square, in EPSG:27700, sorted by ``cell_id``.
    """
    if wards_bng.crs is None or wards_bng.crs.to_epsg() != 27700:
        raise ValueError(f"wards_bng must be in EPSG:27700, got {wards_bng.crs}")
    if cell_size_m <= 0:
        raise ValueError(f"cell_size_m must be positive, got {cell_size_m}")
    minx, miny, maxx, maxy = wards_bng.total_bounds
    cols = np.arange(np.floor(minx / cell_size_m), np.ceil(maxx / cell_size_m), dtype=np.int64)
    rows = np.arange(np.floor(miny / cell_size_m), np.ceil(maxy / cell_size_m), dtype=np.int64)
    col, row = (grid.ravel() for grid in np.meshgrid(cols, rows))
    west, south = col * cell_size_m, row * cell_size_m
    squares = gpd.GeoDataFrame(
        {"cell_id": [f"{x:.0f}_{y:.0f}" for x, y in zip(west, south, strict=True)]},
        geometry=shapely.box(west, south, west + cell_size_m, south + cell_size_m),
        crs=BNG,
    )
    pieces = gpd.overlay(squares, wards_bng[["code", "geometry"]], how="intersection")
    pieces["area_m2"] = pieces.geometry.area
    main_ward = (
        pieces.sort_values("area_m2", ascending=False, kind="stable")
        .drop_duplicates("cell_id")
        .set_index("cell_id")["code"]
    )
    grid = squares[squares["cell_id"].isin(main_ward.index)].copy()
    grid["ward_code"] = grid["cell_id"].map(main_ward)
    return grid[["cell_id", "ward_code", "geometry"]].sort_values("cell_id", ignore_index=True)


def count_on_grid(
    grid_bng: gpd.GeoDataFrame,
    x_bng: np.ndarray,
    y_bng: np.ndarray,
    cell_size_m: float = DEFAULT_CELL_SIZE_M,
) -> gpd.GeoDataFrame:
    """The whole ``grid_bng`` (from ``borough_grid``) with each cell's ``incident_count``.

    Cells with no incident are kept with a count of 0; incidents outside the grid are not
    counted. Busiest first, ties by ``cell_id``.
    """
    counts = count_incidents_by_cell(x_bng, y_bng, cell_size_m=cell_size_m)
    by_cell = dict(zip(counts["cell_id"], counts["incident_count"], strict=True))
    cells = grid_bng.copy()
    cells["incident_count"] = np.array(
        [by_cell.get(c, 0) for c in cells["cell_id"]], dtype=np.int64
    )
    return cells.sort_values(
        ["incident_count", "cell_id"], ascending=[False, True], ignore_index=True
    )


def count_class_breaks(counts: pd.Series, class_count: int = HOTSPOT_CLASS_COUNT) -> list[int]:
    """Upper bounds of up to ``class_count`` classes of non-zero cell counts, by quantiles.

    Quantiles put about as many cells in each class, so the map shows where the busiest fifth of
    cells are however skewed the counts; duplicate bounds (many cells with 1 incident) merge.
    Empty cells are left out (they are drawn unshaded). The last bound is the maximum. No
    non-zero count, no classes.
    """
    counts = counts[counts > 0]
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
