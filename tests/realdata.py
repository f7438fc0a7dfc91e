"""A store built from the real ONS and police.uk files, the way a council would build it."""

from __future__ import annotations

import pytest

from dashboard.access import Role
from dashboard.cli import main
from dashboard.store.session import make_engine, migrate
from tests.conftest import REALDATA

REAL_VIOLENCE_FILE = (
    REALDATA / "crime" / "derived_from_api_wandsworth_violence_robbery_weapons_2016-01_2018-06.csv"
)
ADMIN = "chief@council.example.org"


def load_real_borough(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Build the store at ``url`` (new and empty) the way a council would: migrate, then import
    the official files."""
    migrate(make_engine(url))
    monkeypatch.setenv("DATABASE_URL", url)
    boundaries = REALDATA / "boundaries"
    violence = REAL_VIOLENCE_FILE
    steps = [
        ["import", "boundaries", str(boundaries / "wandsworth_wards_2022.geojson")],
        [
            "import",
            "population",
            str(REALDATA / "population" / "wandsworth_lsoa_population_mid2020.csv"),
            "--lsoa-boundaries",
            str(boundaries / "wandsworth_lsoa_2011.geojson"),
        ],
        ["import", "police-uk", str(violence)],
        ["add-user", ADMIN, "--name", "Chief Analyst", "--role", Role.ANALYST.value],
    ]
    for step in steps:
        assert main(step) == 0, step
