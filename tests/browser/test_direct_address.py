"""A page's address opened first on a fresh server still goes through the app's sign-in and menu."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import FIRST_PAGE_TIMEOUT_MS, running_app

pytestmark = pytest.mark.browser


def test_the_first_request_to_a_page_address_runs_inside_the_app(
    page: Page, demo_db_url: str, tmp_path: Path
):
    with running_app(demo_db_url, tmp_path) as url:  # nothing has been asked of this server yet
        page.goto(f"{url}/data")

        expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible(
            timeout=FIRST_PAGE_TIMEOUT_MS
        )
        expect(page.get_by_text("Demo mode")).to_be_visible()  # the entry script ran
        navigation = page.get_by_test_id("stSidebarNav")
        links = navigation.get_by_role("link")
        expect(links).to_have_count(10)
        expect(links).to_contain_text(
            [
                "Map",
                "Hotspots",
                "Quarterly",
                "Patrol plan",
                "Plans",
                "New plan",
                "My actions",
                "Wards and CSOs",
                "About the data",
                "Data",
            ]
        )


@pytest.mark.parametrize("address", ["map", "users", "data"])
def test_an_internal_page_address_on_a_fresh_public_server_shows_only_the_bins(
    page: Page, demo_db_url: str, tmp_path: Path, address: str
):
    from dashboard.config import load_settings
    from dashboard.exports import export_public_map
    from dashboard.store.session import make_engine

    public_dir = tmp_path / "public"
    settings = load_settings({"MAP_TILES": "none", "PUBLIC_DIR": str(public_dir)})
    export_public_map(make_engine(demo_db_url), public_dir, settings, date(2026, 11, 27))

    with running_app(
        demo_db_url, tmp_path, script="public_app.py", DEMO_MODE="0", PUBLIC_DIR=str(public_dir)
    ) as url:
        page.goto(f"{url}/{address}")

        frame = page.frame_locator("iframe").first
        expect(frame.get_by_role("heading", name="Knife amnesty bins in Wandsworth")).to_be_visible(
            timeout=FIRST_PAGE_TIMEOUT_MS
        )
        expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
        for internal in ("community safety map", "Users", "Load a file", "Signed in as"):
            expect(page.get_by_text(internal, exact=True)).to_have_count(0)
