"""Write the Community Safety Map's demo data set for Wandsworth into ``geodata/demo/``.

SYNTHETIC DATA. Everything this script writes is invented for demonstration, except:

- the 22 ward boundaries and the borough outline (ONS, Open Government Licence v3.0), which it reads
  from ``geodata/`` and does not change;
- the sites of the two knife amnesty bins (outside Roehampton Library, and at St George's Hospital,
  Atkinson Morley Wing), which the council publishes.

The Community Safety Officers, their contacts and ward assignments, the Youth Bus stops and
schedule, ward populations, incidents and problem-solving plans are made up. People's names are
fictional and e-mail addresses use the reserved ``example.org`` domain. Incident places and times
have a plausible structure (town-centre and estate clusters, evening and weekend peaks, a seasonal
swing) so that maps and figures have something to show; they say nothing about real crime in
Wandsworth.

The output is a pure function of the seed: the same ``--seed`` writes the same bytes on every run
(sorted rows, fixed float formats, gzip with mtime 0, no generation timestamps).

Run from the project root::

    python geodata/generate_demo.py [--out geodata/demo] [--seed 2022]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import logging
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from pyproj.enums import TransformDirection

log = logging.getLogger(__name__)

GEODATA_DIR = Path(__file__).resolve().parent
DEFAULT_OUT_DIR = GEODATA_DIR / "demo"
WARDS_FILE = GEODATA_DIR / "wandsworth_wards_2022.geojson"
BOROUGH_FILE = GEODATA_DIR / "wandsworth_borough_lad22.geojson"
DEFAULT_SEED = 2022

OUTPUT_FILES = (
    "csos.csv",
    "cso_assignments.csv",
    "assets.csv",
    "youth_bus_visits.csv",
    "ward_population.csv",
    "incidents.csv.gz",
    "plans.json",
    "places.geojson",
)

INCIDENTS_START = date(2023, 11, 1)
INCIDENTS_END = date(2026, 10, 31)  # inclusive: three full years
INCIDENTS_PER_YEAR = 5_000

# EPSG:27700 -> EPSG:4326 by "OSGB36 to WGS 84 (6)", the Helmert transformation PROJ picks when the
# OSTN15 grid is not installed. Pinned so that a machine that has the grid (which moves points by a
# metre or two) still writes the same 6-decimal coordinates, byte for byte.
BNG_TO_WGS84_PIPELINE = (
    "+proj=pipeline "
    "+step +inv +proj=tmerc +lat_0=49 +lon_0=-2 +k=0.9996012717 +x_0=400000 +y_0=-100000 "
    "+ellps=airy "
    "+step +proj=push +v_3 "
    "+step +proj=cart +ellps=airy "
    "+step +proj=helmert +x=446.448 +y=-125.157 +z=542.06 +rx=0.15 +ry=0.247 +rz=0.842 "
    "+s=-20.489 +convention=position_vector "
    "+step +inv +proj=cart +ellps=WGS84 "
    "+step +proj=pop +v_3 "
    "+step +proj=unitconvert +xy_in=rad +xy_out=deg"
)

# Points are drawn at least this far inside both the borough outline and the union of the wards.
# The two outlines differ by up to ~20 m (different generalisations), and every incident must fall
# in a ward when the importer joins it, whichever outline and transformation it uses.
EDGE_MARGIN_M = 25.0

AGE_BANDS = ("0-9", "10-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")


# --------------------------------------------------------------------------------------------
# Coordinates
# --------------------------------------------------------------------------------------------


def _transformer() -> Transformer:
    # Built per call (a few ms) rather than held at module level: no shared mutable state.
    return Transformer.from_pipeline(BNG_TO_WGS84_PIPELINE)


def bng_to_lonlat(x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert British National Grid metres (EPSG:27700) to WGS84 longitude and latitude."""
    lon, lat = _transformer().transform(np.asarray(x_m, float), np.asarray(y_m, float))
    return np.asarray(lon, float), np.asarray(lat, float)


