"""The public app: shows the published snapshot, never the store, and says when there is none."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import PROJECT_ROOT
from dashboard.public_map import PublishedBin, bins_geojson

PUBLIC_APP = str(PROJECT_ROOT / "public_app.py")
BINS = [
    PublishedBin("Balham Library knife amnesty bin", "16 Ramsden Road", -0.152, 51.444, None),
    PublishedBin("Tooting Library knife amnesty bin", "75 Mitcham Road", -0.166, 51.428, "Bag it."),
]
# Nothing the public page may reach: the store, the signed-in app's helpers, the exporter
FORBIDDEN_MODULES = ("dashboard.store", "dashboard.ui", "dashboard.exports", "sqlalchemy")


@pytest.fixture
def public_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty public folder, tiles off, and a store address that must never be opened."""
    folder = tmp_path / "public"
    folder.mkdir()
    monkeypatch.setenv("PUBLIC_DIR", str(folder))
    monkeypatch.setenv("MAP_TILES", "none")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'store' / 'never-opened.db'}")
    monkeypatch.delenv("BOROUGH_NAME", raising=False)
    return folder


def run_public_app() -> AppTest:
    at = AppTest.from_file(PUBLIC_APP, default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def test_the_published_bins_are_shown_without_signing_in_or_opening_the_store(public_dir: Path):
    (public_dir / "bins.geojson").write_text(bins_geojson(BINS, date(2026, 11, 7)))

    at = run_public_app()

    assert len(at.error) == 0
    [frame] = at.get("iframe")
    assert frame.proto.alt == "Knife amnesty bins in Wandsworth"
    page = frame.proto.srcdoc
    assert '<script src="/app/static/vendor/leaflet/leaflet.js"></script>' in page
    assert "Balham Library knife amnesty bin" in page
    assert "Tooting Library knife amnesty bin" in page
    assert '<time datetime="2026-11-07">7 November 2026</time>' in page
    assert len(at.sidebar) == 0
    assert not (public_dir.parent / "store").exists(), "the public app opened the store"


def test_without_a_snapshot_it_says_the_bins_are_not_published_yet(public_dir: Path):
    at = run_public_app()

    assert len(at.error) == 0
    assert at.get("iframe") == []
    assert at.title[0].value == "Knife amnesty bins in Wandsworth"
    assert "has not published the locations of its knife amnesty bins" in at.info[0].value


def test_a_damaged_snapshot_shows_a_short_message_and_no_details(public_dir: Path):
    (public_dir / "bins.geojson").write_text(json.dumps({"type": "FeatureCollection"}))

    at = run_public_app()

    assert [error.value for error in at.error] == [
        "This page is not available at the moment. In an emergency, call 999."
    ]
    assert at.get("iframe") == []


def _module_file(module: str) -> Path | None:
    base = PROJECT_ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # "from dashboard import exports" imports a module, not a name
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    # importing a.b.c runs a/__init__ and a/b/__init__ too
    return {".".join(name.split(".")[:i]) for name in found for i in range(1, name.count(".") + 2)}


def project_imports(entry: Path) -> set[str]:
    """Every module ``entry`` imports, followed through this project's own modules."""
    seen: set[str] = set()
    files = [entry]
    while files:
        for module in _imports_of(files.pop()) - seen:
            seen.add(module)
            path = _module_file(module) if module.split(".")[0] == "dashboard" else None
            if path is not None:
                files.append(path)
    return seen


def test_the_public_app_cannot_reach_the_store_through_its_imports():
    imported = project_imports(PROJECT_ROOT / "public_app.py")

    assert "dashboard.public_map" in imported
    assert "dashboard.config" in imported
    leaks = sorted(m for m in imported if m.startswith(FORBIDDEN_MODULES))
    assert leaks == []


def test_importing_what_the_public_app_imports_loads_no_store_module():
    ours = sorted(m for m in project_imports(PROJECT_ROOT / "public_app.py") if _module_file(m))
    probe = (
        f"import importlib, sys\nfor m in {ours!r}: importlib.import_module(m)\n"
        f"print(sorted(m for m in sys.modules if m.startswith({FORBIDDEN_MODULES!r})))"
    )

    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"


def test_the_import_walk_would_notice_the_store():
    # the walk above is only worth something if it finds the store where it is imported
    assert "dashboard.store.session" in project_imports(PROJECT_ROOT / "dashboard" / "cli.py")
