"""The Quarterly page in Chromium: both maps draw, and the pack downloads as a real PDF."""

from __future__ import annotations

import io
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_map import MAP_FRAME

pytestmark = pytest.mark.browser


def test_the_quarterly_page_draws_its_maps_and_gives_the_pack(page: Page, app_url: str):
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlparse(request.url).hostname))

    page.goto(f"{app_url}/quarterly?quarter=2026/27-Q2")

    expect(page.get_by_role("heading", name="2026/27 Q2 (July")).to_be_visible(timeout=45_000)
    maps = page.locator(MAP_FRAME)
    expect(maps).to_have_count(2, timeout=30_000)
    wards = page.frame_locator(MAP_FRAME).first
    expect(wards.locator("path.rate-ward")).to_have_count(22, timeout=30_000)
    expect(wards.locator(".map-legend")).to_contain_text("quantiles")
    cells = page.frame_locator(MAP_FRAME).nth(1)
    expect(cells.locator("path.pattern-cell").first).to_be_visible(timeout=30_000)
    assert cells.locator("path.pattern-cell.persistent").count() > 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "quarterly.png"))

    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("button", name="Download quarterly pack (PDF)").click()

    assert download.value.suggested_filename == "quarterly-pack-2026-27-Q2.pdf"
    data = download.value.path().read_bytes()
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 5
    first = reader.pages[0].extract_text()
    assert "2026/27 Q2" in first
    assert "OFFICIAL-SENSITIVE" in first
    assert all("OFFICIAL-SENSITIVE" in p.extract_text() for p in reader.pages)
    assert hosts <= {"127.0.0.1", "localhost"}
