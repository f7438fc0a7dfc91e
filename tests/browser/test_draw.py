"""Drawing a plan area with the mouse: Leaflet.draw served by the app, the shape reaching Python."""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import geopandas as gpd
import pytest
from playwright.sync_api import Frame, FrameLocator, Page, expect
from shapely.geometry import Polygon

from dashboard.geo import BNG, WGS84
from dashboard.static_assets import prepare_static
from tests.browser.conftest import (
    ARTIFACTS,
    FIRST_PAGE_TIMEOUT_MS,
    draw_polygon,
    require_leaflet_draw,
    running_app,
)

pytestmark = pytest.mark.browser

MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'
DRAW_APP = Path(__file__).with_name("draw_app.py")
AREA = re.compile(r"Drawn area: (\d+) m²; vertices: (\d+)")


@pytest.fixture(scope="module")
def draw_app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``draw_app.py`` served with its own ``static/`` (Leaflet, jQuery and Leaflet.draw)."""
    workdir = tmp_path_factory.mktemp("draw")
    shutil.copyfile(DRAW_APP, workdir / "draw_app.py")
    prepare_static(workdir / "static")
    require_leaflet_draw(workdir / "static")
    # the script builds its own small borough; the store is never opened
    with running_app(
        f"sqlite:///{workdir / 'unused.db'}", workdir, script=str(workdir / "draw_app.py")
    ) as url:
        yield url


def open_map(page: Page, url: str) -> tuple[FrameLocator, Frame]:
    page.goto(url)
    leaflet = page.frame_locator(MAP_FRAME)
    expect(leaflet.locator("path.ward")).to_have_count(2, timeout=FIRST_PAGE_TIMEOUT_MS)
    expect(leaflet.locator("a.leaflet-draw-draw-polygon")).to_be_visible()
    expect(page.get_by_text("Nothing drawn yet")).to_be_visible()
    return leaflet, page.locator(MAP_FRAME).element_handle().content_frame()


def container_points(
    frame: Frame, lng_lats: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Where places are in the map's container, in CSS pixels from its top left corner."""
    return [
        tuple(point)
        for point in frame.evaluate(
            "places => places.map(([lng, lat]) => {"
            "  const p = window.map.latLngToContainerPoint([lat, lng]); return [p.x, p.y]; })",
            lng_lats,
        )
    ]


def lat_lngs(
    frame: Frame, container_points: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Longitude/latitude under points of the map's container, as Leaflet itself computes them."""
    return [
        tuple(lng_lat)
        for lng_lat in frame.evaluate(
            "points => points.map(([x, y]) => {"
            "  const p = window.map.containerPointToLatLng([x, y]); return [p.lng, p.lat]; })",
            container_points,
        )
    ]


def area_m2(lng_lats: list[tuple[float, float]]) -> float:
    return gpd.GeoSeries([Polygon(lng_lats)], crs=WGS84).to_crs(BNG).area.iloc[0]


def test_a_polygon_drawn_with_the_mouse_reaches_the_app_without_leaving_localhost(
    page: Page, draw_app_url: str
):
    hosts: set[str] = set()
    failures: list[str] = []
    page.on("request", lambda request: hosts.add(urlparse(request.url).hostname))
    page.on("requestfailed", lambda request: failures.append(request.url))
    page.on(
        "response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    leaflet, frame = open_map(page, draw_app_url)
    # a quadrilateral in the northern ward, away from the plan and the controls in the corners
    places = [(-0.197, 51.4620), (-0.186, 51.4625), (-0.185, 51.4680), (-0.196, 51.4675)]
    corners = [(round(x), round(y)) for x, y in container_points(frame, places)]

    draw_polygon(page, leaflet, corners)

    received = page.get_by_text(AREA)
    expect(received).to_be_visible(timeout=20_000)
    expect(leaflet.locator("path.drawn-area")).to_have_count(1)
    drawn_m2, vertices = (int(value) for value in AREA.search(received.inner_text()).groups())
    assert vertices == len(corners)
    # the area Python measured is the one under the mouse (Leaflet's own pixel->degree sums)
    assert drawn_m2 == pytest.approx(area_m2(lat_lngs(frame, corners)), rel=0.01)
    assert drawn_m2 == pytest.approx(area_m2(places), rel=0.02)  # and the one meant
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "draw.png"))
    assert hosts == {"127.0.0.1"}, f"the page also requested {hosts - {'127.0.0.1'}}"
    assert failures == []


