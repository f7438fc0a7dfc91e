from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import PROJECT_ROOT

APP = str(PROJECT_ROOT / "streamlit_app.py")


def metric(at: AppTest, label: str) -> int:
    """The integer value of the metric labelled ``label``."""
    return int(next(m.value for m in at.metric if m.label == label).replace(",", ""))


@pytest.fixture
def app(seeded_db: str) -> AppTest:
    """The app on a private demo store, on its default page."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at
