"""Run the real app with ``streamlit run`` on 127.0.0.1 and a free port; drive it in Chromium."""

from __future__ import annotations

import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import FrameLocator, Page

from dashboard import PROJECT_ROOT
from dashboard.static_assets import drawing_available, prepare_static
from tests.stores import Stores

CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = PROJECT_ROOT / "artifacts"
NO_SMOOTH_SCROLLING = """
document.addEventListener("DOMContentLoaded", () => {
  const style = document.createElement("style");
  style.textContent = "* { scroll-behavior: auto !important; }";
  document.head.appendChild(style);
});
"""
SERVER_START_TIMEOUT_S = 60
# a fresh server's first page run imports the app's libraries; on a busy two-core runner
# that once took over 30 s
FIRST_PAGE_TIMEOUT_MS = 90_000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip browser tests where there is no Chromium, unless CI demands them (REQUIRE_BROWSER)."""
    if CHROMIUM is not None:
        return
    if os.environ.get("REQUIRE_BROWSER"):
        raise pytest.UsageError("REQUIRE_BROWSER is set but there is no Chromium on PATH")
    skip = pytest.mark.skip(reason="no Chromium: apt-get install chromium")
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(skip)


PORTS_PER_WORKER = 2_000
FIRST_PORT = 20_000  # below Linux's ephemeral range (32768+), which outgoing connections use


def free_port() -> int:
    """A free port on 127.0.0.1 from this test worker's own range.

    Each pytest-xdist worker probes its own block of ports, so two workers starting servers at
    the same moment can never be handed the same one (a port the OS picks is only free until
    someone binds it, and the other worker's server could be the one that does).
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    first = FIRST_PORT + int(worker or 0) * PORTS_PER_WORKER
    for port in random.sample(range(first, first + PORTS_PER_WORKER), PORTS_PER_WORKER):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}-{first + PORTS_PER_WORKER - 1}")


def _wait_until_healthy(process: subprocess.Popen, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"streamlit exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)  # polling a server's health, not waiting for the page
    pytest.fail(
        f"streamlit did not become healthy in {SERVER_START_TIMEOUT_S}s:\n{log_path.read_text()}"
    )


@contextmanager
def running_app(
    database_url: str,
    workdir: Path,
    script: str = "streamlit_app.py",
    port: int | None = None,
    **settings: str,
) -> Iterator[str]:
    """Serve ``script`` (the app) on the store at ``database_url``, at 127.0.0.1.

    The port is a free one unless ``port`` is given.

    ``settings`` are environment variables for the server; it is stopped afterwards.
    """
    prepare_static()
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / f"streamlit-{port}.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MAP_TILES": "none",
        "DEMO_MODE": "1",  # signed in as the demo analyst; sign-in itself has its own test
        "STREAMLIT_SERVER_PORT": str(port),
        "STREAMLIT_SERVER_ADDRESS": "127.0.0.1",
        "STREAMLIT_SERVER_HEADLESS": "true",
        **settings,
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", script],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_healthy(process, url, log_path)
        yield url
    except BaseException:
        # pytest shows captured output with a failure: the server log says why the page failed
        sys.stderr.write(f"the app server's output ({log_path}):\n{log_path.read_text()}\n")
        raise
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def app_url(
    stores: Stores, demo_template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The app on a copy of the demo store, tiles off; the server's output is shown if it dies."""
    workdir = tmp_path_factory.mktemp("server")
    with running_app(stores.copy(demo_template_url), workdir) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Chromium for the session (Debian's package, not a Playwright download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest):
    """A fresh page at a desktop size; a screenshot is kept in artifacts/ when the test fails."""
    context = browser.new_context(viewport={"width": 1400, "height": 1300})
    # Streamlit scrolls smoothly; a click aimed while the page still glides would miss its target
    context.add_init_script(NO_SMOOTH_SCROLLING)
    page = context.new_page()
    yield page
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def identity_provider(tmp_path: Path) -> Iterator[str]:
    """oidc-provider-mock on 127.0.0.1 and a free port; yields its issuer address."""
    port = free_port()
    log_path = tmp_path / "oidc.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "oidc_provider_mock", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    issuer = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration"):
                    break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"the mock identity provider did not start:\n{log_path.read_text()}"
                    )
                time.sleep(0.2)  # polling a server's readiness
        yield issuer
    finally:
        process.terminate()
        process.wait(timeout=10)


def auth_secrets(tmp_path: Path, issuer: str, app_port: int) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "community-safety-map"\n'
        'client_secret = "not-a-real-secret"\n'
        f'server_metadata_url = "{issuer}/.well-known/openid-configuration"\n',
        encoding="utf-8",
    )
    return path


# Leaflet.draw takes two clicks within its double-click interval as a double-click (which
# finishes or drops the shape), so vertices are clicked this far apart
LEAFLET_DRAW_CLICK_GAP_MS = 300


def require_leaflet_draw(static_dir: Path) -> None:
    """Skip (fail where CI demands browser tests) when Leaflet.draw is not in ``static_dir``."""
    if not drawing_available(static_dir):
        reason = "Leaflet.draw is not installed (node_modules/leaflet-draw): run `npm ci`"
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)


def draw_polygon(page: Page, leaflet: FrameLocator, corners: list[tuple[float, float]]) -> None:
    """Draw a polygon with the mouse through ``corners`` (pixels in the map's container).

    The last click lands on the first vertex, which closes the ring as a person would.
    """
    container = leaflet.locator(".leaflet-container").bounding_box()
    leaflet.locator("a.leaflet-draw-draw-polygon").click()
    for x, y in corners:
        page.mouse.click(container["x"] + x, container["y"] + y)
        page.wait_for_timeout(LEAFLET_DRAW_CLICK_GAP_MS)
    # a box inside the component's frame is already in page coordinates
    first = leaflet.locator(".leaflet-marker-icon.leaflet-editing-icon").first.bounding_box()
    page.mouse.click(first["x"] + first["width"] / 2, first["y"] + first["height"] / 2)