def test_a_circle_drawn_by_dragging_comes_back_as_a_polygon_of_that_radius(
    page: Page, draw_app_url: str
):
    leaflet, frame = open_map(page, draw_app_url)
    container = leaflet.locator(".leaflet-container").bounding_box()
    centre, edge = (
        (round(x), round(y))
        for x, y in container_points(frame, [(-0.19, 51.465), (-0.186, 51.465)])
    )

    leaflet.locator("a.leaflet-draw-draw-circle").click()
    page.mouse.move(container["x"] + centre[0], container["y"] + centre[1])
    page.mouse.down()
    page.mouse.move(container["x"] + edge[0], container["y"] + edge[1], steps=8)
    page.mouse.up()

    received = page.get_by_text(AREA)
    expect(received).to_be_visible(timeout=20_000)
    received_text = received.inner_text()
    drawn_m2, vertices = (int(value) for value in AREA.search(received_text).groups())
    (centre_lng_lat, edge_lng_lat) = lat_lngs(frame, [centre, edge])
    radius_m = frame.evaluate(
        "([c, e]) => window.map.distance([c[1], c[0]], [e[1], e[0]])",
        [centre_lng_lat, edge_lng_lat],
    )
    assert vertices == 64
    # BNG's scale factor near London is ~0.9998; a 64-gon holds 99.8% of its circle
    assert drawn_m2 == pytest.approx(math.pi * radius_m**2, rel=0.01)

    # resize it: the app must get the new radius, not the one it was drawn with
    leaflet.locator("a.leaflet-draw-edit-edit").click()
    handle = leaflet.locator(".leaflet-marker-icon.leaflet-edit-resize").bounding_box()
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 60, y, steps=8)
    page.mouse.up()
    leaflet.get_by_role("link", name="Save").click()

    expect(page.get_by_text(AREA)).not_to_have_text(received_text, timeout=20_000)
    resized_m2, _ = (int(value) for value in AREA.search(received.inner_text()).groups())
    resized_radius_m = frame.evaluate(
        "() => { let radius = 0;"
        "  window.map.eachLayer(l => { if (l instanceof L.Circle) radius = l.getRadius(); });"
        "  return radius; }"
    )
    assert resized_radius_m > radius_m * 1.3
    assert resized_m2 == pytest.approx(math.pi * resized_radius_m**2, rel=0.01)


def test_a_click_in_a_plan_area_over_hotspot_cells_selects_the_plan(page: Page, draw_app_url: str):
    leaflet, _frame = open_map(page, draw_app_url)
    plan = leaflet.locator("path.plan-area.plan-open")
    expect(plan).to_have_count(1)
    assert leaflet.locator("path.hotspot-cell").count() > 0

    plan.hover()
    # while drawing, plans show no tooltip: it would sit over the area being drawn (the plan
    # page's map and the main map show it; tests/browser/test_plans.py checks its escaping)
    expect(leaflet.locator(".leaflet-tooltip")).to_have_count(0)
    plan.click()

    expect(page.get_by_text("Clicked plan: 7")).to_be_visible(timeout=20_000)
    # re-ticking the cells puts them on top of the overlay pane, but not above the plans' pane
    leaflet.locator(".leaflet-control-layers").hover()  # folded until the pointer is on it
    leaflet.get_by_label("Incident hotspots").uncheck()
    leaflet.get_by_label("Incident hotspots").check()
    assert plan.evaluate(
        "path => { const b = path.getBoundingClientRect();"
        " return document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2) === path; }"
    )
