"""Sign-in end to end: Streamlit's OpenID Connect against a local mock identity provider."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import FIRST_PAGE_TIMEOUT_MS, auth_secrets, free_port, running_app

pytestmark = pytest.mark.browser

ANALYST = "demo-analyst@example.org"


def test_sign_in_shows_the_allowed_pages_and_sign_out_locks_the_app_again(
    page: Page, identity_provider: str, demo_db_url: str, tmp_path: Path
):
    app_port = free_port()
    secrets_file = auth_secrets(tmp_path, identity_provider, app_port)

    with running_app(
        demo_db_url,
        tmp_path,
        port=app_port,
        DEMO_MODE="0",
        STREAMLIT_SECRETS_FILES=str(secrets_file),
    ) as url:
        page.goto(url)
        expect(page.get_by_role("heading", name="Community Safety Map")).to_be_visible(
            timeout=FIRST_PAGE_TIMEOUT_MS
        )
        expect(page.get_by_text("Wards and CSOs")).to_have_count(0)  # nothing internal yet

        page.get_by_role("button", name="Sign in").click()
        # the mock provider's form: who to be, then authorise
        page.get_by_placeholder("sub").fill(ANALYST)
        page.get_by_role("button", name="Authorize").click()

        expect(page.get_by_text("Signed in as")).to_be_visible(timeout=30_000)
        navigation = page.get_by_test_id("stSidebarNav")
        expect(navigation.get_by_role("link", name="Map")).to_be_visible()
        expect(navigation.get_by_role("link", name="Wards and CSOs")).to_be_visible()
        expect(navigation.get_by_role("link", name="Users")).to_have_count(0)  # not an analyst's

        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("button", name="End session").click()  # the provider's own step
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
        page.go_back()
        page.goto(f"{url}/wards")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Signed in as")).to_have_count(0)
