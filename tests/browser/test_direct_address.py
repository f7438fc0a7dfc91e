"""A page's address opened first on a fresh server still goes through the app's sign-in and menu."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import running_app

pytestmark = pytest.mark.browser


def test_the_first_request_to_a_page_address_runs_inside_the_app(
    page: Page, demo_db_file: Path, tmp_path: Path
):
    database = tmp_path / "demo.db"
    database.write_bytes(demo_db_file.read_bytes())

    with running_app(database, tmp_path) as url:  # nothing has been asked of this server yet
        page.goto(f"{url}/data")

        expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Demo mode")).to_be_visible()  # the entry script ran
        navigation = page.get_by_test_id("stSidebarNav")
        links = navigation.get_by_role("link")
        expect(links).to_have_count(4)
        expect(links).to_contain_text(["Map", "Wards and CSOs", "About the data", "Data"])
