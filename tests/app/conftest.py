from __future__ import annotations

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from dashboard import PROJECT_ROOT

APP = str(PROJECT_ROOT / "streamlit_app.py")


def metric(at: AppTest, label: str) -> int:
    """The integer value of the metric labelled ``label``."""
    return int(next(m.value for m in at.metric if m.label == label).replace(",", ""))


ANALYST = "demo-analyst@example.org"


@pytest.fixture(autouse=True)
def navigation_apps_rerun_their_entry_script(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make AppTest rerun ``streamlit_app.py`` on every run, as the real server does.

    Streamlit treats a ``pages/`` folder as an old-style multipage app until ``st.navigation``
    is first called, which the server remembers for good; AppTest forgets it before each run,
    so its reruns would execute the page alone and skip the entry script (who is signed in,
    the navigation, the sidebar). Recording that this app uses ``st.navigation`` restores the
    server's behaviour.
    """
    original_init = PagesManager.__init__

    def init_as_navigation_app(self: PagesManager, *args: object, **kwargs: object) -> None:
        original_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init_as_navigation_app)


def signed_in(email: str | None, script: str = APP) -> AppTest:
    """An AppTest of ``script`` as someone signed in with ``email`` (None: signed out)."""
    at = AppTest.from_file(script, default_timeout=60)
    at.user = {"is_logged_in": False} if email is None else {"is_logged_in": True, "email": email}
    return at


@pytest.fixture
def app(seeded_db: str) -> AppTest:
    """The app on a private demo store as the demo analyst, on its default page."""
    at = signed_in(ANALYST)
    at.run()
    assert not at.exception, at.exception
    return at
