"""The product on real files: ONS wards and population, police.uk crimes, signed in, on the map."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    ARTIFACTS,
    FIRST_PAGE_TIMEOUT_MS,
    auth_secrets,
    free_port,
    running_app,
)
from tests.browser.test_map import MAP_FRAME
from tests.conftest import REALDATA
from tests.realdata import ADMIN, load_real_borough

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not REALDATA.is_dir(), reason=f"no real data at {REALDATA}"),
]


def test_the_map_works_on_imported_real_data(
    page: Page,
    identity_provider: str,
    new_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    load_real_borough(new_db_url, monkeypatch)
    app_port = free_port()
    secrets_file = auth_secrets(tmp_path, identity_provider, app_port)

    with running_app(
        new_db_url,
        tmp_path,
        port=app_port,
        DEMO_MODE="0",
        STREAMLIT_SECRETS_FILES=str(secrets_file),
    ) as url:
        page.goto(url)
        sign_in = page.get_by_role("button", name="Sign in")
        expect(sign_in).to_be_visible(timeout=FIRST_PAGE_TIMEOUT_MS)
        sign_in.click()
        page.get_by_placeholder("sub").fill(ADMIN)
        page.get_by_role("button", name="Authorize").click()

        leaflet = page.frame_locator(MAP_FRAME)
        expect(leaflet.locator("path.ward")).to_have_count(22, timeout=45_000)
        assert leaflet.locator("path.hotspot-cell:not(.hotspot-empty)").count() > 100
        expect(leaflet.locator(".leaflet-marker-icon.knife-bin")).to_have_count(0)  # none loaded
        expect(page.get_by_text("Demo data.")).to_have_count(
            0
        )  # real data is not labelled synthetic
        # police.uk incidents from July 2017 to June 2018: the last 12 months of the data
        expect(page.get_by_text("01 Jul 2017 to 30 Jun 2018; all categories")).to_be_visible()
        shown = page.get_by_test_id("stMetricValue").first.inner_text()
        assert int(shown.replace(",", "")) > 5_000
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "real-data-map.png"))
