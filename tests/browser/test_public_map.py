"""The public knife-bin map in real Chromium: nothing internal leaks, it works by keyboard and on
a phone, axe finds nothing serious, and text typed into the store cannot run as script.

The public sees it two ways: the exported folder served as static files (what the council's web
team hosts), and ``public_app.py`` run by Streamlit.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

import pytest
import xstatic.pkg.leaflet
from playwright.sync_api import Browser, Frame, Page, Response, expect
from sqlalchemy import select

from dashboard import PROJECT_ROOT
from dashboard.config import Settings
from dashboard.exports import export_public_map
from dashboard.store.models import Asset, AssetKind, Base, Cso, Incident, Plan
from dashboard.store.session import make_engine, session_scope
from tests.browser.conftest import ARTIFACTS, running_app
from tests.stores import Stores

pytestmark = pytest.mark.browser

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
DEMO_BINS = ["Roehampton Library knife amnesty bin", "St George's Hospital knife amnesty bin"]
CANARIES = (
    "CANARY-CSO-Zebedee",  # a CSO's name
    "CANARY-PLAN-Quartz",  # a problem-solving plan's title
    "CANARY-INC-0042",  # an incident's source reference
    "CANARY-PRIVATE-BIN",  # a knife bin not marked public
    "CANARY-NOTE-Basalt",  # the internal note of a public bin
    "CANARY-BUS-Opal",  # a Youth Bus stop, even one marked public
)
IMG_PAYLOAD = '<img src=x onerror="window.__xss=1">'
SCRIPT_PAYLOAD = "<script>window.__xss=2</script>"
EXPORTED_ON = date(2026, 11, 7)
APP_FRAME = 'iframe[title="Knife amnesty bins in Wandsworth"]'
MARKERS = ".leaflet-marker-icon.knife-bin-marker"
BAD_IMPACTS = ("serious", "critical")


@dataclass(frozen=True)
class Site:
    """An exported public map served over HTTP, and the store it was exported from."""

    url: str
    folder: Path
    database_url: str


@dataclass
class Traffic:
    """Everything a page asked for and received."""

    urls: list[str] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    socket_frames: list[str] = field(default_factory=list)

    def hosts(self) -> set[str]:
        return {urlparse(url).hostname for url in self.urls}

    def received_text(self) -> str:
        """Every response body and websocket message, as text."""
        bodies = [
            response.body().decode("utf-8", errors="replace")
            for response in self.responses
            if not 300 <= response.status < 400  # a redirect has no body to read
        ]
        return "\n".join(bodies + self.socket_frames)


def record(page: Page) -> Traffic:
    traffic = Traffic()

    def on_socket(socket) -> None:
        traffic.urls.append(socket.url)
        socket.on(
            "framereceived",
            lambda payload: traffic.socket_frames.append(
                payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload
            ),
        )

    page.on("request", lambda request: traffic.urls.append(request.url))
    page.on("response", lambda response: traffic.responses.append(response))
    page.on("websocket", on_socket)
    return traffic


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *_args: object) -> None:
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` as static files on 127.0.0.1 and a free port, as a web team would."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def plant_canaries(database_url: str) -> None:
    """Put internal text everywhere a careless public page might pick it up."""
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        session.scalars(select(Cso).order_by(Cso.id)).first().display_name = CANARIES[0]
        session.scalars(select(Plan).order_by(Plan.id)).first().title = CANARIES[1]
        model = session.scalars(select(Incident).order_by(Incident.id)).first()
        copied = {c.key: getattr(model, c.key) for c in Incident.__table__.columns if c.key != "id"}
        session.add(Incident(**{**copied, "source_ref": CANARIES[2]}))  # valid: a real row's values
        session.add(
            Asset(
                kind=AssetKind.KNIFE_BIN,
                name=CANARIES[3],
                address="Battersea Park Road, London SW11",
                longitude=-0.158,
                latitude=51.474,
                public=False,
                guidance="Not yet installed.",
            )
        )
        public_bin = session.scalars(select(Asset).where(Asset.name == DEMO_BINS[0])).one()
        public_bin.notes = CANARIES[4]
        session.add(
            Asset(
                kind=AssetKind.YOUTH_BUS_STOP,
                name=CANARIES[5],
                address="Wandsworth Common, London SW18",
                longitude=-0.173,
                latitude=51.452,
                public=True,
            )
        )
    engine.dispose()


def store_text(database_url: str) -> str:
    """Every value in every table of the store, as text."""
    engine = make_engine(database_url)
    with engine.connect() as connection:
        rows = [
            repr(row)
            for table in Base.metadata.sorted_tables
            for row in connection.execute(select(table))
        ]
    engine.dispose()
    return "\n".join(rows)


def exported_site(database_url: str, workdir: Path) -> Iterator[Site]:
    folder = workdir / "web" / "public"
    engine = make_engine(database_url)
    export_public_map(engine, folder, Settings(map_tiles="none"), EXPORTED_ON)
    engine.dispose()
    with serve(folder) as url:
        yield Site(url=url, folder=folder, database_url=database_url)


@pytest.fixture(scope="module")
def leaky_site(
    stores: Stores, demo_template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """The demo store with canaries planted in it, exported and served; tiles off."""
    workdir = tmp_path_factory.mktemp("leaky")
    database_url = stores.copy(demo_template_url, "leaky")
    plant_canaries(database_url)
    yield from exported_site(database_url, workdir)


@pytest.fixture(scope="module")
def public_app_url(leaky_site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``public_app.py`` on the leaky store's snapshot, with DATABASE_URL at the leaky store:
    if the app ever read the store, the canaries would be there for it to leak."""
    workdir = tmp_path_factory.mktemp("public-app")
    with running_app(
        leaky_site.database_url, workdir, script="public_app.py", PUBLIC_DIR=str(leaky_site.folder)
    ) as url:
        yield url


