"""Typed text is shown as text, never run, wherever it reaches the internal map or its pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from dashboard.store.models import AppUser, Asset, AssetKind, Cso, Ward, YouthBusVisit
from dashboard.store.session import make_engine, session_scope
from tests.browser.conftest import FIRST_PAGE_TIMEOUT_MS, running_app
from tests.browser.test_map import MAP_FRAME

pytestmark = pytest.mark.browser

SCRIPT = '<script>window.__xss = "script"</script>'
IMAGE = "<img src=x onerror=\"window.__xss = 'img'\">"
# the map's library compiles its output as a Jinja template again: these must show as typed
TEMPLATE = "{{ dict(jinja=1)|first ~ dict(ran=1)|first }}"
BROKEN_TAG = "{% broken tag"


def plant_payloads(database_url: str) -> None:
    """Put both payloads into every free-text field the map and its pages show."""
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        session.execute(
            update(Cso).where(Cso.id == 1).values(display_name=f"CSO {SCRIPT} {TEMPLATE}")
        )
        session.execute(update(Ward).where(Ward.code == "E05014017").values(name=f"Ward {IMAGE}"))
        session.execute(
            update(Asset)
            .where(Asset.kind == AssetKind.KNIFE_BIN)
            .values(
                name=f"Bin {IMAGE} {TEMPLATE}", address=f"Street {SCRIPT}", guidance=f"Do {IMAGE}"
            )
        )
        session.execute(update(YouthBusVisit).values(activity=f"Music {SCRIPT} {BROKEN_TAG}"))
        session.execute(
            update(AppUser)
            .where(AppUser.email == "demo-analyst@example.org")
            .values(display_name=f"Analyst {IMAGE}")
        )
    engine.dispose()


def test_payloads_in_every_field_show_as_text_and_never_run(
    page: Page, demo_db_url: str, tmp_path: Path
):
    plant_payloads(demo_db_url)

    with running_app(demo_db_url, tmp_path) as url:
        page.goto(url)
        leaflet = page.frame_locator(MAP_FRAME)
        expect(leaflet.locator("path.ward")).to_have_count(22, timeout=FIRST_PAGE_TIMEOUT_MS)
        map_frame = next(frame for frame in page.frames if "st_folium" in frame.url)

        # tooltips, popups and the legend put text into the map's HTML
        expect(leaflet.locator(".map-legend")).to_contain_text(f"CSO {SCRIPT} {TEMPLATE}")
        # open every marker's popup in turn (clicks are tested in test_map.py) and read it back
        popup_texts = map_frame.evaluate(
            """() => {
                const texts = [];
                window.map.eachLayer(layer => {
                    if (layer instanceof L.Marker && layer.getPopup()) {
                        layer.openPopup();
                        texts.push(layer.getPopup().getElement().textContent);
                        layer.closePopup();
                    }
                });
                return texts;
            }"""
        )
        assert sum(f"Bin {IMAGE} {TEMPLATE}" in text for text in popup_texts) == 2
        assert sum(f"Do {IMAGE}" in text for text in popup_texts) == 2
        assert any(f"Music {SCRIPT} {BROKEN_TAG}" in text for text in popup_texts)
        leaflet.get_by_label("Incident hotspots").uncheck()
        leaflet.get_by_label("CSO ward assignments").uncheck()
        leaflet.locator("path.ward").nth(0).hover()
        expect(leaflet.locator(".leaflet-tooltip")).to_be_visible()

        # the page around the map: tables, the sidebar, the ward panel
        expect(page.get_by_test_id("stSidebarUserContent")).to_contain_text(f"Analyst {IMAGE}")
        expect(page.get_by_test_id("stAlert").first).to_contain_text(f"Analyst {IMAGE}")
        expect(page.locator(".map-legend-page")).to_contain_text(f"CSO {SCRIPT} {TEMPLATE}")
        page.get_by_role("tab", name="Knife amnesty bins").click()
        expect(page.get_by_text(f"Street {SCRIPT}")).to_have_count(2)  # both bins

        assert page.evaluate("window.__xss") is None
        assert map_frame.evaluate("window.__xss") is None
        assert leaflet.locator("img[src='x']").count() == 0
        assert page.locator("img[src='x']").count() == 0
