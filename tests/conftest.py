"""Shared fixtures: a real demo store, built once by the real migrations and seeder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dashboard import PROJECT_ROOT
from dashboard.demo import seed_demo
from dashboard.store.session import make_engine, migrate
from dashboard.taxonomy import load_taxonomy
from tests.second_borough import SecondBorough, add_second_borough
from tests.stores import Stores

WANDSWORTH = "E09000032"
REALDATA = PROJECT_ROOT.parent / "shared" / "realdata"


@pytest.fixture(scope="session")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    """Databases on the backend under test (see tests/stores.py), dropped when the session ends."""
    made = Stores(tmp_path_factory.mktemp("stores"))
    yield made
    made.drop_all()


@pytest.fixture(scope="session")
def demo_template_url(stores: Stores) -> str:
    """A store holding the whole demo data set, built once per session; tests take copies."""
    url = stores.new("demo")
    engine = make_engine(url)
    migrate(engine)
    seed_demo(engine, WANDSWORTH, load_taxonomy())
    engine.dispose()
    return url


@pytest.fixture
def demo_db_url(stores: Stores, demo_template_url: str) -> Iterator[str]:
    """A private copy of the demo store for one test (tests may write to it)."""
    url = stores.copy(demo_template_url, "demo")
    yield url
    stores.drop(url)


@pytest.fixture(scope="session")
def london_template(stores: Stores, demo_template_url: str) -> tuple[str, SecondBorough]:
    """The demo store with a copy of it as Lambeth (``tests.second_borough``), built once per
    session; tests take copies."""
    url = stores.copy(demo_template_url, "london")
    engine = make_engine(url)
    second = add_second_borough(engine)
    engine.dispose()
    return url, second


@pytest.fixture
def london_db_url(stores: Stores, london_template: tuple[str, SecondBorough]) -> Iterator[str]:
    """A private copy of the two-borough store for one test."""
    url = stores.copy(london_template[0], "london")
    yield url
    stores.drop(url)


@pytest.fixture
def lambeth(london_template: tuple[str, SecondBorough]) -> SecondBorough:
    """What ``london_template`` holds of its second borough (ids, names), for assertions."""
    return london_template[1]


@pytest.fixture
def new_db_url(stores: Stores) -> Iterator[str]:
    """A new database that was never migrated."""
    url = stores.new("new")
    yield url
    stores.drop(url)


@pytest.fixture
def seeded_db(demo_db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the app's settings at a private demo store, with tiles off (tests have no internet)."""
    monkeypatch.setenv("DATABASE_URL", demo_db_url)
    monkeypatch.setenv("MAP_TILES", "none")
    monkeypatch.delenv("BOROUGH_CODE", raising=False)
    return demo_db_url


@pytest.fixture
def empty_db_url(new_db_url: str) -> str:
    """A migrated store with no data."""
    engine = make_engine(new_db_url)
    migrate(engine)
    engine.dispose()
    return new_db_url