@pytest.fixture(scope="module")
def xss_site(
    stores: Stores, demo_template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """Two public bins whose name, address and guidance are markup someone typed."""
    workdir = tmp_path_factory.mktemp("xss")
    database_url = stores.copy(demo_template_url, "xss")
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        for name, address, guidance in [
            (IMG_PAYLOAD, SCRIPT_PAYLOAD, IMG_PAYLOAD),
            (SCRIPT_PAYLOAD, IMG_PAYLOAD, SCRIPT_PAYLOAD),
        ]:
            session.add(
                Asset(
                    kind=AssetKind.KNIFE_BIN,
                    name=name,
                    address=address,
                    guidance=guidance,
                    longitude=-0.19,
                    latitude=51.455 if name == IMG_PAYLOAD else 51.46,
                    public=True,
                )
            )
    engine.dispose()
    yield from exported_site(database_url, workdir)


@pytest.fixture(scope="module")
def axe_script() -> Path:
    """axe-core from npm. Where CI demands the browser tests (REQUIRE_BROWSER), fail, not skip."""
    if not AXE.is_file():
        reason = f"axe-core is not installed ({AXE} is missing): run `npm ci` or `make test`"
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    return AXE


def open_static(page: Page, site: Site) -> None:
    page.goto(site.url)
    expect(page.locator(MARKERS)).to_have_count(2)


def open_app(page: Page, url: str) -> Frame:
    page.goto(url)
    frame = page.frame_locator(APP_FRAME)
    expect(frame.locator(MARKERS)).to_have_count(2, timeout=30_000)
    expect(page.locator('[data-testid="stApp"]')).to_have_attribute(
        "data-test-script-state", "notRunning"
    )
    return page.locator(APP_FRAME).element_handle().content_frame()


def serious_axe_violations(target: Page | Frame, axe: Path) -> list[str]:
    """Serious and critical axe violations in ``target``, one readable line each."""
    target.add_script_tag(path=str(axe))
    results = target.evaluate("async () => await axe.run(document)")
    return [
        f"{violation['impact']}: {violation['id']}: {violation['help']} "
        f"{[node['target'] for node in violation['nodes']]}"
        for violation in results["violations"]
        if violation["impact"] in BAD_IMPACTS
    ]


def test_canaries_are_in_the_store(leaky_site: Site):
    # the leak test below means something only if the secrets are really there to leak
    stored = store_text(leaky_site.database_url)

    assert [canary for canary in CANARIES if canary not in stored] == []


def test_no_canary_reaches_the_export_or_any_byte_chromium_receives(
    browser: Browser, leaky_site: Site, public_app_url: str
):
    exported = "\n".join(
        path.read_bytes().decode("utf-8", errors="replace")
        for path in sorted(leaky_site.folder.rglob("*"))
        if path.is_file()
    )
    assert all(name in exported for name in DEMO_BINS)
    assert [canary for canary in CANARIES if canary in exported] == []

    context = browser.new_context()
    page = context.new_page()
    static = record(page)
    open_static(page, leaky_site)
    page.wait_for_load_state("networkidle")
    static_text = static.received_text() + page.content()
    assert all(name in static_text for name in DEMO_BINS)
    assert [canary for canary in CANARIES if canary in static_text] == []
    assert static.hosts() == {"127.0.0.1"}, f"the page also asked {static.hosts()}"

    page = context.new_page()
    app = record(page)
    frame = open_app(page, public_app_url)
    app_text = app.received_text() + page.content() + frame.content()
    assert all(name in app.received_text() for name in DEMO_BINS)  # the bins came this way
    assert [canary for canary in CANARIES if canary in app_text] == []
    assert app.hosts() == {"127.0.0.1"}, f"the app also asked {app.hosts()}"
    context.close()


def test_both_bins_are_on_the_map_and_in_the_list_and_the_list_works_by_keyboard(
    page: Page, leaky_site: Site
):
    open_static(page, leaky_site)
    markers = page.locator(MARKERS)
    assert [markers.nth(i).get_attribute("title") for i in range(2)] == DEMO_BINS
    expect(page.locator("#bin-list .bin-name")).to_have_text(DEMO_BINS)

    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the list of bins")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="The bins (2)")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    st_georges = page.get_by_role("button", name=f"Show on map for {DEMO_BINS[1]}")
    expect(st_georges).to_be_focused()

    page.keyboard.press("Enter")

    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_contain_text(DEMO_BINS[1])
    expect(popup).to_contain_text("Blackshaw Road, London SW17 0QT")
    expect(page.locator(".bin-popup")).to_be_focused()
    page.keyboard.press("Escape")
    expect(popup).to_have_count(0)
    expect(st_georges).to_be_focused()


def test_a_marker_click_opens_its_popup(page: Page, leaky_site: Site):
    open_static(page, leaky_site)

    page.locator(MARKERS).first.click()

    expect(page.locator(".leaflet-popup-content")).to_contain_text(DEMO_BINS[0])


@pytest.mark.parametrize("width", [320, 1280])
def test_the_page_fits_a_phone_and_a_desktop(browser: Browser, leaky_site: Site, width: int):
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    open_static(page, leaky_site)

    assert page.evaluate("document.documentElement.scrollWidth") <= width
    expect(page.locator("#bin-list")).to_be_visible()
    map_box = page.locator("#map").bounding_box()
    list_box = page.locator("#bin-list").bounding_box()
    if width == 320:  # one column: the list follows the map
        assert list_box["y"] >= map_box["y"] + map_box["height"]
    else:  # two columns: the list is beside the map
        assert list_box["x"] >= map_box["x"] + map_box["width"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"public-map-{width}.png"), full_page=True)
    context.close()