def lonlat_to_bng(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 longitude and latitude to British National Grid metres (EPSG:27700)."""
    x_m, y_m = _transformer().transform(
        np.asarray(lon, float), np.asarray(lat, float), direction=TransformDirection.INVERSE
    )
    return np.asarray(x_m, float), np.asarray(y_m, float)


def _apply(
    geometry: shapely.Geometry, convert: Callable[..., tuple[np.ndarray, np.ndarray]]
) -> shapely.Geometry:
    return shapely.transform(geometry, lambda xy: np.column_stack(convert(xy[:, 0], xy[:, 1])))


def geometry_to_bng(geometry: shapely.Geometry) -> shapely.Geometry:
    """Project a WGS84 geometry to British National Grid with the pinned transformation."""
    return _apply(geometry, lonlat_to_bng)


def geometry_to_wgs84(geometry: shapely.Geometry) -> shapely.Geometry:
    """Project a British National Grid geometry to WGS84 with the pinned transformation."""
    return _apply(geometry, bng_to_lonlat)


def _inside(geometry: shapely.Geometry, lon: Sequence[float], lat: Sequence[float]) -> np.ndarray:
    return shapely.contains_xy(geometry, np.asarray(lon, float), np.asarray(lat, float))


def _require_inside(
    borough_wgs84: shapely.Geometry, lon: Sequence[float], lat: Sequence[float], what: str
) -> None:
    outside = int((~_inside(borough_wgs84, lon, lat)).sum())
    if outside:
        raise ValueError(f"{outside} {what} lie outside the borough; fix their coordinates")


def load_boundaries(
    wards_path: Path = WARDS_FILE, borough_path: Path = BOROUGH_FILE
) -> tuple[gpd.GeoDataFrame, shapely.Geometry]:
    """Read the ONS wards and borough outline.

    Returns the wards (``ward_code``, ``ward_name``, geometry; EPSG:4326; sorted by code) and the
    borough as one (Multi)Polygon in EPSG:4326. ValueError when a file is not WGS84 or lacks the
    ONS ward columns.
    """
    wards = gpd.read_file(wards_path)
    borough = gpd.read_file(borough_path)
    for name, frame in (("wards", wards), ("borough", borough)):
        if frame.crs is None or frame.crs.to_epsg() != 4326:
            raise ValueError(f"the {name} file must be GeoJSON in EPSG:4326, got CRS {frame.crs}")
    missing = {"WD22CD", "WD22NM"} - set(wards.columns)
    if missing:
        raise ValueError(f"the wards file lacks the ONS columns {sorted(missing)}")
    wards = wards.rename(columns={"WD22CD": "ward_code", "WD22NM": "ward_name"})
    wards = wards[["ward_code", "ward_name", "geometry"]].sort_values(
        "ward_code", ignore_index=True
    )
    return wards, shapely.union_all(borough.geometry.to_numpy())


def _sampling_region_bng(
    wards: gpd.GeoDataFrame, borough_wgs84: shapely.Geometry
) -> shapely.Geometry:
    borough_bng = geometry_to_bng(borough_wgs84)
    wards_bng = geometry_to_bng(shapely.union_all(wards.geometry.to_numpy()))
    region = shapely.intersection(
        borough_bng.buffer(-EDGE_MARGIN_M), wards_bng.buffer(-EDGE_MARGIN_M)
    )
    shapely.prepare(region)
    return region


# --------------------------------------------------------------------------------------------
# CSOs and their wards
# --------------------------------------------------------------------------------------------


class Cso(NamedTuple):
    """A fictional Community Safety Officer."""

    cso_key: str
    display_name: str


CSOS = (
    Cso("cso1", "Priya Okafor"),
    Cso("cso2", "Daniel Szabo-Mensah"),
    Cso("cso3", "Aisha Lindqvist"),
    Cso("cso4", "Tomasz Achebe"),
    Cso("cso5", "Grace Mwangi-Hale"),
    Cso("cso6", "Samir Ferreira"),
    Cso("cso7", "Chloe Nakamura-Banks"),
)

ASSIGNMENTS_FROM = "2023-04-01"
# Neighbouring wards go together so that a CSO's patch is one walkable area (checked below).
CURRENT_WARDS = MappingProxyType(
    {
        "cso1": ("E05014017", "E05014030", "E05014029"),  # Roehampton, West Putney, West Hill
        "cso2": ("E05014011", "E05014022", "E05014021"),  # East Putney, Thamesfield, Southfields
        # Wandsworth Town, Wandle, Wandsworth Common
        "cso3": ("E05014028", "E05014026", "E05014027"),
        "cso4": ("E05014024", "E05014023", "E05014013"),  # Tooting Broadway, Tooting Bec, Furzedown
        "cso5": ("E05014009", "E05014020", "E05014025"),  # Balham, South Balham, Trinity
        # St Mary's, Falconbrook, Lavender, Northcote: Clapham Junction and the York Road estates
        "cso6": ("E05014018", "E05014012", "E05014014", "E05014016"),
        "cso7": ("E05014015", "E05014010", "E05014019"),  # Nine Elms, Battersea Park, Shaftesbury
    }
)
# Three wards moved at the 2023 reorganisation, so the app has history to show.
HISTORICAL_ASSIGNMENTS = (
    ("cso3", "E05014021", "2022-05-05", "2023-03-31"),  # Southfields, then with Wandsworth Town
    ("cso5", "E05014016", "2022-05-05", "2023-03-31"),  # Northcote, then with Balham
    ("cso4", "E05014025", "2022-05-05", "2023-03-31"),  # Trinity, then with Tooting
)


def generate_csos() -> pd.DataFrame:
    """Seven fictional CSOs: ``cso_key``, ``display_name``, ``contact`` (an example.org address)."""
    rows = [
        {
            "cso_key": cso.cso_key,
            "display_name": cso.display_name,
            "contact": cso.display_name.lower().replace(" ", ".") + "@example.org",
        }
        for cso in CSOS
    ]
    return pd.DataFrame(rows).sort_values("cso_key", ignore_index=True)


def _ward_neighbours(wards: gpd.GeoDataFrame) -> dict[str, set[str]]:
    wards_bng = [geometry_to_bng(geometry) for geometry in wards.geometry]
    codes = wards["ward_code"].tolist()
    neighbours: dict[str, set[str]] = {code: set() for code in codes}
    for i, geometry in enumerate(wards_bng):
        # 1 m tolerance: neighbouring wards share vertices, but rounding can open hairline gaps
        touching = shapely.intersects(geometry.buffer(1.0), wards_bng)
        neighbours[codes[i]] = {codes[j] for j in np.flatnonzero(touching) if j != i}
    return neighbours


def _is_contiguous(codes: Sequence[str], neighbours: Mapping[str, set[str]]) -> bool:
    reached, frontier = {codes[0]}, [codes[0]]
    while frontier:
        for other in neighbours[frontier.pop()] & set(codes):
            if other not in reached:
                reached.add(other)
                frontier.append(other)
    return reached == set(codes)


def generate_cso_assignments(wards: gpd.GeoDataFrame) -> pd.DataFrame:
    """Assign every ward to one CSO from 2023-04-01, plus a few earlier (closed) assignments.

    Returns ``cso_key``, ``ward_code``, ``valid_from``, ``valid_to`` (ISO dates; empty while
    current), sorted. ValueError if a ward has no current CSO or two, or a CSO's wards do not
    touch each other.
    """
    codes = set(wards["ward_code"])
    assigned = [code for ward_codes in CURRENT_WARDS.values() for code in ward_codes]
    if sorted(assigned) != sorted(codes):
        raise ValueError(
            f"each ward needs exactly one current CSO; unassigned {sorted(codes - set(assigned))}, "
            f"unknown or repeated {sorted(c for c in set(assigned) if assigned.count(c) != 1)}"
        )
    neighbours = _ward_neighbours(wards)
    for cso_key, ward_codes in CURRENT_WARDS.items():
        if not _is_contiguous(ward_codes, neighbours):
            raise ValueError(f"{cso_key}'s wards {ward_codes} do not form one contiguous area")
    rows = [
        (cso_key, code, ASSIGNMENTS_FROM, "")
        for cso_key, ward_codes in CURRENT_WARDS.items()
        for code in ward_codes
    ]
    rows += list(HISTORICAL_ASSIGNMENTS)
    frame = pd.DataFrame(rows, columns=["cso_key", "ward_code", "valid_from", "valid_to"])
    return frame.sort_values(["cso_key", "ward_code", "valid_from"], ignore_index=True)


# --------------------------------------------------------------------------------------------
# Assets: the two real knife bins and the Youth Bus stops
# --------------------------------------------------------------------------------------------


class AssetSpec(NamedTuple):
    """One mapped place; coordinates in WGS84 degrees."""

    asset_key: str
    kind: str
    name: str
    address: str
    latitude: float
    longitude: float
    public: bool
    guidance: str
    notes: str


KNIFE_BIN_GUIDANCE = (
    "This knife amnesty bin is for handing in knives and other weapons anonymously: no questions "
    "asked and no details taken. Wrap any blade in newspaper or cardboard and put it in a bag, do "
    "not carry it openly, and bring it straight here without stopping on the way. The bin is "
    "managed with the charity Word 4 Weapons. If someone is in danger, call 999."
)

ASSETS = (
    # The two real bins. Roehampton's point is on the pavement outside the library.
    AssetSpec(
        "bin-roehampton-library",
        "knife_bin",
        "Roehampton Library knife amnesty bin",
        "Roehampton Library, Danebury Avenue, London SW15 4HD",
        51.44966,
        -0.24493,
        True,
        KNIFE_BIN_GUIDANCE,
        "Upgraded to a larger unit. Emptied fortnightly by Word 4 Weapons; "
        "contact via the CSO team.",
    ),
    AssetSpec(
        "bin-st-georges-hospital",
        "knife_bin",
        "St George's Hospital knife amnesty bin",
        "St George's Hospital, Atkinson Morley Wing, Blackshaw Road, London SW17 0QT",
        51.42722,
        -0.17615,
        True,
        KNIFE_BIN_GUIDANCE,
        "Emptied fortnightly by Word 4 Weapons; contact via the CSO team.",
    ),
    # Youth Bus stops (synthetic places, chosen where the bus plausibly parks): internal only.
    AssetSpec(
        "bus-alton-estate",
        "youth_bus_stop",
        "Youth Bus: Alton Estate",
        "Danebury Avenue, by the shops, Roehampton, London SW15",
        51.45020,
        -0.24600,
        False,
        "",
        "Parks by the Danebury Avenue shops; estate office told of each visit.",
    ),
    AssetSpec(
        "bus-winstanley-york-gardens",
        "youth_bus_stop",
        "Youth Bus: Winstanley Estate and York Gardens",
        "York Gardens, Lavender Road, Battersea, London SW11",
        51.46640,
        -0.17580,
        False,
        "",
        "Regeneration works nearby; check the access road is open before each visit.",
    ),
    AssetSpec(
        "bus-doddington-rollo",
        "youth_bus_stop",
        "Youth Bus: Doddington and Rollo",
        "Doddington and Rollo estate, off Battersea Park Road, London SW11",
        51.47280,
        -0.15480,
        False,
        "",
        "CSO for the area attends the first session each month.",
    ),
    AssetSpec(
        "bus-totterdown-fields",
        "youth_bus_stop",
        "Youth Bus: Tooting, Totterdown Fields",
        "Totterdown Street, Tooting, London SW17",
        51.43110,
        -0.16550,
        False,
        "",
        "Near Tooting Broadway; busy on Saturdays, arrive early to park.",
    ),
    AssetSpec(
        "bus-putney-vale",
        "youth_bus_stop",
        "Youth Bus: Putney Vale",
        "Putney Vale estate, off Kingston Road, London SW15",
        51.43950,
        -0.24250,
        False,
        "",
        "Few other youth services nearby; attendance is recorded for the Alton plan.",
    ),
    AssetSpec(
        "bus-earlsfield-garratt-lane",
        "youth_bus_stop",
        "Youth Bus: Earlsfield, Garratt Lane",
        "Garratt Lane near Earlsfield station, London SW18",
        51.44250,
        -0.18850,
        False,
        "",
        "Wandle Valley pitch; shares the slot with detached youth workers.",
    ),
    AssetSpec(
        "bus-patmore-estate",
        "youth_bus_stop",
        "Youth Bus: Patmore Estate",
        "Patmore Estate, Patmore Street, London SW8",
        51.47480,
        -0.14120,
        False,
        "",
        "Tenants' association hall can be used in bad weather.",
    ),
    AssetSpec(
        "bus-furzedown",
        "youth_bus_stop",
        "Youth Bus: Furzedown",
        "Mitcham Lane, Furzedown, London SW16",
        51.42380,
        -0.15190,
        False,
        "",
        "New stop; review attendance after three months.",
    ),
)

# One bus: no two slots overlap, and same-day slots are in neighbouring areas.
YOUTH_BUS_VISITS = (
    ("bus-winstanley-york-gardens", 0, "15:30", "17:30", "arts, music"),
    ("bus-doddington-rollo", 0, "18:00", "20:30", "sport, bleed-kit training"),
    ("bus-alton-estate", 1, "15:30", "17:30", "sport, music"),
    ("bus-putney-vale", 1, "18:00", "20:30", "arts, sexual-health resources"),
    ("bus-totterdown-fields", 2, "15:30", "17:30", "music, bleed-kit training"),
    ("bus-furzedown", 2, "18:00", "20:30", "sport, sexual-health resources"),
    ("bus-earlsfield-garratt-lane", 3, "15:30", "17:30", "arts, sport"),
    ("bus-patmore-estate", 3, "18:00", "20:30", "music, sexual-health resources"),
    ("bus-putney-vale", 4, "15:30", "17:30", "sport"),
    ("bus-alton-estate", 4, "18:00", "21:30", "sport, bleed-kit training"),
    ("bus-totterdown-fields", 5, "12:00", "14:30", "arts, sport"),
    ("bus-winstanley-york-gardens", 5, "15:30", "18:00", "music, bleed-kit training"),
)


def generate_assets(borough_wgs84: shapely.Geometry) -> pd.DataFrame:
    """Two real knife bins (public) and eight Youth Bus stops (internal), sorted by ``asset_key``.

    Coordinates are formatted to 6 decimals. ValueError if any point is outside the borough.
    """
    _require_inside(
        borough_wgs84,
        [asset.longitude for asset in ASSETS],
        [asset.latitude for asset in ASSETS],
        "assets",
    )
    rows = [
        {
            "asset_key": asset.asset_key,
            "kind": asset.kind,
            "name": asset.name,
            "address": asset.address,
            "longitude": f"{asset.longitude:.6f}",
            "latitude": f"{asset.latitude:.6f}",
            "public": "true" if asset.public else "false",
            "guidance": asset.guidance,
            "notes": asset.notes,
        }
        for asset in ASSETS
    ]
    return pd.DataFrame(rows).sort_values("asset_key", ignore_index=True)


def generate_youth_bus_visits() -> pd.DataFrame:
    """The Youth Bus's weekly schedule: ``asset_key``, ``weekday`` (0 = Monday), HH:MM times."""
    frame = pd.DataFrame(
        YOUTH_BUS_VISITS, columns=["asset_key", "weekday", "starts_at", "ends_at", "activity"]
    )
    stops = {asset.asset_key for asset in ASSETS if asset.kind == "youth_bus_stop"}
    unknown = sorted(set(frame["asset_key"]) - stops)
    if unknown:
        raise ValueError(f"Youth Bus visits name stops that are not assets: {unknown}")
    return frame.sort_values(["weekday", "starts_at", "asset_key"], ignore_index=True)


# --------------------------------------------------------------------------------------------
# Ward population
# --------------------------------------------------------------------------------------------


def generate_ward_population(wards: gpd.GeoDataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Synthetic residents per ward, 11,000-19,000, larger wards larger (about 330,000 in all).

    Grows with the logarithm of ward area rather than in proportion: Roehampton is five times
    the area of Lavender, but real ward sizes are kept within a narrow band of electors.
    """
    area_km2 = np.array([geometry_to_bng(g).area / 1e6 for g in wards.geometry])
    log_area = np.log(area_km2)
    z_score = (log_area - log_area.mean()) / log_area.std()
    population = 15_000 + 1_500 * z_score + rng.normal(0.0, 600.0, len(wards))
    population = np.clip(np.rint(population), 11_000, 19_000).astype(np.int64)
    frame = pd.DataFrame({"ward_code": wards["ward_code"].to_numpy(), "population": population})
    return frame.sort_values("ward_code", ignore_index=True)


# --------------------------------------------------------------------------------------------
# Incidents
# --------------------------------------------------------------------------------------------


class Cluster(NamedTuple):
    """A place where incidents concentrate; spreads are Gaussian standard deviations."""

    name: str
    kind: str  # "town_centre", "estate" or "development": which offences gather there
    latitude: float
    longitude: float
    spread_east_m: float
    spread_north_m: float
    weight: float
    growth_per_year: float  # 1.25: a quarter more of the borough's incidents each year


# fmt: off
CLUSTERS = (
    # Clapham Junction and Tooting are the heaviest; high streets are elongated along the road.
    # name, kind; latitude, longitude, spread east m, spread north m, weight, growth per year
    Cluster("Clapham Junction station and St John's Road", "town_centre",
            51.4643, -0.1697, 300, 260, 0.20, 1.0),
    Cluster("Wandsworth Town centre and Southside", "town_centre",
            51.4566, -0.1925, 280, 240, 0.11, 1.0),
    Cluster("Tooting Broadway", "town_centre",
            51.4275, -0.1682, 260, 300, 0.18, 1.05),
    Cluster("Putney High Street", "town_centre",
            51.4615, -0.2167, 150, 380, 0.10, 0.97),
    Cluster("Balham High Road", "town_centre",
            51.4432, -0.1524, 160, 400, 0.09, 1.0),
    # Regeneration is moving residents out of parts of the Alton Estate: slowly fewer incidents.
    Cluster("Alton Estate, Roehampton", "estate",
            51.4500, -0.2420, 350, 300, 0.08, 0.9),
    Cluster("Winstanley and York Road estates", "estate",
            51.4655, -0.1765, 250, 200, 0.08, 1.0),
    # New homes and the Power Station's footfall: the emerging hotspot of the demo.
    Cluster("Nine Elms and Battersea Power Station", "development",
            51.4815, -0.1445, 400, 250, 0.06, 1.25),
    Cluster("Doddington and Rollo estate", "estate",
            51.4725, -0.1560, 200, 180, 0.06, 1.0),
    Cluster("Earlsfield station", "town_centre",
            51.4423, -0.1876, 180, 200, 0.04, 1.1),
)
# fmt: on

# Large open spaces, roughly: background incidents are people's homes and streets, not commons.
OPEN_SPACES = (
    ("Wandsworth Common", 51.4510, -0.1700, 420.0),
    ("Tooting Common", 51.4335, -0.1510, 450.0),
    ("Battersea Park", 51.4793, -0.1570, 420.0),
    ("Putney Heath", 51.4460, -0.2300, 400.0),
)
TOWN_CENTRE_CORE_M = 250.0  # domestic abuse happens at home: keep it out of town-centre cores


class Offence(NamedTuple):
    """An offence as the police record it (a key of taxonomy.toml) and how the demo draws it."""

    name: str
    share_pct: float  # of all incidents, before normalising to 100
    domestic_abuse_rate: float
    knife_rate: float
    gun_rate: float
    group: str  # "violence", "robbery", "sexual" or "possession": where and when it happens
    age_profile: str  # key of AGE_PROFILES; "" for possession offences, which have no victim


# fmt: off
OFFENCES = (
    # name; share %, domestic-abuse rate, knife rate, gun rate, group, age profile
    Offence("Assault occasioning actual bodily harm",
            38.0, 0.35, 0.08, 0.002, "violence", "violence"),
    Offence("Wounding with intent to do grievous bodily harm",
            5.0, 0.15, 0.25, 0.03, "violence", "violence"),
    Offence("Inflicting grievous bodily harm without intent",
            8.0, 0.15, 0.08, 0.002, "violence", "violence"),
    Offence("Robbery of personal property",
            20.0, 0.0, 0.25, 0.01, "robbery", "robbery"),
    Offence("Sexual assault on a female aged 13 and over",
            6.0, 0.10, 0.01, 0.0, "sexual", "age_13_plus"),
    Offence("Sexual assault on a male aged 13 and over",
            1.0, 0.10, 0.01, 0.0, "sexual", "age_13_plus"),
    Offence("Rape of a female aged 16 or over",
            3.5, 0.35, 0.02, 0.0, "sexual", "age_16_plus"),
    Offence("Rape of a male aged 16 or over",
            0.3, 0.35, 0.02, 0.0, "sexual", "age_16_plus"),
    Offence("Assault by penetration",
            1.0, 0.35, 0.02, 0.0, "sexual", "age_13_plus"),
    Offence("Threats to kill",
            4.0, 0.35, 0.08, 0.01, "violence", "violence"),
    # Most London homicides are knife-enabled, hence the higher knife rate.
    Offence("Murder",
            0.15, 0.25, 0.6, 0.1, "violence", "violence"),
    Offence("Manslaughter",
            0.05, 0.0, 0.08, 0.0, "violence", "violence"),
    Offence("Possession of article with blade or point",
            8.0, 0.0, 1.0, 0.0, "possession", ""),
    Offence("Possession of offensive weapon",
            2.0, 0.0, 0.0, 0.0, "possession", ""),
    Offence("Possession of firearm with intent",
            0.3, 0.0, 0.0, 1.0, "possession", ""),
)
# fmt: on
OFFENCE_NAMES = tuple(offence.name for offence in OFFENCES)

# Probabilities over AGE_BANDS. Robbery victims are mostly teenagers and young adults; sexual
# offences named "aged 13/16 and over" cannot have a victim under 10.
AGE_PROFILES = MappingProxyType(
    {
        "violence": (0.02, 0.08, 0.15, 0.28, 0.21, 0.14, 0.08, 0.04),
        "robbery": (0.005, 0.33, 0.28, 0.19, 0.10, 0.055, 0.025, 0.015),
        "domestic": (0.01, 0.03, 0.14, 0.32, 0.26, 0.14, 0.06, 0.04),
        "age_13_plus": (0.0, 0.20, 0.30, 0.23, 0.13, 0.08, 0.04, 0.02),
        "age_16_plus": (0.0, 0.04, 0.33, 0.29, 0.17, 0.10, 0.05, 0.02),
    }
)


class TimeProfile(NamedTuple):
    """When a stream of incidents happens: hours, nights of the week, season and trend."""

    hour_weights: tuple[float, ...]  # 24 values, 0 = midnight to 1 am
    night_weights: tuple[float, ...]  # Monday..Sunday; a night's hours before 06:00 fall next day
    summer_swing: float  # 0.15: mid-July 15 % above the year's mean, mid-January 15 % below
    trend_per_year: float  # 0.97: three per cent fewer each year


GENERAL_HOURS = (1.5, 1.3, 1.1, 0.8, 0.45, 0.3, 0.3, 0.4, 0.55, 0.65, 0.75, 0.85,
                 0.95, 1.0, 1.05, 1.15, 1.3, 1.4, 1.6, 1.75, 1.85, 1.9, 1.9, 1.75)  # fmt: skip
# Robbery of young people peaks after school and into the evening.
ROBBERY_HOURS = (1.0, 0.8, 0.6, 0.4, 0.25, 0.15, 0.15, 0.3, 0.5, 0.5, 0.55, 0.65,
                 0.8, 0.9, 1.1, 1.6, 1.9, 1.9, 1.9, 1.9, 1.8, 1.7, 1.5, 1.2)  # fmt: skip
# Sexual offences outside the home follow the night-time economy, late into the night.
NIGHT_ECONOMY_HOURS = (2.2, 2.3, 2.0, 1.5, 0.8, 0.4, 0.3, 0.3, 0.4, 0.5, 0.6, 0.7,
                       0.8, 0.8, 0.9, 1.0, 1.0, 1.1, 1.2, 1.3, 1.4, 1.6, 1.9, 2.1)  # fmt: skip
DOMESTIC_HOURS = (1.1, 0.9, 0.7, 0.5, 0.3, 0.25, 0.35, 0.6, 0.8, 0.85, 0.9, 0.95,
                  1.0, 1.0, 1.05, 1.15, 1.3, 1.5, 1.75, 1.9, 1.95, 1.85, 1.6, 1.35)  # fmt: skip

STREET_TIME = TimeProfile(
    hour_weights=GENERAL_HOURS,
    night_weights=(0.9, 0.88, 0.92, 1.0, 1.4, 1.45, 1.05),  # Friday and Saturday nights ~1.4x
    summer_swing=0.15,
    trend_per_year=0.97,
)
# Domestic abuse peaks at weekends (Sunday included) and swings less with the season; reporting
# has been rising, so it trends up while street violence falls.
DOMESTIC_TIME = TimeProfile(
    hour_weights=DOMESTIC_HOURS,
    night_weights=(1.0, 0.92, 0.92, 0.95, 1.1, 1.25, 1.3),
    summer_swing=0.06,
    trend_per_year=1.02,
)


class PlaceProfile(NamedTuple):
    """Where a group of incidents happens: share in clusters, and cluster weights by kind."""

    clustered_share: float
    kind_weights: Mapping[str, float]
    hour_weights: tuple[float, ...]


PLACE_PROFILES = MappingProxyType(
    {
        "violence": PlaceProfile(
            0.60, {"town_centre": 1.0, "estate": 1.0, "development": 1.0}, GENERAL_HOURS
        ),
        # Robbery gathers at stations and town centres, where phones and people are.
        "robbery": PlaceProfile(
            0.85, {"town_centre": 1.6, "estate": 0.6, "development": 1.2}, ROBBERY_HOURS
        ),
        "sexual": PlaceProfile(
            0.55, {"town_centre": 1.5, "estate": 0.7, "development": 1.0}, NIGHT_ECONOMY_HOURS
        ),
        # Weapons possession is found by stop and search, which concentrates where patrols go.
        "possession": PlaceProfile(
            0.70, {"town_centre": 1.3, "estate": 1.0, "development": 0.8}, GENERAL_HOURS
        ),
        "domestic": PlaceProfile(
            0.20, {"town_centre": 0.0, "estate": 1.0, "development": 0.5}, DOMESTIC_HOURS
        ),
    }
)


def _weekday(days: np.ndarray) -> np.ndarray:
    # 1970-01-01 was a Thursday (weekday 3 with Monday = 0)
    return (days.astype("datetime64[D]").astype(np.int64) + 3) % 7


def _day_of_year(days: np.ndarray) -> np.ndarray:
    return (days - days.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64) + 1


def _expected_per_night(
    nights: np.ndarray, profile: TimeProfile, incidents_per_year: float
) -> np.ndarray:
    years = (nights - nights[0]).astype(np.int64) / 365.25
    # Peak around 15 July (day 196), trough mid-January.
    season = 1.0 + profile.summer_swing * np.cos(2 * np.pi * (_day_of_year(nights) - 196) / 365.25)
    weights = np.asarray(profile.night_weights)[_weekday(nights)] * season
    weights *= profile.trend_per_year**years
    return incidents_per_year / 365.25 * weights / weights.mean()


def _choose(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One index per row of ``probabilities`` (rows need not be normalised)."""
    cumulative = np.cumsum(probabilities, axis=1)
    draws = rng.random(len(probabilities)) * cumulative[:, -1]
    return (cumulative < draws[:, None]).sum(axis=1)


def _draw_nights(
    rng: np.random.Generator,
    profile: TimeProfile,
    incidents_per_year: float,
    start: date,
    end: date,
) -> np.ndarray:
    """The night (datetime64[D]) of each incident of a stream; counts per night are Poisson."""
    # Nights run from the evening before ``start``: its small hours fall on ``start`` itself.
    nights = np.arange(np.datetime64(start) - 1, np.datetime64(end) + 1, dtype="datetime64[D]")
    counts = rng.poisson(_expected_per_night(nights, profile, incidents_per_year))
    return np.repeat(nights, counts)


def _occurred_at(night_of: np.ndarray, hours: np.ndarray, minutes: np.ndarray) -> np.ndarray:
    # Hours before 06:00 belong to the previous evening's night out, so they fall a day later.
    occurred_on = night_of + (hours < 6).astype("timedelta64[D]")
    return occurred_on.astype("datetime64[m]") + (hours * 60 + minutes).astype("timedelta64[m]")


def _spring_forward_fix(occurred_at: np.ndarray) -> np.ndarray:
    """Move times in the hour the clocks skip (01:00-01:59, last Sunday of March) to 02:xx."""
    days = occurred_at.astype("datetime64[D]")
    month = (days.astype("datetime64[M]").astype(np.int64) % 12) + 1
    day_of_month = (days - days.astype("datetime64[M]").astype("datetime64[D]")).astype(int) + 1
    hour = (occurred_at - days.astype("datetime64[m]")).astype(np.int64) // 60
    skipped = (month == 3) & (day_of_month >= 25) & (_weekday(days) == 6) & (hour == 1)
    return np.where(skipped, occurred_at + np.timedelta64(60, "m"), occurred_at)


def _sample_background(
    rng: np.random.Generator,
    count: int,
    region_bng: shapely.Geometry,
    exclusions: Sequence[tuple[float, float, float]],
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points in the region, outside the (x, y, radius) exclusion circles."""
    min_x, min_y, max_x, max_y = region_bng.bounds
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    found = 0
    while found < count:
        batch = max(2 * (count - found), 64)
        x = rng.uniform(min_x, max_x, batch)
        y = rng.uniform(min_y, max_y, batch)
        keep = shapely.contains_xy(region_bng, x, y)
        for centre_x, centre_y, radius_m in exclusions:
            keep &= (x - centre_x) ** 2 + (y - centre_y) ** 2 > radius_m**2
        xs.append(x[keep])
        ys.append(y[keep])
        found += int(keep.sum())
    return np.concatenate(xs)[:count], np.concatenate(ys)[:count]


def _sample_clusters(
    rng: np.random.Generator,
    cluster_index: np.ndarray,
    centres: tuple[np.ndarray, np.ndarray],
    region_bng: shapely.Geometry,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian points around each incident's cluster centre, redrawn until inside the region."""
    spread_x = np.array([cluster.spread_east_m for cluster in CLUSTERS])[cluster_index]
    spread_y = np.array([cluster.spread_north_m for cluster in CLUSTERS])[cluster_index]
    x = np.empty(len(cluster_index))
    y = np.empty(len(cluster_index))
    todo = np.arange(len(cluster_index))
    for _ in range(100):
        x[todo] = centres[0][cluster_index[todo]] + rng.normal(0.0, spread_x[todo])
        y[todo] = centres[1][cluster_index[todo]] + rng.normal(0.0, spread_y[todo])
        todo = todo[~shapely.contains_xy(region_bng, x[todo], y[todo])]
        if todo.size == 0:
            return x, y
    raise RuntimeError(f"{todo.size} cluster points stayed outside the borough; check CLUSTERS")


def _draw_places(
    rng: np.random.Generator,
    profile: PlaceProfile,
    years_since_start: np.ndarray,
    region_bng: shapely.Geometry,
) -> tuple[np.ndarray, np.ndarray]:
    count = len(years_since_start)
    centres = lonlat_to_bng(
        np.array([cluster.longitude for cluster in CLUSTERS]),
        np.array([cluster.latitude for cluster in CLUSTERS]),
    )
    base = np.array([cluster.weight * profile.kind_weights[cluster.kind] for cluster in CLUSTERS])
    growth = np.array([cluster.growth_per_year for cluster in CLUSTERS])
    # Each cluster's share of the borough's incidents changes with its own growth over time.
    cluster_weights = base[None, :] * growth[None, :] ** years_since_start[:, None]
    clustered = rng.random(count) < profile.clustered_share
    x = np.empty(count)
    y = np.empty(count)
    chosen = _choose(rng, cluster_weights[clustered])
    x[clustered], y[clustered] = _sample_clusters(rng, chosen, centres, region_bng)

    open_x, open_y = lonlat_to_bng(
        np.array([space[2] for space in OPEN_SPACES]), np.array([space[1] for space in OPEN_SPACES])
    )
    exclusions = [(open_x[i], open_y[i], radius_m) for i, (*_, radius_m) in enumerate(OPEN_SPACES)]
    if profile.kind_weights["town_centre"] == 0.0:
        exclusions += [
            (centres[0][i], centres[1][i], TOWN_CENTRE_CORE_M)
            for i, cluster in enumerate(CLUSTERS)
            if cluster.kind == "town_centre"
        ]
    x[~clustered], y[~clustered] = _sample_background(
        rng, int((~clustered).sum()), region_bng, exclusions
    )
    return x, y


def _draw_age_bands(
    rng: np.random.Generator, offences: pd.Series, domestic_abuse: np.ndarray
) -> np.ndarray:
    profile_of = {offence.name: offence.age_profile for offence in OFFENCES}
    profiles = offences.map(profile_of).to_numpy(dtype=object)
    # Domestic violence has its own victims' ages; sexual offences keep their age limits.
    profiles = np.where(domestic_abuse & (profiles == "violence"), "domestic", profiles)
    bands = np.full(len(offences), "", dtype=object)
    for name, probabilities in AGE_PROFILES.items():
        rows = np.flatnonzero(profiles == name)
        p = np.asarray(probabilities) / np.sum(probabilities)
        bands[rows] = np.asarray(AGE_BANDS, dtype=object)[
            rng.choice(len(AGE_BANDS), rows.size, p=p)
        ]
    return bands


def _draw_stream(
    rng: np.random.Generator,
    domestic: bool,
    region_bng: shapely.Geometry,
    start: date,
    end: date,
) -> pd.DataFrame:
    """Incidents that are (``domestic``) or are not domestic abuse; places in BNG metres."""
    shares = np.array([offence.share_pct for offence in OFFENCES])
    domestic_rates = np.array([offence.domestic_abuse_rate for offence in OFFENCES])
    mix = shares * (domestic_rates if domestic else 1.0 - domestic_rates)
    time_profile = DOMESTIC_TIME if domestic else STREET_TIME
    per_year = INCIDENTS_PER_YEAR * mix.sum() / shares.sum()

    night_of = _draw_nights(rng, time_profile, per_year, start, end)
    offence_index = rng.choice(len(OFFENCES), len(night_of), p=mix / mix.sum())
    groups = np.array([offence.group for offence in OFFENCES])[offence_index]
    # Domestic abuse keeps one profile whatever the offence: at home, evenings and weekends.
    profile_keys = np.full(len(groups), "domestic") if domestic else groups
    hour_weights = np.array([PLACE_PROFILES[key].hour_weights for key in profile_keys])
    hours = _choose(rng, hour_weights.reshape(len(groups), 24))
    minutes = rng.integers(0, 60, len(night_of))
    occurred_at = _occurred_at(night_of, hours, minutes)

    years = (occurred_at - np.datetime64(start, "m")).astype(np.int64) / (365.25 * 24 * 60)
    x_m = np.empty(len(groups))
    y_m = np.empty(len(groups))
    for key in sorted(set(profile_keys)):
        rows = np.flatnonzero(profile_keys == key)
        x_m[rows], y_m[rows] = _draw_places(rng, PLACE_PROFILES[key], years[rows], region_bng)
    return pd.DataFrame(
        {
            "occurred_at": occurred_at,
            "offence": np.array(OFFENCE_NAMES, dtype=object)[offence_index],
            "domestic_abuse": np.full(len(groups), domestic),
            "x_m": x_m,
            "y_m": y_m,
        }
    )


def generate_incidents(
    wards: gpd.GeoDataFrame,
    borough_wgs84: shapely.Geometry,
    rng: np.random.Generator,
    start: date = INCIDENTS_START,
    end: date = INCIDENTS_END,
) -> pd.DataFrame:
    """Draw synthetic serious-violence incidents in the borough between two dates.

    Parameters
    ----------
    wards
        ONS wards in EPSG:4326; points are drawn only where a ward and the borough overlap.
    borough_wgs84
        The borough outline, EPSG:4326.
    rng
        The only source of randomness: the same generator state gives the same rows.
    start, end
        First and last day (inclusive) of ``occurred_at``.

    Returns
    -------
    pandas.DataFrame
        One row per incident, all columns text as written to ``incidents.csv.gz``:
        ``source_ref`` (DEMO-000001...), ``occurred_at`` (YYYY-MM-DDTHH:MM, London local time),
        ``offence`` (a key of taxonomy.toml), ``knife``/``gun``/``domestic_abuse`` (true/false),
        ``victim_age_band`` (empty for possession offences), ``longitude``/``latitude`` (6 d.p.).
        Sorted by time, then place.

    Raises
    ------
    ValueError
        If ``end`` is before ``start``, or a point ends up outside the borough.
    """
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    region_bng = _sampling_region_bng(wards, borough_wgs84)
    streams = [_draw_stream(rng, domestic, region_bng, start, end) for domestic in (False, True)]
    incidents = pd.concat(streams, ignore_index=True)
    occurred_at = _spring_forward_fix(incidents["occurred_at"].to_numpy())
    in_range = (occurred_at >= np.datetime64(start, "m")) & (
        occurred_at < np.datetime64(end, "m") + np.timedelta64(1, "D")
    )
    incidents = incidents.assign(occurred_at=occurred_at)[in_range].reset_index(drop=True)

    offences = incidents["offence"]
    domestic_abuse = incidents["domestic_abuse"].to_numpy(dtype=bool)
    by_name = {offence.name: offence for offence in OFFENCES}
    knife_rate = offences.map(lambda name: by_name[name].knife_rate).to_numpy(float)
    gun_rate = offences.map(lambda name: by_name[name].gun_rate).to_numpy(float)
    knife = rng.random(len(incidents)) < knife_rate  # rate 1.0 (blade possession): always
    gun = rng.random(len(incidents)) < gun_rate
    age_bands = _draw_age_bands(rng, offences, domestic_abuse)

    lon, lat = bng_to_lonlat(incidents["x_m"].to_numpy(), incidents["y_m"].to_numpy())
    lon, lat = np.round(lon, 6), np.round(lat, 6)
    _require_inside(borough_wgs84, lon, lat, "incidents")

    def flag(values: np.ndarray) -> np.ndarray:
        return np.where(values, "true", "false")

    frame = pd.DataFrame(
        {
            "occurred_at": np.datetime_as_string(incidents["occurred_at"].to_numpy(), unit="m"),
            "offence": offences.to_numpy(dtype=object),
            "knife": flag(knife),
            "gun": flag(gun),
            "domestic_abuse": flag(domestic_abuse),
            "victim_age_band": age_bands,
            "longitude": [f"{value:.6f}" for value in lon],
            "latitude": [f"{value:.6f}" for value in lat],
        }
    )
    frame = frame.sort_values(
        ["occurred_at", "longitude", "latitude", "offence"], kind="stable", ignore_index=True
    )
    frame.insert(0, "source_ref", [f"DEMO-{number:06d}" for number in range(1, len(frame) + 1)])
    return frame


# --------------------------------------------------------------------------------------------
# Problem-solving plans
# --------------------------------------------------------------------------------------------


def _action(
    description: str,
    vru_theme: int,
    owner_agency: str,
    owner_name: str,
    due_on: str,
    status: str,
    point: tuple[float, float] | None = None,
) -> dict[str, Any]:
    return {
        "description": description,
        "vru_theme": vru_theme,
        "owner_agency": owner_agency,
        "owner_name": owner_name,
        "due_on": due_on,
        "status": status,
        "longitude": round(point[1], 6) if point else None,
        "latitude": round(point[0], 6) if point else None,
    }


def _plan_specs() -> list[dict[str, Any]]:
    """The four demo plans; ``centre`` (lat, lon) and ``radius_m`` become the plan's area."""
    police, council = "Metropolitan Police", "Wandsworth Council Community Safety"
    return [
        {
            "plan_key": "plan-clapham-junction-robbery",
            "title": "Clapham Junction evening robbery",
            "place_name": "Clapham Junction town centre",
            "centre": (51.4643, -0.1697),
            "radius_m": 450.0,
            "sara_stage": "response",
            "problem": (
                "Personal robbery around Clapham Junction station, St John's Road and Falcon "
                "Road, mostly between 15:00 and 21:00 on school days and late on Friday and "
                "Saturday. Most victims are 10 to 24; phones and e-bikes are the main items taken."
            ),
            "partners": [
                police,
                council,
                "British Transport Police",
                "Children's Services",
                "Victim Support",
                "Youth Justice Service",
            ],
            "started_on": "2026-04-13",
            "review_on": "2026-12-14",
            "status": "open",
            "actions": [
                _action(
                    description=(
                        "High-visibility patrols at the station exits, 15:00-21:00 on school days"
                    ),
                    vru_theme=2,
                    owner_agency=police,
                    owner_name="PS Imran Baptiste",
                    due_on="2026-06-30",
                    status="done",
                ),
                _action(
                    description=(
                        "Robbery-awareness assemblies at the three nearest secondary schools"
                    ),
                    vru_theme=4,
                    owner_agency="Children's Services",
                    owner_name="Hannah Whitlow",
                    due_on="2026-07-17",
                    status="done",
                ),
                _action(
                    description="Shop-watch radio link for St John's Road retailers",
                    vru_theme=5,
                    owner_agency=council,
                    owner_name="Joel Fairbanks",
                    due_on="2026-09-30",
                    status="at_risk",
                ),
                _action(
                    description=(
                        "Review CCTV at the Falcon Road underpass; add a redeployable camera"
                    ),
                    vru_theme=2,
                    owner_agency=council,
                    owner_name="Joel Fairbanks",
                    due_on="2026-10-15",
                    status="not_started",
                    point=(51.4657, -0.1712),
                ),
                _action(
                    description="Contact every robbery victim under 25 within 48 hours",
                    vru_theme=6,
                    owner_agency="Victim Support",
                    owner_name="Maria Esposito-Lund",
                    due_on="2026-12-31",
                    status="on_track",
                ),
                _action(
                    description=(
                        "School-day evening sessions at York Gardens for young people at risk"
                    ),
                    vru_theme=7,
                    owner_agency="Youth Justice Service",
                    owner_name="Kwame Ellery",
                    due_on="2027-01-29",
                    status="on_track",
                    point=(51.4664, -0.1758),
                ),
            ],
        },
        {
            "plan_key": "plan-alton-estate-youth-violence",
            "title": "Alton Estate youth violence and exploitation",
            "place_name": "Alton Estate",
            "centre": (51.4500, -0.2420),
            "radius_m": 500.0,
            "sara_stage": "analysis",
            "problem": (
                "Fights and threats between groups of young people on the Alton Estate, with "
                "signs of exploitation (older people using teenagers to carry drugs and weapons) "
                "around Danebury Avenue and the Roehampton Lane bus stops during regeneration."
            ),
            "partners": [
                police,
                council,
                "Children's Services",
                "Youth Justice Service",
                "Housing",
                "Word 4 Weapons",
            ],
            "started_on": "2026-05-18",
            "review_on": "2027-01-15",
            "status": "open",
            "actions": [
                _action(
                    description=(
                        "Agree an information-sharing protocol for the task-and-finish group"
                    ),
                    vru_theme=1,
                    owner_agency=council,
                    owner_name="Helen Marchetti",
                    due_on="2026-06-12",
                    status="done",
                ),
                _action(
                    description="Map peer groups and places linked to exploitation from referrals",
                    vru_theme=2,
                    owner_agency=police,
                    owner_name="DC Laura Pemberton-Oyelaran",
                    due_on="2026-10-30",
                    status="at_risk",
                ),
                _action(
                    description="Weapon sweeps of stairwells, bin stores and green spaces; "
                    "publicise the Roehampton Library bin",
                    vru_theme=3,
                    owner_agency="Word 4 Weapons",
                    owner_name="Marcus Delaney",
                    due_on="2026-09-30",
                    status="done",
                    point=(51.44966, -0.24493),
                ),
                _action(
                    description="Contextual safeguarding assessment of the Danebury Avenue shops",
                    vru_theme=4,
                    owner_agency="Children's Services",
                    owner_name="Ruth Adeyemi-Clarke",
                    due_on="2026-12-18",
                    status="on_track",
                    point=(51.4502, -0.2460),
                ),
                _action(
                    description=(
                        "Residents' walkabout with Housing to report lighting and door faults"
                    ),
                    vru_theme=5,
                    owner_agency="Housing",
                    owner_name="Owen Castellano",
                    due_on="2026-11-13",
                    status="not_started",
                ),
                _action(
                    description="Youth Bus sport and music sessions on Tuesday and Friday evenings",
                    vru_theme=7,
                    owner_agency=council,
                    owner_name="Helen Marchetti",
                    due_on="2027-02-26",
                    status="on_track",
                ),
            ],
        },
        {
            "plan_key": "plan-tooting-night-time-vawg",
            "title": "Tooting Broadway night-time economy: violence against women and girls",
            "centre": (51.4275, -0.1682),
            "radius_m": 400.0,
            "sara_stage": "response",
            "problem": (
                "Sexual assaults and harassment of women around Tooting Broadway late on Friday "
                "and Saturday nights, on routes between bars, the Tube and night buses."
            ),
            "partners": [
                police,
                council,
                "NHS South West London ICB",
                "Victim Support",
                "Wandsworth Council Licensing",
            ],
            "started_on": "2026-03-02",
            "review_on": "2026-12-07",
            "status": "open",
            "actions": [
                _action(
                    description="Welfare and vulnerability training for door and bar staff",
                    vru_theme=8,
                    owner_agency=police,
                    owner_name="PC Sian Okonkwo-Reid",
                    due_on="2026-06-26",
                    status="done",
                ),
                _action(
                    description=(
                        "Safe-space scheme: 'Ask for Angela' and a trained lead on weekend nights"
                    ),
                    vru_theme=8,
                    owner_agency=council,
                    owner_name="Beatrix Holloway",
                    due_on="2026-09-25",
                    status="at_risk",
                ),
                _action(
                    description="Emergency department shares anonymised assault locations",
                    vru_theme=6,
                    owner_agency="NHS South West London ICB",
                    owner_name="Dr Anil Varma-Stokes",
                    due_on="2026-11-30",
                    status="on_track",
                    point=(51.42722, -0.17615),
                ),
                _action(
                    description="Friday and Saturday patrols 22:00-03:00 around the Broadway",
                    vru_theme=2,
                    owner_agency=police,
                    owner_name="PS Dominic Farrow",
                    due_on="2027-03-31",
                    status="on_track",
                ),
                _action(
                    description=(
                        "Women's safety walk and lighting survey from the Tube to side streets"
                    ),
                    vru_theme=5,
                    owner_agency=council,
                    owner_name="Beatrix Holloway",
                    due_on="2026-07-31",
                    status="done",
                    point=(51.4277, -0.1680),
                ),
            ],
        },
        {
            "plan_key": "plan-nine-elms-asb-robbery",
            "title": "Nine Elms new-development ASB and robbery",
            "centre": (51.4815, -0.1445),
            "radius_m": 450.0,
            "sara_stage": "assessment",
            "problem": (
                "Anti-social behaviour and robbery rose as the new developments and the Power "
                "Station opened; patrols and design changes are in place and being assessed."
            ),
            "partners": [
                police,
                council,
                "Housing",
                "Probation Service",
                "Youth Justice Service",
                "Victim Support",
            ],
            "started_on": "2025-10-06",
            "review_on": "2026-12-01",
            "status": "monitoring",
            "actions": [
                _action(
                    description=(
                        "Report progress to the Violence Strategic Delivery Group each quarter"
                    ),
                    vru_theme=1,
                    owner_agency=council,
                    owner_name="Nadia Wolstenholme",
                    due_on="2026-12-03",
                    status="on_track",
                ),
                _action(
                    description="Compare robbery and ASB before and after the extra patrols",
                    vru_theme=2,
                    owner_agency=council,
                    owner_name="Nadia Wolstenholme",
                    due_on="2027-01-29",
                    status="on_track",
                ),
                _action(
                    description="Test purchases of knives at retailers in the new developments",
                    vru_theme=3,
                    owner_agency="Wandsworth Council Trading Standards",
                    owner_name="Callum Iredale",
                    due_on="2026-06-12",
                    status="done",
                ),
                _action(
                    description="Concierge teams report ASB to the estate management group",
                    vru_theme=5,
                    owner_agency="Housing",
                    owner_name="Femi Hartigan",
                    due_on="2026-08-28",
                    status="done",
                ),
                _action(
                    description="Monthly Victim Support drop-in at the community space",
                    vru_theme=6,
                    owner_agency="Victim Support",
                    owner_name="Maria Esposito-Lund",
                    due_on="2027-03-31",
                    status="on_track",
                    point=(51.4820, -0.1448),
                ),
                _action(
                    description="Joint mentoring for young adults on licence living in the area",
                    vru_theme=7,
                    owner_agency="Probation Service",
                    owner_name="Gareth Nwosu",
                    due_on="2026-10-16",
                    status="dropped",
                ),
            ],
        },
    ]


# Named places a plan area can be picked from: real estates and town centres, with made-up
# circular outlines (centre, radius in metres). A borough supplies its own (PLACES_FILE).
DEMO_PLACES = (
    ("Alton Estate", "estate", (51.4500, -0.2420), 500.0),
    ("Winstanley and York Road estates", "estate", (51.4655, -0.1745), 300.0),
    ("Doddington and Rollo estates", "estate", (51.4725, -0.1580), 250.0),
    ("Patmore Estate", "estate", (51.4755, -0.1430), 200.0),
    ("Clapham Junction town centre", "town centre", (51.4643, -0.1697), 450.0),
    ("Tooting town centre", "town centre", (51.4275, -0.1682), 400.0),
    ("Putney town centre", "town centre", (51.4610, -0.2160), 350.0),
    ("Wandsworth town centre", "town centre", (51.4565, -0.1920), 350.0),
    ("Balham town centre", "town centre", (51.4432, -0.1525), 300.0),
    ("Nine Elms", "development area", (51.4815, -0.1445), 450.0),
)


def generate_places(borough_wgs84: shapely.Geometry) -> dict[str, Any]:
    """The demo's named places as a GeoJSON FeatureCollection (EPSG:4326, 6 decimals)."""
    borough_bng = geometry_to_bng(borough_wgs84)
    features = []
    for name, kind, centre, radius_m in DEMO_PLACES:
        _require_inside(borough_wgs84, [centre[1]], [centre[0]], f"centre of {name}")
        outline = geometry_to_wgs84(_plan_area(centre, radius_m, borough_bng))
        ring = [[round(lon, 6), round(lat, 6)] for lon, lat in outline.exterior.coords]
        features.append(
            {
                "type": "Feature",
                "properties": {"name": name, "kind": kind, "outline": "approximate (demo)"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _plan_area(
    centre: tuple[float, float], radius_m: float, borough_bng: shapely.Geometry
) -> shapely.Polygon:
    """A circle in BNG metres, clipped to the borough and simplified to at most 40 vertices."""
    x, y = lonlat_to_bng(np.array([centre[1]]), np.array([centre[0]]))
    circle = shapely.Point(x[0], y[0]).buffer(radius_m, quad_segs=8)  # 32 segments
    area = circle.intersection(borough_bng)
    if isinstance(area, shapely.MultiPolygon):  # keep the main part if the river cuts it
        area = max(area.geoms, key=lambda part: part.area)
    tolerance_m = 2.0
    simplified = area.simplify(tolerance_m)
    while len(simplified.exterior.coords) > 40:
        tolerance_m *= 1.5
        simplified = area.simplify(tolerance_m)
    return shapely.orient_polygons(simplified, exterior_cw=False)  # GeoJSON: anticlockwise


def generate_plans(
    wards: gpd.GeoDataFrame, borough_wgs84: shapely.Geometry, assignments: pd.DataFrame
) -> list[dict[str, Any]]:
    """Four problem-solving plans with 23 actions across all eight VRU themes.

    Each plan's ``area`` is a GeoJSON Polygon (EPSG:4326, 6 decimals), ``ward_codes`` the wards
    holding at least 5 % of it, and ``lead_cso_key`` the current CSO of the ward at its centre.
    ValueError if a plan's centre or an action's point is outside the borough.
    """
    borough_bng = geometry_to_bng(borough_wgs84)
    wards_bng = [geometry_to_bng(geometry) for geometry in wards.geometry]
    current = assignments[assignments["valid_to"] == ""]
    cso_of_ward = dict(zip(current["ward_code"], current["cso_key"], strict=True))
    plans = []
    for spec in _plan_specs():
        latitude, longitude = spec["centre"]
        _require_inside(borough_wgs84, [longitude], [latitude], f"centre of {spec['plan_key']}")
        points = [a for a in spec["actions"] if a["longitude"] is not None]
        _require_inside(
            borough_wgs84,
            [a["longitude"] for a in points],
            [a["latitude"] for a in points],
            f"action points of {spec['plan_key']}",
        )
        area_bng = _plan_area(spec["centre"], spec["radius_m"], borough_bng)
        ward_codes = sorted(
            code
            for code, ward_bng in zip(wards["ward_code"], wards_bng, strict=True)
            if ward_bng.intersection(area_bng).area >= 0.05 * area_bng.area
        )
        centre_ward = wards.loc[wards.contains(shapely.Point(longitude, latitude)), "ward_code"]
        area_wgs84 = geometry_to_wgs84(area_bng)
        ring = [[round(lon, 6), round(lat, 6)] for lon, lat in area_wgs84.exterior.coords]
        plans.append(
            {
                "plan_key": spec["plan_key"],
                "title": spec["title"],
                "ward_codes": ward_codes,
                "sara_stage": spec["sara_stage"],
                "problem": spec["problem"],
                "lead_cso_key": cso_of_ward[centre_ward.iloc[0]],
                "partners": spec["partners"],
                "started_on": spec["started_on"],
                "review_on": spec["review_on"],
                "status": spec["status"],
                "outcome": None,
                "area_source": "place" if spec.get("place_name") else "drawn",
                "place_name": spec.get("place_name"),
                "area": {"type": "Polygon", "coordinates": [ring]},
                "actions": spec["actions"],
            }
        )
    return sorted(plans, key=lambda plan: plan["plan_key"])


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(frame.columns)
    writer.writerows(frame.astype(str).itertuples(index=False, name=None))
    return buffer.getvalue().encode("utf-8")


def _gzip_bytes(data: bytes) -> bytes:
    buffer = io.BytesIO()
    # mtime=0 and no file name in the header: the same data always gives the same bytes
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as out:
        out.write(data)
    return buffer.getvalue()


def _plans_json_bytes(plans: list[dict[str, Any]] | dict[str, Any]) -> bytes:
    text = json.dumps(plans, indent=2, ensure_ascii=False)
    # One [longitude, latitude] pair per line rather than three lines per pair: readable diffs.
    text = re.sub(r"\[\s+(-?[0-9.]+),\s+(-?[0-9.]+)\s+\]", r"[\1, \2]", text)
    return (text + "\n").encode("utf-8")


def build_demo(
    seed: int = DEFAULT_SEED, wards_path: Path = WARDS_FILE, borough_path: Path = BOROUGH_FILE
) -> dict[str, bytes]:
    """Build every demo file in memory: file name -> exact bytes, for a given seed."""
    wards, borough_wgs84 = load_boundaries(wards_path, borough_path)
    # Independent streams, so changing one generator does not reshuffle the others.
    population_rng, incidents_rng = np.random.default_rng(seed).spawn(2)
    assignments = generate_cso_assignments(wards)
    incidents = generate_incidents(wards, borough_wgs84, incidents_rng)
    plans = generate_plans(wards, borough_wgs84, assignments)
    return {
        "csos.csv": _csv_bytes(generate_csos()),
        "cso_assignments.csv": _csv_bytes(assignments),
        "assets.csv": _csv_bytes(generate_assets(borough_wgs84)),
        "youth_bus_visits.csv": _csv_bytes(generate_youth_bus_visits()),
        "ward_population.csv": _csv_bytes(generate_ward_population(wards, population_rng)),
        "incidents.csv.gz": _gzip_bytes(_csv_bytes(incidents)),
        "plans.json": _plans_json_bytes(plans),
        "places.geojson": _plans_json_bytes(generate_places(borough_wgs84)),
    }


def write_demo(
    out_dir: Path = DEFAULT_OUT_DIR,
    seed: int = DEFAULT_SEED,
    wards_path: Path = WARDS_FILE,
    borough_path: Path = BOROUGH_FILE,
) -> list[Path]:
    """Write the demo files into ``out_dir`` (created if needed); returns their paths."""
    files = build_demo(seed, wards_path, borough_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in OUTPUT_FILES:
        path = out_dir / name
        path.write_bytes(files[name])
        log.info(
            "wrote %s: %d bytes, sha256 %s",
            name,
            len(files[name]),
            hashlib.sha256(files[name]).hexdigest()[:12],
        )
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python geodata/generate_demo.py [--out DIR] [--seed N]``."""
    parser = argparse.ArgumentParser(
        description="Write the synthetic Wandsworth demo data set (reproducible for a seed)."
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT_DIR, help="output folder (default geodata/demo)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (2022)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    log.info("generating the demo data set with seed %d into %s", args.seed, args.out)
    write_demo(args.out, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
