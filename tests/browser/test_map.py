"""What only a browser shows: the map draws offline, layers toggle, clicks work, nothing leaks."""

from __future__ import annotations

import os
import re
from urllib.parse import urlparse

import pytest
from playwright.sync_api import FrameLocator, Page, expect

from dashboard import PROJECT_ROOT

pytestmark = pytest.mark.browser

MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'
# docs/map.png (the README's picture) is refreshed only on request: a test run leaves git clean
SCREENSHOT = (
    PROJECT_ROOT / "docs" / "map.png"
    if os.environ.get("UPDATE_DOCS_SCREENSHOT")
    else PROJECT_ROOT / "artifacts" / "map.png"
)


def open_map(page: Page, app_url: str) -> FrameLocator:
    page.goto(app_url)
    leaflet = page.frame_locator(MAP_FRAME)
    expect(leaflet.locator("path.ward")).to_have_count(22, timeout=45_000)
    return leaflet


def script_runs(frames: list[bytes], app_url: str) -> list[bytes]:
    """The messages in which the browser asked for a script run.

    Streamlit's browser asks with a ``rerun_script`` BackMsg, which carries the page's own
    address in its context; its other messages (heartbeats, file uploads) do not.
    """
    return [payload for payload in frames if f"{app_url}/".encode() in payload]


def test_map_draws_wards_cells_bins_and_stops_without_leaving_localhost(page: Page, app_url: str):
    hosts: set[str] = set()
    failures: list[str] = []
    page.on("request", lambda request: hosts.add(urlparse(request.url).hostname))
    page.on("requestfailed", lambda request: failures.append(request.url))
    page.on(
        "response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )

    leaflet = open_map(page, app_url)

    assert leaflet.locator("path.hotspot-cell:not(.hotspot-empty)").count() > 100
    expect(leaflet.locator(".leaflet-marker-icon.knife-bin")).to_have_count(2)
    assert leaflet.locator(".leaflet-marker-icon.youth-bus-stop").count() >= 6
    expect(leaflet.locator(".map-legend")).to_contain_text("Knife amnesty bin")
    expect(leaflet.locator(".leaflet-control-attribution")).to_contain_text(
        "Office for National Statistics"
    )
    # no broken image anywhere in the map frame (Leaflet's own icons included)
    broken = leaflet.locator("img").evaluate_all(
        "images => images.filter(i => i.complete && i.naturalWidth === 0).map(i => i.src)"
    )
    assert broken == []
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert hosts == {"127.0.0.1"}, f"the page also requested {hosts - {'127.0.0.1'}}"
    assert failures == []


@pytest.mark.parametrize(
    ("layer", "selector"),
    [
        ("Ward boundaries", "path.ward"),
        ("CSO ward assignments", "path.cso-ward"),
        ("Incident hotspots", "path.hotspot-cell"),
        ("Knife amnesty bins", ".leaflet-marker-icon.knife-bin"),
        ("Youth Bus stops", ".leaflet-marker-icon.youth-bus-stop"),
    ],
)
def test_unticking_a_layer_hides_it_and_ticking_brings_it_back(
    page: Page, app_url: str, layer: str, selector: str
):
    leaflet = open_map(page, app_url)
    shown = leaflet.locator(selector).count()
    assert shown > 0

    leaflet.get_by_label(layer).uncheck()
    expect(leaflet.locator(selector)).to_have_count(0)
    leaflet.get_by_label(layer).check()
    expect(leaflet.locator(selector)).to_have_count(shown)


def test_a_knife_bin_popup_gives_its_address_and_what_to_do(page: Page, app_url: str):
    leaflet = open_map(page, app_url)

    # by keyboard, as Leaflet's markers allow: a pointer click aimed while Streamlit still scrolls
    # the page after a rerun can land beside the marker
    bin_marker = leaflet.locator(".leaflet-marker-icon.knife-bin").first
    bin_marker.focus()
    bin_marker.press("Enter")

    popup = leaflet.locator(".leaflet-popup-content")
    expect(popup).to_contain_text("knife amnesty bin")
    expect(popup).to_contain_text("What to do:")
    expect(popup).to_contain_text("London")


def test_panning_does_not_rerun_but_clicking_a_ward_shows_its_cso(page: Page, app_url: str):
    sent: list[bytes] = []

    def watch(socket) -> None:
        socket.on(
            "framesent",
            lambda payload: sent.append(
                payload if isinstance(payload, bytes) else payload.encode()
            ),
        )

    page.on("websocket", watch)
    leaflet = open_map(page, app_url)
    expect(page.get_by_text("Running...")).to_have_count(0)
    before = len(sent)

    # drag the map well across, then zoom in and out: none of this may rerun the script
    map_box = leaflet.locator(".leaflet-container").bounding_box()
    x, y = map_box["x"] + map_box["width"] / 2, map_box["y"] + map_box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 200, y - 120, steps=12)
    page.mouse.up()
    leaflet.locator(".leaflet-control-zoom-in").click()
    leaflet.locator(".leaflet-control-zoom-out").click()

    # a click on a ward is the one thing that reruns; hide the cells so the click lands on the ward
    leaflet.get_by_label("Incident hotspots").uncheck()
    leaflet.locator("path.cso-ward").nth(0).click()
    panel = page.get_by_text(re.compile(r"^CSO: "))
    expect(panel).to_be_visible(timeout=20_000)

    # every run asked for since carries the clicked ward, and none the map's view: panning and
    # zooming sent nothing (a rerun for them would carry "bounds" and "zoom")
    runs = script_runs(sent[before:], app_url)
    assert runs, "the click on a ward did not rerun the page"
    assert all(b"ward_code" in payload for payload in runs), "a rerun without a ward click"
    assert not any(b'"bounds"' in payload or b'"zoom"' in payload for payload in runs)
    # the rerun ran the whole app, not the page alone: the account menu is still there
    expect(page.get_by_text("Signed in as")).to_be_visible()
    expect(page.get_by_text(re.compile(r"\(E050\d{5}\)"))).to_be_visible()