def test_the_public_app_fits_a_phone(browser: Browser, public_app_url: str):
    context = browser.new_context(viewport={"width": 320, "height": 800})
    page = context.new_page()
    frame = open_app(page, public_app_url)

    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    frame_width = frame.evaluate("document.documentElement.clientWidth")
    assert frame.evaluate("document.documentElement.scrollWidth") <= frame_width
    expect(frame.locator("#bin-list")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "public-app-320.png"), full_page=True)
    context.close()


def test_axe_finds_nothing_serious_in_the_static_page(
    browser: Browser, leaky_site: Site, axe_script: Path
):
    # the page's Content-Security-Policy would refuse the injected axe script
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    open_static(page, leaky_site)

    assert serious_axe_violations(page, axe_script) == []
    context.close()


def test_axe_finds_nothing_serious_in_the_public_app(
    browser: Browser, public_app_url: str, axe_script: Path
):
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    frame = open_app(page, public_app_url)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "public-app-1280.png"), full_page=True)

    assert serious_axe_violations(frame, axe_script) == []
    assert serious_axe_violations(page, axe_script) == []
    context.close()


def test_the_public_app_has_one_page_and_no_navigation(page: Page, public_app_url: str):
    # pages/ beside the entry script would otherwise become pages of the public app
    open_app(page, f"{public_app_url}/map")

    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)
    assert page.title() == "Knife amnesty bins in Wandsworth"


