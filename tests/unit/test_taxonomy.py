from pathlib import Path

import pytest

from dashboard.errors import ConfigurationError
from dashboard.taxonomy import load_taxonomy


def test_police_uk_crime_types_map_to_the_boroughs_categories():
    taxonomy = load_taxonomy()

    assert taxonomy.classify("police_uk", "Robbery").category == "robbery"
    assert taxonomy.classify("police_uk", "Violence and sexual offences").category == (
        "violence_and_sexual"
    )
    assert taxonomy.classify("police_uk", "Burglary") is None  # not violence


def test_offences_imply_knife_and_gun_flags():
    taxonomy = load_taxonomy()

    blade = taxonomy.classify("police_extract", "Possession of article with blade or point")
    firearm = taxonomy.classify("police_extract", "Possession of firearm with intent")
    abh = taxonomy.classify("police_extract", "  Assault occasioning actual bodily harm ")

    assert (blade.knife, blade.gun) == (True, False)
    assert (firearm.knife, firearm.gun) == (False, True)
    assert (abh.category, abh.knife, abh.gun) == ("abh", False, False)


def test_every_category_of_the_borough_definition_is_counted_as_serious_violence():
    taxonomy = load_taxonomy()
    serious = {key for key, c in taxonomy.categories.items() if c.serious_violence}

    assert {
        "homicide",
        "gbh",
        "abh",
        "rape",
        "assault_by_penetration",
        "sexual_assault",
        "robbery",
        "threats_to_kill",
    } <= serious
    assert "weapons_possession" not in serious


@pytest.mark.parametrize(
    ("band", "expected"),
    [("10-17", True), ("18-24", True), ("25-34", False), (None, None), ("", None)],
)
def test_under_25_is_unknown_when_the_age_is_not_recorded(band, expected):
    assert load_taxonomy().is_under_25(band) is expected


def test_a_mapping_to_an_undefined_category_is_refused(tmp_path: Path):
    path = tmp_path / "taxonomy.toml"
    path.write_text(
        '[categories]\nrobbery = { label = "Robbery", serious_violence = true }\n'
        '[sources.police_uk]\n"Violence and sexual offences" = { category = "violence" }\n',
        encoding="utf-8",
    )

    with pytest.raises(ConfigurationError, match="unknown category 'violence'"):
        load_taxonomy(path)


def test_an_unknown_source_says_how_to_add_it():
    with pytest.raises(ConfigurationError, match=r"\[sources.met_extract\]"):
        load_taxonomy().classify("met_extract", "Robbery")