def test_the_map_draws_on_a_plain_background_when_tiles_cannot_load(
    page: Page, demo_db_url: str, tmp_path
):
    from tests.browser.conftest import running_app

    # port 9 (discard) on loopback refuses at once: a tile server that is down
    dead_tiles = "http://127.0.0.1:9/{z}/{x}/{y}.png"
    tile_failures: list[str] = []
    page.on("requestfailed", lambda request: tile_failures.append(request.url))

    with running_app(
        demo_db_url, tmp_path, MAP_TILES=dead_tiles, MAP_TILES_ATTRIBUTION="Dead tiles"
    ) as url:
        leaflet = open_map(page, url)
        expect(leaflet.locator(".leaflet-control-attribution")).to_contain_text("Dead tiles")
        expect(leaflet.locator(".leaflet-marker-icon.knife-bin")).to_have_count(2)
        background = leaflet.locator(".leaflet-container").evaluate(
            "element => getComputedStyle(element).backgroundColor"
        )

    assert any(failed.startswith("http://127.0.0.1:9/") for failed in tile_failures)
    assert background == "rgb(242, 239, 233)"


def test_the_open_actions_of_the_plans_in_view_follow_the_map_without_a_rerun(
    page: Page, app_url: str
):
    sent: list[bytes] = []
    page.on(
        "websocket",
        lambda socket: socket.on(
            "framesent",
            lambda payload: sent.append(
                payload if isinstance(payload, bytes) else payload.encode()
            ),
        ),
    )
    leaflet = open_map(page, app_url)
    expect(page.get_by_text("Running...")).to_have_count(0)
    panel = leaflet.locator(".plans-in-view")
    expect(panel.locator("summary")).to_have_text("Open actions in view (14)")  # folded at first
    panel.locator("summary").click()
    expect(panel.locator(".piv-plan")).to_have_count(4)  # the whole borough: every open plan
    expect(panel.locator(".piv-attention").first).to_contain_text("OVERDUE: ")
    panel.locator("summary").click()  # fold it again: open, it lies over the west of the map
    before = len(sent)

    # zoom in on the Alton Estate, the westernmost plan, with the mouse wheel over it
    areas = leaflet.locator("path.plan-area")
    boxes = [areas.nth(index).bounding_box() for index in range(areas.count())]
    west = min(boxes, key=lambda box: box["x"])
    page.mouse.move(west["x"] + west["width"] / 2, west["y"] + west["height"] / 2)
    scale = leaflet.locator(".leaflet-control-scale-line").first
    for _ in range(2):
        shown = scale.inner_text()
        page.mouse.wheel(0, -120)  # about two zoom levels in (Leaflet: 60 px a level)
        expect(scale).not_to_have_text(shown)  # the zoom is done before the next turn

    panel.locator("summary").click()
    expect(panel.locator(".piv-plan")).to_have_text(
        ["Alton Estate youth violence and exploitation"]
    )
    expect(panel.locator("summary")).to_have_text(re.compile(r"^Open actions in view \([1-6]\)$"))
    page.screenshot(path=PROJECT_ROOT / "artifacts" / "plans-in-view.png")
    assert script_runs(sent[before:], app_url) == []  # all of it happened in the browser
