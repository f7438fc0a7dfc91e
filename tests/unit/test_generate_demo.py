"""The demo-data generator: reproducible, and with the structure the dashboard relies on."""

from __future__ import annotations

import gzip
import json
import tomllib
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geodata.generate_demo import (
    BOROUGH_FILE,
    OFFENCE_NAMES,
    OUTPUT_FILES,
    WARDS_FILE,
    generate_incidents,
    load_boundaries,
    lonlat_to_bng,
    write_demo,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COMMITTED_DEMO_DIR = PROJECT_ROOT / "geodata" / "demo"
TAXONOMY_FILE = PROJECT_ROOT / "dashboard" / "taxonomy.toml"

# The offence strings the brief fixes; each must also be a key of the police-extract taxonomy.
EXPECTED_OFFENCES = {
    "Assault occasioning actual bodily harm",
    "Wounding with intent to do grievous bodily harm",
    "Inflicting grievous bodily harm without intent",
    "Robbery of personal property",
    "Sexual assault on a female aged 13 and over",
    "Sexual assault on a male aged 13 and over",
    "Rape of a female aged 16 or over",
    "Rape of a male aged 16 or over",
    "Assault by penetration",
    "Threats to kill",
    "Murder",
    "Manslaughter",
    "Possession of article with blade or point",
    "Possession of offensive weapon",
    "Possession of firearm with intent",
}
# The incidents end on 2026-10-31; plans are written as of late November 2026, so actions due
# before this date and not done show as overdue when the demo is new.
DEMO_WRITTEN_ON = "2026-11-27"
UNDER_25_BANDS = {"0-9", "10-17", "18-24"}
POSSESSION = {
    "Possession of article with blade or point",
    "Possession of offensive weapon",
    "Possession of firearm with intent",
}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_dir = tmp_path_factory.mktemp("demo")
    write_demo(out_dir)
    return out_dir


@pytest.fixture(scope="module")
def borough() -> shapely.Geometry:
    return shapely.union_all(gpd.read_file(BOROUGH_FILE).geometry.to_numpy())


@pytest.fixture(scope="module")
def incidents(demo_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(demo_dir / "incidents.csv.gz", dtype=str, keep_default_na=False)
    return frame.assign(occurred_at=pd.to_datetime(frame["occurred_at"], format="%Y-%m-%dT%H:%M"))


@pytest.fixture(scope="module")
def plans(demo_dir: Path) -> list[dict]:
    return json.loads((demo_dir / "plans.json").read_text(encoding="utf-8"))


def read_csv(demo_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(demo_dir / name, dtype=str, keep_default_na=False)


def content(path: Path) -> bytes:
    # Compare gzip members by their content: another zlib build may compress the same bytes
    # differently, and that is not a change to the demo data.
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


# --- reproducibility ---------------------------------------------------------------------------


def test_writes_exactly_the_seven_files(demo_dir: Path):
    assert sorted(p.name for p in demo_dir.iterdir()) == sorted(OUTPUT_FILES)


def test_two_runs_with_the_same_seed_write_identical_bytes(demo_dir: Path, tmp_path: Path):
    write_demo(tmp_path)

    for name in OUTPUT_FILES:
        assert (tmp_path / name).read_bytes() == (demo_dir / name).read_bytes(), name


def test_incidents_gzip_has_no_timestamp_or_file_name(demo_dir: Path):
    header = (demo_dir / "incidents.csv.gz").read_bytes()[:10]

    assert header[3] & 0x08 == 0  # FNAME flag: no file name stored
    assert header[4:8] == b"\x00\x00\x00\x00"  # MTIME


def test_committed_demo_files_equal_a_fresh_generation(demo_dir: Path):
    """Nobody edits geodata/demo/ by hand: rerun ``python geodata/generate_demo.py`` instead."""
    for name in OUTPUT_FILES:
        committed = COMMITTED_DEMO_DIR / name
        assert committed.exists(), f"{committed} is missing; run python geodata/generate_demo.py"
        assert content(committed) == content(demo_dir / name), (
            f"{name} differs from a fresh generation; run python geodata/generate_demo.py"
        )


def test_another_seed_gives_other_incidents():
    wards, borough = load_boundaries(WARDS_FILE, BOROUGH_FILE)
    end = date(2024, 1, 31)
    first = generate_incidents(wards, borough, np.random.default_rng(1), end=end)
    again = generate_incidents(wards, borough, np.random.default_rng(1), end=end)
    other = generate_incidents(wards, borough, np.random.default_rng(2), end=end)

    pd.testing.assert_frame_equal(first, again)
    assert not first["longitude"].head(50).equals(other["longitude"].head(50))


def test_end_before_start_is_rejected():
    wards, borough = load_boundaries(WARDS_FILE, BOROUGH_FILE)

    with pytest.raises(ValueError, match=r"end \(2023-01-01\) is before start \(2024-01-01\)"):
        generate_incidents(
            wards, borough, np.random.default_rng(0), date(2024, 1, 1), date(2023, 1, 1)
        )


# --- CSOs, assets, schedule, population ----------------------------------------------------------


def test_seven_csos_with_example_org_contacts(demo_dir: Path):
    csos = read_csv(demo_dir, "csos.csv")

    assert csos["cso_key"].tolist() == [f"cso{n}" for n in range(1, 8)]
    assert csos["display_name"].is_unique
    assert csos["contact"].str.fullmatch(r"[a-z.\-]+@example\.org").all()


def test_every_ward_has_exactly_one_current_cso(demo_dir: Path):
    wards, _ = load_boundaries(WARDS_FILE, BOROUGH_FILE)
    assignments = read_csv(demo_dir, "cso_assignments.csv")
    current = assignments[assignments["valid_to"] == ""]

    assert sorted(current["ward_code"]) == sorted(wards["ward_code"])
    assert set(current["valid_from"]) == {"2023-04-01"}
    assert set(assignments["cso_key"]) == set(read_csv(demo_dir, "csos.csv")["cso_key"])
    assert sorted(current.groupby("cso_key").size()) == [3, 3, 3, 3, 3, 3, 4]


def test_history_shows_wards_that_moved_between_csos(demo_dir: Path):
    assignments = read_csv(demo_dir, "cso_assignments.csv")
    past = assignments[assignments["valid_to"] != ""]
    current_cso = assignments[assignments["valid_to"] == ""].set_index("ward_code")["cso_key"]

    assert 2 <= len(past) <= 3
    assert (past["valid_to"] < "2023-04-01").all()
    assert (past["valid_from"] <= past["valid_to"]).all()
    assert all(current_cso[row.ward_code] != row.cso_key for row in past.itertuples())


def test_two_public_knife_bins_inside_the_borough(demo_dir: Path, borough: shapely.Geometry):
    assets = read_csv(demo_dir, "assets.csv")
    bins = assets[assets["kind"] == "knife_bin"]

    assert sorted(bins["name"]) == [
        "Roehampton Library knife amnesty bin",
        "St George's Hospital knife amnesty bin",
    ]
    assert (bins["public"] == "true").all()
    assert bins["guidance"].str.contains("Word 4 Weapons").all()
    inside = shapely.contains_xy(
        borough, bins["longitude"].astype(float), bins["latitude"].astype(float)
    )
    assert inside.all()


def test_youth_bus_stops_are_internal_and_inside_the_borough(
    demo_dir: Path, borough: shapely.Geometry
):
    assets = read_csv(demo_dir, "assets.csv")
    stops = assets[assets["kind"] == "youth_bus_stop"]

    assert set(assets["kind"]) == {"knife_bin", "youth_bus_stop"}
    assert 6 <= len(stops) <= 10
    assert (stops["public"] == "false").all()
    assert (stops["guidance"] == "").all()
    lon, lat = assets["longitude"].astype(float), assets["latitude"].astype(float)
    assert shapely.contains_xy(borough, lon, lat).all()


def test_youth_bus_schedule_is_one_bus_visiting_known_stops(demo_dir: Path):
    visits = read_csv(demo_dir, "youth_bus_visits.csv")
    stops = read_csv(demo_dir, "assets.csv").query("kind == 'youth_bus_stop'")["asset_key"]

    assert 10 <= len(visits) <= 14
    assert set(visits["asset_key"]) == set(stops)
    assert visits.groupby("asset_key").size().between(1, 2).all()
    assert visits["weekday"].astype(int).between(0, 6).all()
    assert (visits["starts_at"] < visits["ends_at"]).all()
    for _, day in visits.sort_values("starts_at").groupby("weekday"):
        # the next slot of the day starts after the previous one ends: one bus, one place
        assert (day["starts_at"].iloc[1:].to_numpy() >= day["ends_at"].iloc[:-1].to_numpy()).all()


def test_ward_population_is_plausible(demo_dir: Path):
    population = read_csv(demo_dir, "ward_population.csv")
    residents = population["population"].astype(int)

    assert len(population) == 22
    assert residents.between(11_000, 19_000).all()
    assert 300_000 <= residents.sum() <= 360_000


# --- incidents -----------------------------------------------------------------------------------


def test_every_incident_is_inside_the_borough(incidents: pd.DataFrame, borough: shapely.Geometry):
    lon, lat = incidents["longitude"].astype(float), incidents["latitude"].astype(float)

    assert shapely.contains_xy(borough, lon, lat).all()


def test_incident_columns_and_formats(incidents: pd.DataFrame):
    assert incidents.columns.tolist() == [
        "source_ref",
        "occurred_at",
        "offence",
        "knife",
        "gun",
        "domestic_abuse",
        "victim_age_band",
        "longitude",
        "latitude",
    ]
    assert incidents["source_ref"].is_unique
    assert incidents["source_ref"].str.fullmatch(r"DEMO-\d{6}").all()
    for column in ("knife", "gun", "domestic_abuse"):
        assert set(incidents[column]) == {"true", "false"}
    assert incidents["longitude"].str.fullmatch(r"-0\.\d{6}").all()
    assert incidents["latitude"].str.fullmatch(r"51\.\d{6}").all()
    assert incidents["occurred_at"].min() >= pd.Timestamp("2023-11-01")
    assert incidents["occurred_at"].max() < pd.Timestamp("2026-11-01")


def test_every_offence_is_one_of_the_taxonomy_keys(incidents: pd.DataFrame):
    taxonomy = tomllib.loads(TAXONOMY_FILE.read_text(encoding="utf-8"))

    assert set(incidents["offence"]) == EXPECTED_OFFENCES
    assert set(OFFENCE_NAMES) == EXPECTED_OFFENCES
    assert EXPECTED_OFFENCES - set(taxonomy["sources"]["police_extract"]) == set()


def test_about_five_thousand_incidents_a_year(incidents: pd.DataFrame):
    for first_day in ("2023-11-01", "2024-11-01", "2025-11-01"):
        start = pd.Timestamp(first_day)
        in_year = incidents["occurred_at"].between(start, start + pd.DateOffset(years=1), "left")
        assert 4_000 <= in_year.sum() <= 6_500, first_day


def test_friday_and_saturday_are_busier(incidents: pd.DataFrame):
    weekend_share = incidents["occurred_at"].dt.day_of_week.isin([4, 5]).mean()

    assert weekend_share > 2 / 7 * 1.15


def test_evenings_are_busier_than_mornings(incidents: pd.DataFrame):
    hour = incidents["occurred_at"].dt.hour

    assert hour.between(18, 23).mean() > hour.between(6, 11).mean()


def test_summer_is_busier_than_winter(incidents: pd.DataFrame):
    month = incidents["occurred_at"].dt.month

    assert month.isin([6, 7, 8]).sum() > 1.15 * month.isin([12, 1, 2]).sum()


def test_incidents_concentrate_in_few_grid_cells(incidents: pd.DataFrame):
    x_m, y_m = lonlat_to_bng(
        incidents["longitude"].astype(float).to_numpy(),
        incidents["latitude"].astype(float).to_numpy(),
    )
    cells = pd.Series(list(zip(np.floor(x_m / 250), np.floor(y_m / 250), strict=True)))
    counts = cells.value_counts()  # busiest first
    top = int(np.ceil(0.05 * len(counts)))

    assert counts.iloc[:top].sum() / len(incidents) > 0.20


def test_under_25_share_of_victims(incidents: pd.DataFrame):
    bands = incidents.loc[incidents["victim_age_band"] != "", "victim_age_band"]

    assert 0.25 <= bands.isin(UNDER_25_BANDS).mean() <= 0.45


def test_robbery_victims_are_younger_than_other_victims(incidents: pd.DataFrame):
    with_age = incidents[incidents["victim_age_band"] != ""]
    robbery = with_age["offence"] == "Robbery of personal property"
    under_25 = with_age["victim_age_band"].isin(UNDER_25_BANDS)

    assert under_25[robbery].mean() > under_25[~robbery].mean() + 0.2


def test_only_possession_offences_lack_a_victim_age(incidents: pd.DataFrame):
    no_age = incidents["victim_age_band"] == ""

    assert set(incidents.loc[no_age, "offence"]) == POSSESSION
    assert not incidents.loc[~no_age, "offence"].isin(POSSESSION).any()
    assert set(incidents.loc[~no_age, "victim_age_band"]) <= {
        "0-9",
        "10-17",
        "18-24",
        "25-34",
        "35-44",
        "45-54",
        "55-64",
        "65+",
    }


def test_flags_follow_the_offence(incidents: pd.DataFrame):
    def share(offence: str, column: str) -> float:
        return (incidents.loc[incidents["offence"] == offence, column] == "true").mean()

    assert share("Possession of article with blade or point", "knife") == 1.0
    assert share("Possession of firearm with intent", "gun") == 1.0
    assert 0.18 < share("Robbery of personal property", "knife") < 0.32
    assert 0.25 < share("Assault occasioning actual bodily harm", "domestic_abuse") < 0.45
    never_domestic = POSSESSION | {"Robbery of personal property"}
    assert (
        incidents.loc[incidents["offence"].isin(never_domestic), "domestic_abuse"] == "false"
    ).all()


# --- plans ---------------------------------------------------------------------------------------


def test_plan_actions_cover_all_eight_vru_themes(plans: list[dict]):
    themes = {action["vru_theme"] for plan in plans for action in plan["actions"]}

    assert len(plans) == 4
    assert themes == set(range(1, 9))
    assert all(4 <= len(plan["actions"]) <= 7 for plan in plans)


def test_plans_reference_real_wards_and_csos(demo_dir: Path, plans: list[dict]):
    ward_codes = set(read_csv(demo_dir, "ward_population.csv")["ward_code"])
    cso_keys = set(read_csv(demo_dir, "csos.csv")["cso_key"])

    for plan in plans:
        assert plan["ward_codes"], plan["plan_key"]
        assert set(plan["ward_codes"]) <= ward_codes
        assert plan["lead_cso_key"] in cso_keys
        assert plan["sara_stage"] in {"scanning", "analysis", "response", "assessment"}
        assert plan["status"] in {"open", "monitoring", "closed"}
        assert (plan["outcome"] is None) == (plan["status"] != "closed")


def test_alton_plan_is_led_by_the_cso_for_roehampton(demo_dir: Path, plans: list[dict]):
    assignments = read_csv(demo_dir, "cso_assignments.csv")
    current = assignments[assignments["valid_to"] == ""].set_index("ward_code")["cso_key"]
    alton = next(plan for plan in plans if plan["title"].startswith("Alton Estate"))

    assert alton["lead_cso_key"] == current["E05014017"]  # Roehampton


def test_plan_areas_are_small_polygons_in_the_borough(plans: list[dict], borough: shapely.Geometry):
    for plan in plans:
        area = shapely.geometry.shape(plan["area"])
        ring = plan["area"]["coordinates"][0]
        assert plan["area"]["type"] == "Polygon"
        assert area.is_valid
        assert len(ring) <= 40
        assert ring[0] == ring[-1]
        assert all(round(value, 6) == value for point in ring for value in point)
        assert area.difference(borough.buffer(0.0005)).is_empty  # ~35 m tolerance


def test_actions_have_valid_fields_and_some_are_overdue(plans: list[dict]):
    actions = [action for plan in plans for action in plan["actions"]]
    statuses = {action["status"] for action in actions}
    overdue = [
        action
        for action in actions
        if action["due_on"] < DEMO_WRITTEN_ON and action["status"] not in {"done", "dropped"}
    ]

    assert statuses <= {"not_started", "on_track", "at_risk", "done", "dropped"}
    assert len(statuses) >= 4
    assert all("2026-06-01" <= action["due_on"] <= "2027-03-31" for action in actions)
    assert 2 <= len(overdue) <= 6
    assert all(action["owner_agency"] and action["owner_name"] for action in actions)
