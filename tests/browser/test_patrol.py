"""The Patrol plan page on a phone: a link opens the plan, a stop comes off, the GPX follows it."""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlparse

import gpxpy
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ARTIFACTS, NO_SMOOTH_SCROLLING
from tests.browser.test_map import MAP_FRAME

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
# Samir Ferreira's wards, Friday and Saturday nights, over two years: five stops in the demo
LINK = {
    "cso": "6",
    "wards": "E05014012,E05014014,E05014016,E05014018",
    "days": "FRI,SAT",
    "from": "18:00",
    "to": "02:00",
    "months": "24",
}
STOP_LINE = re.compile(r"^(\d+)\. .* cell (\d+_\d+)$")


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.add_init_script(NO_SMOOTH_SCROLLING)
    page = context.new_page()
    yield page
    context.close()


def stops_listed(page: Page) -> list[str]:
    """The cells of the stops as the page lists them, in visiting order."""
    lines = page.get_by_text(re.compile(r"^\d+\. \d\d:\d\d")).all_inner_texts()
    return [STOP_LINE.match(line.strip())[2] for line in lines]


def test_on_a_phone_a_cso_removes_a_stop_and_takes_the_gpx(phone: Page, app_url: str):
    hosts: set[str] = set()
    phone.on("request", lambda request: hosts.add(urlparse(request.url).hostname))

    phone.goto(f"{app_url}/patrol?{urlencode(LINK)}")

    leaflet = phone.frame_locator(MAP_FRAME)
    expect(leaflet.locator(".leaflet-marker-icon.patrol-stop")).to_have_count(5, timeout=45_000)
    assert leaflet.locator("path.patrol-cell.is-stop").count() == 5
    expect(leaflet.locator("path.patrol-route")).to_have_count(1)
    before = stops_listed(phone)
    assert len(before) == 5
    # the page fits the phone: nothing to scroll sideways
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    ARTIFACTS.mkdir(exist_ok=True)
    phone.locator(MAP_FRAME).scroll_into_view_if_needed()
    phone.screenshot(path=str(ARTIFACTS / "patrol-phone-map.png"))
    phone.get_by_role("button", name="Remove stop 1").scroll_into_view_if_needed()
    phone.screenshot(path=str(ARTIFACTS / "patrol-phone-stops.png"))

    phone.get_by_role("button", name="Remove stop 2").click()

    expect(leaflet.locator(".leaflet-marker-icon.patrol-stop")).to_have_count(4, timeout=30_000)
    expect(phone.get_by_role("button", name=re.compile(r"^Remove stop \d$"))).to_have_count(4)
    after = stops_listed(phone)
    assert sorted(after) == sorted(set(before) - {before[1]})
    assert f"drop={before[1]}" in phone.url  # the address reopens the changed plan

    with phone.expect_download() as download:
        phone.get_by_role("button", name="Route for a phone (GPX)").click()
    route = gpxpy.parse(download.value.path().read_text(encoding="utf-8"))
    waypoints = [point for point in route.waypoints if point.name.startswith("Stop ")]
    assert [point.name for point in waypoints] == ["Stop 1", "Stop 2", "Stop 3", "Stop 4"]
    assert [re.search(r"Cell (\d+_\d+)", point.description)[1] for point in waypoints] == after
    assert len(route.tracks[0].segments[0].points) == 4
    assert hosts <= {"127.0.0.1", "localhost"}
    phone.get_by_role("button", name="Route for a phone (GPX)").scroll_into_view_if_needed()
    phone.screenshot(path=str(ARTIFACTS / "patrol-phone-take-away.png"))
