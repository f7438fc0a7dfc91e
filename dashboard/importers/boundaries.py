"""ONS ward boundaries (any vintage: ``WDyyCD``/``WDyyNM`` with ``LADyyCD``) as a GeoDataFrame."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd

from dashboard.errors import DataError
from dashboard.geo import WGS84

WARD_CODE_COLUMN = re.compile(r"^WD(\d{2})CD$", re.IGNORECASE)


def read_ons_wards(path: Path, borough_code: str) -> tuple[gpd.GeoDataFrame, str]:
    """Read an ONS ward boundary file and keep the wards of ``borough_code``.

    Returns the wards in EPSG:4326 with columns ``code``, ``name``, ``geometry`` (sorted by code)
    and the vintage as a year, e.g. "2022" for ``WD22CD``. Raises DataError when the file has no
    ONS ward columns or no ward of the borough.
    """
    frame = gpd.read_file(path)
    matches = [(column, WARD_CODE_COLUMN.match(column)) for column in frame.columns]
    found = [(column, match.group(1)) for column, match in matches if match]
    if not found:
        raise DataError(
            f"{path.name} has no ONS ward code column (WDyyCD, e.g. WD22CD); "
            f"its columns are {', '.join(map(str, frame.columns))}"
        )
    code_column, year = found[0]
    name_column = f"{code_column[:-2]}NM"
    borough_columns = [c for c in frame.columns if re.match(r"^LAD\d{2}CD$", c, re.IGNORECASE)]
    if name_column not in frame.columns or not borough_columns:
        raise DataError(f"{path.name} lacks {name_column} or a LADyyCD borough column")
    if frame.crs is None:
        raise DataError(f"{path.name} has no coordinate reference system; export it with one")
    wards = frame[frame[borough_columns[0]] == borough_code]
    if wards.empty:
        raise DataError(
            f"{path.name} has no ward in borough {borough_code}; check BOROUGH_CODE or the file"
        )
    wards = gpd.GeoDataFrame(
        {"code": wards[code_column].to_numpy(), "name": wards[name_column].to_numpy()},
        geometry=wards.geometry.to_crs(WGS84).to_numpy(),
        crs=WGS84,
    )
    return wards.sort_values("code", ignore_index=True), f"20{year}"
