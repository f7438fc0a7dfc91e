"""The Hotspots page in Chromium: Gi* classes draw, the layer toggles, the density view swaps in."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_map import MAP_FRAME

pytestmark = pytest.mark.browser


def test_significant_cells_draw_toggle_and_give_way_to_the_density_surface(
    page: Page, app_url: str
):
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlparse(request.url).hostname))

    page.goto(f"{app_url}/hotspots")

    leaflet = page.frame_locator(MAP_FRAME)
    expect(leaflet.locator("path.ward")).to_have_count(22, timeout=45_000)
    hot = leaflet.locator("path.significance-cell.hot-99")
    expect(hot.first).to_be_visible()
    assert hot.count() > 20
    # the counts' quiet cells are not drawn: only significant cells are
    assert leaflet.locator("path.significance-cell").count() < 200
    legend = leaflet.locator(".map-legend")
    legend.get_by_text("Legend").click()
    expect(legend).to_contain_text("Hot spot, 99% confidence")
    expect(legend).to_contain_text("never labelled hot")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "hotspots-significance.png"))

    leaflet.locator(".leaflet-control-layers").hover()
    leaflet.get_by_label("Significant hotspots (Gi*)").uncheck()
    expect(leaflet.locator("path.significance-cell")).to_have_count(0)
    leaflet.get_by_label("Significant hotspots (Gi*)").check()
    expect(hot.first).to_be_visible()

    page.get_by_text("Kernel density", exact=True).click()

    expect(leaflet.locator("img.density-surface")).to_have_count(1, timeout=30_000)
    # while a rerun finishes, the old map's frame can stay beside the new one for a moment
    expect(page.locator(MAP_FRAME)).to_have_count(1, timeout=30_000)
    expect(leaflet.locator("path.significance-cell")).to_have_count(0)
    assert leaflet.locator("img.density-surface").evaluate("img => img.naturalWidth") > 50
    page.screenshot(path=str(ARTIFACTS / "hotspots-density.png"))

    page.get_by_role("tab", name="When").click()
    chart = page.locator("[data-testid='stVegaLiteChart']").first
    expect(chart).to_be_visible()
    assert chart.bounding_box()["height"] > 100
    assert hosts <= {"127.0.0.1", "localhost"}
