"""Shared fixtures: a real demo store, built once by the real migrations and seeder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dashboard import PROJECT_ROOT
from dashboard.demo import seed_demo
from dashboard.store.session import make_engine, migrate
from dashboard.taxonomy import load_taxonomy

WANDSWORTH = "E09000032"
REALDATA = PROJECT_ROOT.parent / "shared" / "realdata"


@pytest.fixture(scope="session")
def demo_db_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file holding the whole demo data set, built once per test session."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    seed_demo(engine, WANDSWORTH, load_taxonomy())
    engine.dispose()
    return path


@pytest.fixture
def demo_db_url(demo_db_file: Path, tmp_path: Path) -> str:
    """A private copy of the demo store for one test (tests may write to it)."""
    copy = tmp_path / "demo.db"
    shutil.copyfile(demo_db_file, copy)
    return f"sqlite:///{copy}"


@pytest.fixture
def seeded_db(demo_db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the app's settings at a private demo store, with tiles off (tests have no internet)."""
    monkeypatch.setenv("DATABASE_URL", demo_db_url)
    monkeypatch.setenv("MAP_TILES", "none")
    monkeypatch.delenv("BOROUGH_CODE", raising=False)
    return demo_db_url


@pytest.fixture
def empty_db_url(tmp_path: Path) -> str:
    """A migrated store with no data."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url
