"""The Hotspots page's analysis: which incidents a question covers, and what the grid says.

Pure functions over incidents as plain columns (as ``dashboard.store.queries.incidents`` returns
them) and the borough's fixed grid (``hotspots.borough_grid``), all distances in EPSG:27700
metres. The statistics themselves are in ``hotspot_stats``; this module decides what goes in:
which days and hours, counts or harm, and which cells a table or a patrol may use. The Hotspots
page, the main map's significance layer, the patrol planner and the CLI all call ``analyse``, so
they agree on every hot cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.signal import fftconvolve

from dashboard import hotspot_stats, hotspots
from dashboard.errors import InvalidInput
from dashboard.frames import require_columns
from dashboard.geo import BNG, bng_to_wgs84
from dashboard.patrol import WEEKDAY_NAMES, Shift

DEFAULT_WALKING_DISTANCE_M = 400.0  # about five minutes' walk
DEFAULT_BANDWIDTH_M = 400.0  # a quartic kernel this wide smooths over a block or two
NEIGHBOURHOODS = {
    "queen": "the 8 surrounding cells (distance band of 1.5 cell sides)",
    "knn8": "the 8 nearest cells (k-nearest neighbours)",
}
HOT = ("hot 99%", "hot 95%", "hot 90%")
COLD = ("cold 90%", "cold 95%", "cold 99%")
_INCIDENT_COLUMNS = ("x_bng", "y_bng", "category", "occurred_on", "occurred_at", "date_precision")


@dataclass(frozen=True)
class When:
    """Which days and hours a question covers (hashable: it keys the page's caches).

    ``weekdays`` () means every day. ``starts_at`` and ``ends_at`` are both None (all day) or
    both set; an end before the start crosses midnight, and the hours after midnight belong to
    the day before (Friday 22:00-02:00 takes in Saturday 01:00), as a shift does.
    """

    weekdays: tuple[int, ...] = ()
    starts_at: time | None = None
    ends_at: time | None = None

    def __post_init__(self) -> None:
        days = tuple(sorted({int(day) for day in self.weekdays}))
        if any(not 0 <= day <= 6 for day in days):
            raise InvalidInput(f"Weekdays run from 0 (Monday) to 6 (Sunday); got {days}")
        object.__setattr__(self, "weekdays", () if len(days) == 7 else days)
        if (self.starts_at is None) != (self.ends_at is None):
            raise InvalidInput("Give both ends of the time band, or neither for the whole day")
        if self.starts_at is not None and self.starts_at == self.ends_at:
            raise InvalidInput(
                f"The time band starts and ends at {self.starts_at:%H:%M}; give an end time "
                "(an end before the start runs past midnight)"
            )

    @property
    def has_time_band(self) -> bool:
        """True when only some hours of the day are asked about."""
        return self.starts_at is not None

    @property
    def filters(self) -> bool:
        """True when some incidents are outside the question by their day or hour."""
        return self.has_time_band or bool(self.weekdays)

    def shift(self, look_back_months: int = 12) -> Shift | None:
        """The same window as a patrol shift, or None without a time band."""
        if not self.has_time_band:
            return None
        return Shift(
            self.weekdays or tuple(range(7)), self.starts_at, self.ends_at, look_back_months
        )

    @property
    def label(self) -> str:
        """E.g. "Every day, all day", "Friday and Saturday, all day", "Friday 18:00-22:00"."""
        shift = self.shift()
        if shift is not None:
            return shift.label
        if not self.weekdays:
            return "Every day, all day"
        days = Shift(self.weekdays, time(0), time(1)).days_label
        return f"{days}, all day"


@dataclass(frozen=True)
class WhenSelection:
    """The incidents a ``When`` keeps, and how many it had to leave out because they lack a time.

    ``left_out_month_only`` were dated to the month only (police.uk), so neither their weekday
    nor their hour is known; ``left_out_no_time`` have a day but no time of day and only count
    against a time band. ``note`` says so in a sentence, or is empty when nothing was left out.
    """

    incidents: pd.DataFrame
    total: int
    left_out_month_only: int
    left_out_no_time: int

    @property
    def left_out(self) -> int:
        """How many incidents the day and time filters could not place."""
        return self.left_out_month_only + self.left_out_no_time

    @property
    def note(self) -> str:
        """The sentence the page shows about what was left out, or ""."""
        if not self.left_out:
            return ""
        reasons = []
        if self.left_out_month_only:
            verb = "is" if self.left_out_month_only == 1 else "are"
            reasons.append(
                f"{self.left_out_month_only:,} {verb} dated to the month only (police.uk "
                "publishes no day or time of day)"
            )
        if self.left_out_no_time:
            verb = "was" if self.left_out_no_time == 1 else "were"
            reasons.append(f"{self.left_out_no_time:,} {verb} recorded without a time of day")
        return (
            f"{self.left_out:,} of {self.total:,} incidents are left out because the day and "
            f"time filters cannot apply to them: {' and '.join(reasons)}. "
            "Clear the day and time filters to count them."
        )


def select_when(incidents: pd.DataFrame, when: When) -> WhenSelection:
    """The incidents inside ``when``; those whose day or hour is unknown are left out and counted.

    A weekday filter needs the day (``date_precision`` "day"); a time band needs the time of day
    (``occurred_at``). Incidents without them are never treated as happening at midnight or on
    the first of the month: they are left out, and ``WhenSelection.note`` says how many and why.
    """
    require_columns(incidents, ("occurred_on", "occurred_at", "date_precision"), "incidents")
    total = len(incidents)
    if not when.filters:
        return WhenSelection(incidents, total, 0, 0)
    known_day = (incidents["date_precision"].astype(str) == "day").to_numpy()
    known_time = known_day & incidents["occurred_at"].notna().to_numpy()
    weekday = pd.to_datetime(incidents["occurred_on"]).dt.day_of_week.to_numpy()
    shift = when.shift()
    if shift is not None:
        inside = known_time & shift.window_mask(incidents["occurred_at"])
        # a day without a time is unplaceable only on a day the band touches: its own days,
        # and the next ones when it runs past midnight
        touched = np.isin(weekday, shift.weekdays)
        if shift.crosses_midnight:
            touched |= np.isin((weekday - 1) % 7, shift.weekdays)
        no_time = int((known_day & ~known_time & touched).sum())
    else:
        inside = known_day & np.isin(weekday, when.weekdays)
        no_time = 0
    return WhenSelection(
        incidents=incidents[inside],
        total=total,
        left_out_month_only=int((~known_day).sum()),
        left_out_no_time=no_time,
    )


@dataclass(frozen=True)
class HotspotOptions:
    """How the statistics are run (hashable: it keys the page's caches)."""

    harm_weighted: bool = False
    neighbourhood: str = "queen"  # a key of NEIGHBOURHOODS
    min_count: int = hotspot_stats.DEFAULT_MIN_COUNT
    bandwidth_m: float = DEFAULT_BANDWIDTH_M
    permutations: int = hotspot_stats.DEFAULT_PERMUTATIONS

    def __post_init__(self) -> None:
        if self.neighbourhood not in NEIGHBOURHOODS:
            raise InvalidInput(
                f"Neighbourhood must be one of {', '.join(NEIGHBOURHOODS)}; "
                f"got {self.neighbourhood!r}"
            )
        if self.min_count < 0:
            raise InvalidInput(
                f"The small-numbers threshold must be 0 or more, got {self.min_count}"
            )
        if not self.bandwidth_m > 0:
            raise InvalidInput(f"The kernel bandwidth must be positive, got {self.bandwidth_m}")


@dataclass(frozen=True)
class HotspotAnalysis:
    """Gi* classes and concentration of one set of incidents on the grid.

    ``cells`` is the whole grid (EPSG:27700) with ``cell_id``, ``ward_code``,
    ``incident_count``, ``harm`` (when harm-weighted), ``gi_z``, ``gi_p``, ``gi_p_sim``,
    ``hotspot_class`` and ``x_bng``/``y_bng`` (the cell centre). The density surface is
    ``density_raster``'s, drawn only when asked for.
    ``value_column`` is what Gi* and the concentration measure: "incident_count" or "harm".
    """

    cells: gpd.GeoDataFrame
    value_column: str
    incidents_used: int
    weights: str
    correction: str
    small_numbers: str
    concentration: hotspot_stats.Concentration
    lorenz: pd.DataFrame
    harm_index: hotspot_stats.HarmIndex | None = None
    class_counts: dict[str, int] = field(default_factory=dict)

    @property
    def hot_cells(self) -> gpd.GeoDataFrame:
        """The cells classed hot, strongest first."""
        return sort_by_strength(self.cells[self.cells["hotspot_class"].isin(HOT)])

    @property
    def method(self) -> str:
        """One paragraph saying what was computed, for the page and the brief."""
        measure = (
            f"harm ({self.harm_index.unit}, {self.harm_index.status} weights)"
            if self.harm_index is not None
            else "incident counts"
        )
        return (
            f"Getis-Ord Gi* on {measure} in {len(self.cells):,} cells; neighbours: "
            f"{self.weights}. {self.correction}; {self.small_numbers}."
        )


def analyse(
    incidents: pd.DataFrame,
    grid_bng: gpd.GeoDataFrame,
    options: HotspotOptions = HotspotOptions(),
    harm_index: hotspot_stats.HarmIndex | None = None,
    cell_size_m: float = hotspots.DEFAULT_CELL_SIZE_M,
) -> HotspotAnalysis:
    """Count (or weigh) ``incidents`` on ``grid_bng`` and run Gi* and concentration.

    ``grid_bng`` is the borough's whole grid (``hotspots.borough_grid``): Gi* compares each
    neighbourhood with the mean of every cell, so the grid must not be cut to a few wards.
    ``harm_index`` is required when ``options.harm_weighted``. Raises ValueError for a grid
    not in EPSG:27700, InvalidInput for harm weighting without an index.
    """
    require_columns(incidents, ("x_bng", "y_bng", "category"), "incidents")
    x_bng = incidents["x_bng"].to_numpy(dtype=float)
    y_bng = incidents["y_bng"].to_numpy(dtype=float)
    cells = hotspots.count_on_grid(grid_bng, x_bng, y_bng, cell_size_m)
    value_column, weights, index = "incident_count", None, None
    if options.harm_weighted:
        if harm_index is None:
            raise InvalidInput("Harm weighting needs a harm index; none is configured")
        index = harm_index
        weights = hotspot_stats.harm_weights(
            incidents["category"].astype(str), harm_index.weights
        ).to_numpy()
        cells = hotspot_stats.harm_on_grid(cells, x_bng, y_bng, weights, cell_size_m)
        value_column = "harm"
    gi = hotspot_stats.getis_ord_gi_star(
        cells,
        value_column=value_column,
        k=8 if options.neighbourhood == "knn8" else None,
        permutations=options.permutations,
        min_count=options.min_count,
    )
    centres = gi.geometry.centroid
    gi["x_bng"], gi["y_bng"] = centres.x.to_numpy(), centres.y.to_numpy()
    values = gi[value_column]
    counts = gi["hotspot_class"].value_counts()
    return HotspotAnalysis(
        cells=gi,
        value_column=value_column,
        incidents_used=len(incidents),
        weights=gi.attrs["weights"],
        correction=gi.attrs["correction"],
        small_numbers=gi.attrs["small_numbers"],
        concentration=hotspot_stats.concentration(values),
        lorenz=hotspot_stats.lorenz(values),
        harm_index=index,
        class_counts={label: int(counts.get(label, 0)) for label in hotspot_stats.HOTSPOT_CLASSES},
    )


def sort_by_strength(cells: pd.DataFrame) -> pd.DataFrame:
    """Hot 99% before 95% before 90% (then cold), then by z-score and count, then cell id."""
    order = {label: rank for rank, label in enumerate(hotspot_stats.HOTSPOT_CLASSES)}
    return (
        cells.assign(_class=cells["hotspot_class"].map(order))
        .sort_values(
            ["_class", "gi_z", "incident_count", "cell_id"],
            ascending=[True, False, False, True],
            kind="stable",
        )
        .drop(columns="_class")
    )


def hotspot_table(
    analysis: HotspotAnalysis, ward_names: dict[str, str], ward_codes: tuple[str, ...] = ()
) -> pd.DataFrame:
    """The significant cells (hot and cold) in the chosen wards, as a table people can read."""
    cells = analysis.cells[analysis.cells["hotspot_class"].isin(HOT + COLD)]
    if ward_codes:
        cells = cells[cells["ward_code"].isin(ward_codes)]
    cells = sort_by_strength(cells)
    longitude, latitude = bng_to_wgs84(cells["x_bng"].to_numpy(), cells["y_bng"].to_numpy())
    table = pd.DataFrame(
        {
            "Cell": cells["cell_id"].to_numpy(),
            "Class": cells["hotspot_class"].to_numpy(),
            "Ward": cells["ward_code"].map(ward_names).fillna("").to_numpy(),
            "Incidents": cells["incident_count"].to_numpy(),
            "Gi* z": cells["gi_z"].round(2).to_numpy(),
            "p (two-sided)": cells["gi_p"].to_numpy(),
            "Latitude": np.round(latitude, 5),
            "Longitude": np.round(longitude, 5),
        }
    )
    if analysis.value_column == "harm":
        table.insert(4, "Harm", cells["harm"].round(0).to_numpy())
    return table


def weekday_hour_counts(incidents: pd.DataFrame) -> pd.DataFrame:
    """Incidents with a time of day counted by weekday (rows, Monday first) and hour (0-23).

    Incidents without a time (police.uk's month-only dates, or an extract's blank time) are not
    counted: ``attrs["without_time"]`` says how many.
    """
    require_columns(incidents, ("occurred_at",), "incidents")
    timed = pd.to_datetime(incidents["occurred_at"]).dropna()
    table = pd.crosstab(timed.dt.day_of_week, timed.dt.hour).reindex(
        index=range(7), columns=range(24), fill_value=0
    )
    table.index = list(WEEKDAY_NAMES)
    table.columns = [f"{hour:02d}" for hour in range(24)]
    table = table.astype(np.int64)
    table.attrs["without_time"] = len(incidents) - len(timed)
    return table


def repeat_places(
    incidents: pd.DataFrame,
    cells_bng: gpd.GeoDataFrame,
    ward_names: dict[str, str],
    min_count: int = 2,
    cell_size_m: float = hotspots.DEFAULT_CELL_SIZE_M,
) -> pd.DataFrame:
    """Places where incidents recurred in the period, with their ward, cell and class.

    Places are police.uk's snapping points or, for exact coordinates, 10 m squares
    (``hotspot_stats.repeat_locations``).
    """
    places = hotspot_stats.repeat_locations(incidents, min_count=min_count)
    if places.empty:
        return pd.DataFrame(
            columns=["Place", "Incidents", "First", "Last", "Ward", "Cell", "Cell class"]
        )
    size = cell_size_m
    cell_ids = [
        f"{math.floor(x / size) * size:.0f}_{math.floor(y / size) * size:.0f}"
        for x, y in zip(places["x_bng"], places["y_bng"], strict=True)
    ]
    by_cell = cells_bng.set_index("cell_id")
    longitude, latitude = bng_to_wgs84(places["x_bng"].to_numpy(), places["y_bng"].to_numpy())
    ward = pd.Series(cell_ids).map(by_cell["ward_code"]).map(ward_names)
    return pd.DataFrame(
        {
            "Place": [
                f"{lat:.5f}, {lon:.5f}" for lat, lon in zip(latitude, longitude, strict=True)
            ],
            "Incidents": places["incident_count"].to_numpy(),
            "First": pd.to_datetime(places["first_on"]).dt.date.to_numpy(),
            "Last": pd.to_datetime(places["last_on"]).dt.date.to_numpy(),
            "Ward": ward.fillna("Outside the borough").to_numpy(),
            "Cell": cell_ids,
            "Cell class": pd.Series(cell_ids)
            .map(by_cell["hotspot_class"])
            .fillna("outside the grid")
            .to_numpy(),
        }
    )


def concentration_table(analysis: HotspotAnalysis) -> pd.DataFrame:
    """The share of incidents (or harm) in the busiest 1%, 5% and 10% of cells."""
    figures = analysis.concentration
    what = "harm" if analysis.value_column == "harm" else "incidents"
    rows = [
        ("1%", figures.top_1pct_cells, figures.top_1pct_share),
        ("5%", figures.top_5pct_cells, figures.top_5pct_share),
        ("10%", figures.top_10pct_cells, figures.top_10pct_share),
    ]
    return pd.DataFrame(
        {
            "Busiest cells": [share for share, _, _ in rows],
            "Cells": [cells for _, cells, _ in rows],
            f"Share of {what}": [
                "none" if math.isnan(value) else f"{value:.0%}" for _, _, value in rows
            ],
        }
    )


@dataclass(frozen=True)
class AssetsAgainstNeed:
    """Each asset's nearby need, and the hot cells no asset is near."""

    assets: pd.DataFrame
    uncovered: pd.DataFrame
    distance_m: float


def assets_against_need(
    analysis: HotspotAnalysis,
    incidents: pd.DataFrame,
    assets_wgs84: gpd.GeoDataFrame,
    ward_names: dict[str, str],
    distance_m: float = DEFAULT_WALKING_DISTANCE_M,
) -> AssetsAgainstNeed:
    """Incidents and hot cells within ``distance_m`` of each asset; hot cells with no asset near.

    Distances are straight lines in metres (EPSG:27700): to an incident's point, and to a hot
    cell's centre. ``assets_wgs84`` has ``name``, ``kind`` (a readable label) and points.
    """
    if not distance_m > 0:
        raise InvalidInput(f"The walking distance must be positive, got {distance_m}")
    hot = analysis.hot_cells
    hot_xy = hot[["x_bng", "y_bng"]].to_numpy(dtype=float)
    incident_xy = incidents[["x_bng", "y_bng"]].to_numpy(dtype=float)
    rows = []
    asset_xy = np.empty((0, 2))
    if not assets_wgs84.empty:
        points = assets_wgs84.to_crs(BNG).geometry
        asset_xy = np.column_stack([points.x.to_numpy(), points.y.to_numpy()])
        for (_, asset), (ax, ay) in zip(assets_wgs84.iterrows(), asset_xy, strict=True):
            near_incidents = np.hypot(incident_xy[:, 0] - ax, incident_xy[:, 1] - ay) <= distance_m
            near_hot = np.hypot(hot_xy[:, 0] - ax, hot_xy[:, 1] - ay) <= distance_m
            rows.append(
                {
                    "Asset": asset["name"],
                    "Kind": asset["kind"],
                    "Incidents near": int(near_incidents.sum()),
                    "Hot cells near": int(near_hot.sum()),
                    "Hottest near": _strongest(hot["hotspot_class"].to_numpy()[near_hot]),
                }
            )
    table = pd.DataFrame(
        rows, columns=["Asset", "Kind", "Incidents near", "Hot cells near", "Hottest near"]
    ).sort_values(["Incidents near", "Asset"], ascending=[False, True], ignore_index=True)
    if len(asset_xy) and len(hot_xy):
        gaps = np.hypot(
            hot_xy[:, None, 0] - asset_xy[None, :, 0], hot_xy[:, None, 1] - asset_xy[None, :, 1]
        )
        nearest = gaps.min(axis=1)
    else:
        nearest = np.full(len(hot_xy), np.inf)
    lonely = hot[nearest > distance_m]
    uncovered = pd.DataFrame(
        {
            "Cell": lonely["cell_id"].to_numpy(),
            "Class": lonely["hotspot_class"].to_numpy(),
            "Ward": lonely["ward_code"].map(ward_names).fillna("").to_numpy(),
            "Incidents": lonely["incident_count"].to_numpy(),
            "Nearest asset (m)": [
                None if math.isinf(gap) else round(gap) for gap in nearest[nearest > distance_m]
            ],
        }
    )
    return AssetsAgainstNeed(table, uncovered, distance_m)


def _strongest(classes: np.ndarray) -> str:
    for label in HOT:
        if label in classes:
            return label
    return "none"


@dataclass(frozen=True, eq=False)
class DensityRaster:
    """A kernel density surface on a fine lattice, for drawing as an image over the map.

    ``values`` (per km², NaN outside the area) has one row per latitude from north to south and
    one column per longitude from west to east; ``bounds_wgs84`` is (south, west, north, east)
    of the pixels' outer edges.
    """

    values: np.ndarray
    bounds_wgs84: tuple[float, float, float, float]
    pixel_m: float
    bandwidth_m: float


def density_raster(
    incidents: pd.DataFrame,
    area_wgs84: object,
    bandwidth_m: float = DEFAULT_BANDWIDTH_M,
    weights: np.ndarray | None = None,
    pixel_m: float = 50.0,
) -> DensityRaster:
    """The quartic kernel density of ``incidents`` every ``pixel_m`` metres over ``area_wgs84``.

    The lattice is regular in longitude and latitude, so the image lies exactly on the map;
    pixels are about ``pixel_m`` square. Pixels outside the area (a shapely geometry in
    EPSG:4326, e.g. the borough) are NaN. The kernel is ``hotspot_stats.kernel_density``'s,
    computed the way density surfaces are at scale: incidents are counted into the pixels
    (moving each by at most half a pixel), and the counts are convolved with the kernel by FFT.
    A million incidents take about a second instead of minutes.
    """
    if not pixel_m > 0:
        raise InvalidInput(f"The pixel size must be positive, got {pixel_m}")
    if not bandwidth_m > 0:
        raise InvalidInput(f"The kernel bandwidth must be positive, got {bandwidth_m}")
    west, south, east, north = area_wgs84.bounds
    middle = math.radians((south + north) / 2)
    metres_per_degree = 111_320.0  # of latitude; of longitude times cos(latitude)
    columns = max(2, math.ceil((east - west) * metres_per_degree * math.cos(middle) / pixel_m))
    rows = max(2, math.ceil((north - south) * metres_per_degree / pixel_m))
    step_x, step_y = (east - west) / columns, (north - south) / rows
    width_m = step_x * metres_per_degree * math.cos(middle)
    height_m = step_y * metres_per_degree
    # pad by the kernel's reach, so incidents just outside the area still count inside it
    pad_x, pad_y = math.ceil(bandwidth_m / width_m), math.ceil(bandwidth_m / height_m)

    counts = np.zeros((rows + 2 * pad_y, columns + 2 * pad_x))
    if len(incidents):
        longitude, latitude = bng_to_wgs84(
            incidents["x_bng"].to_numpy(dtype=float), incidents["y_bng"].to_numpy(dtype=float)
        )
        column = np.floor((longitude - west) / step_x).astype(np.int64) + pad_x
        row = np.floor((north - latitude) / step_y).astype(np.int64) + pad_y
        on_lattice = (
            (column >= 0) & (column < counts.shape[1]) & (row >= 0) & (row < counts.shape[0])
        )
        mass = np.ones(len(incidents)) if weights is None else np.asarray(weights, dtype=float)
        counts = np.bincount(
            row[on_lattice] * counts.shape[1] + column[on_lattice],
            weights=mass[on_lattice],
            minlength=counts.size,
        ).reshape(counts.shape)

    offset_x = np.arange(-pad_x, pad_x + 1) * width_m
    offset_y = np.arange(-pad_y, pad_y + 1) * height_m
    kernel = hotspot_stats.quartic_kernel(
        offset_y[:, None] ** 2 + offset_x[None, :] ** 2, bandwidth_m
    )
    smooth = fftconvolve(counts, kernel, mode="same")[pad_y : pad_y + rows, pad_x : pad_x + columns]
    density = np.clip(smooth, 0.0, None) * hotspot_stats.M2_PER_KM2  # FFT leaves -1e-17s

    longitude = west + step_x * (np.arange(columns) + 0.5)
    latitude = north - step_y * (np.arange(rows) + 0.5)
    lon_grid, lat_grid = np.meshgrid(longitude, latitude)
    inside = shapely.contains_xy(area_wgs84, lon_grid, lat_grid)
    return DensityRaster(
        np.where(inside, density, np.nan), (south, west, north, east), pixel_m, bandwidth_m
    )