class _TileHandler(http.server.BaseHTTPRequestHandler):
    """A tile server: every address is the same small PNG (Leaflet's own layers icon)."""

    def do_GET(self) -> None:
        body = (Path(xstatic.pkg.leaflet.BASE_DIR) / "images" / "layers.png").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


def test_with_tiles_the_page_asks_only_the_tile_host_and_credits_it(
    browser: Browser, demo_db_url: str, tmp_path: Path
):
    tiles = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TileHandler)
    threading.Thread(target=tiles.serve_forever, daemon=True).start()
    tile_origin = f"http://127.0.0.1:{tiles.server_address[1]}"  # another origin than the page
    settings = Settings(
        map_tiles=f"{tile_origin}/{{z}}/{{x}}/{{y}}.png", map_tiles_attribution="Test tiles"
    )
    engine = make_engine(demo_db_url)
    export_public_map(engine, tmp_path / "public", settings, EXPORTED_ON)
    engine.dispose()
    context = browser.new_context()
    page = context.new_page()
    traffic = record(page)
    refused: list[str] = []
    page.on(
        "console", lambda message: refused.append(message.text) if message.type == "error" else None
    )

    try:
        with serve(tmp_path / "public") as url:
            open_static(page, Site(url=url, folder=tmp_path / "public", database_url=demo_db_url))
            expect(page.locator(".leaflet-control-attribution")).to_have_text("Test tiles")
            tile_images = page.locator("img.leaflet-tile-loaded")
            expect(tile_images.first).to_be_visible()
            page_origin = url.rstrip("/")
    finally:
        tiles.shutdown()
        tiles.server_close()
        context.close()

    origins = {"/".join(address.split("/")[:3]) for address in traffic.urls}
    assert origins == {page_origin, tile_origin}
    assert refused == []  # the Content-Security-Policy let the tiles through and blocked nothing


@pytest.mark.parametrize("csp", ["enforced", "bypassed"])
def test_markup_typed_into_a_bin_is_shown_as_text_and_never_runs(
    browser: Browser, xss_site: Site, csp: str
):
    # "bypassed": escaping alone must hold, without the page's Content-Security-Policy behind it
    context = browser.new_context(bypass_csp=csp == "bypassed")
    page = context.new_page()
    traffic = record(page)
    page.goto(xss_site.url)
    expect(page.locator(MARKERS)).to_have_count(4)

    names = page.locator("#bin-list .bin-name")
    expect(names).to_have_text([IMG_PAYLOAD, SCRIPT_PAYLOAD, *DEMO_BINS])
    expect(page.locator("#bin-list .bin-address").first).to_have_text(SCRIPT_PAYLOAD)
    expect(page.locator("#bin-list .bin-guidance").nth(1)).to_contain_text(SCRIPT_PAYLOAD)
    for index, (name, address) in enumerate(
        [(IMG_PAYLOAD, SCRIPT_PAYLOAD), (SCRIPT_PAYLOAD, IMG_PAYLOAD)]
    ):
        page.locator(".show-on-map").nth(index).click()
        popup = page.locator(".bin-popup:focus")  # the previous popup may still be fading out
        expect(popup.locator(".popup-name")).to_have_text(name)
        expect(popup.locator(".popup-address")).to_have_text(address)

    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("#bin-list img, .leaflet-popup img").count() == 0
    assert not [url for url in traffic.urls if urlparse(url).path == "/x"]
    context.close()
