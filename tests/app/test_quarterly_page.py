"""The Quarterly page for each role: the quarter, headline figures, suppression, wards, themes."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from dashboard import quarterly
from dashboard.access import Role
from dashboard.store.session import make_engine
from dashboard.taxonomy import load_taxonomy
from tests.app.test_access import USERS
from tests.app.test_plans_pages import ANALYST, CSO, PARTNER, on_page

LAST_COMPLETE = quarterly.Quarter(2026, 2)  # July-September 2026: the demo's, on 27 Nov 2026


def pack_kind(at: AppTest) -> str:
    """What the page says of the pack it would download."""
    said = {"Suppressed for circulation.", "INTERNAL: small numbers shown."}
    return next(caption.value for caption in at.caption if caption.value in said)


def headline(at: AppTest):
    return at.table[0].value.set_index("Measure")


def serious_violence_in(database_url: str, quarter: quarterly.Quarter) -> int:
    """The quarter's serious violence counted straight from the incident table."""
    categories = sorted(quarterly.serious_violence_categories(load_taxonomy()))
    marks = ", ".join(f"'{category}'" for category in categories)
    with make_engine(database_url).connect() as connection:
        return connection.execute(
            text(
                f"SELECT count(*) FROM incident WHERE category IN ({marks}) "
                "AND occurred_on BETWEEN :start AND :end"
            ),
            {"start": quarter.start.isoformat(), "end": quarter.end.isoformat()},
        ).scalar_one()


@pytest.fixture(autouse=True)
def the_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's last complete quarter depends on today; pin it."""
    monkeypatch.setattr("dashboard.dates.today_in_london", lambda: date(2026, 11, 27))


def test_an_analyst_sees_the_last_complete_quarter_and_its_exact_figures(seeded_db):
    at = on_page(ANALYST, "pages/quarterly.py")

    assert at.title[0].value == "Quarterly dashboard"
    assert at.header[0].value == "2026/27 Q2 (July\N{EN DASH}September 2026)"
    assert at.query_params["quarter"] == "2026/27-Q2"
    table = headline(at)
    assert int(table.loc["Serious violence", "This quarter"]) == serious_violence_in(
        seeded_db, LAST_COMPLETE
    )
    assert "not significant" in table.loc["Serious violence", "Against the previous quarter"]
    assert not any("<10" in str(value) for value in table["This quarter"])


def test_partners_see_small_numbers_suppressed_and_cannot_turn_it_off(seeded_db):
    at = on_page(PARTNER, "pages/quarterly.py")

    table = headline(at)
    assert table.loc["Gun-enabled", "This quarter"] == "<10"
    exact = serious_violence_in(seeded_db, LAST_COMPLETE)
    assert int(table.loc["Serious violence", "This quarter"]) == 5 * round(exact / 5)
    assert not [toggle for toggle in at.toggle if toggle.key == "quarterly_suppress"]
    assert not [toggle for toggle in at.toggle if toggle.key == "quarterly_internal"]
    assert any('show as "<10"' in info.value for info in at.info)


def test_an_analyst_can_suppress_the_page_and_make_an_internal_pack(seeded_db):
    at = on_page(ANALYST, "pages/quarterly.py")

    at.toggle(key="quarterly_suppress").set_value(True).run()

    assert headline(at).loc["Gun-enabled", "This quarter"] == "<10"
    assert pack_kind(at) == "Suppressed for circulation."
    at.toggle(key="quarterly_internal").set_value(True).run()
    assert pack_kind(at) == "INTERNAL: small numbers shown."


def test_a_cso_sees_exact_figures_but_makes_only_a_suppressed_pack(seeded_db):
    at = on_page(CSO, "pages/quarterly.py")

    assert headline(at).loc["Gun-enabled", "This quarter"] != "<10"
    assert not [toggle for toggle in at.toggle if toggle.key == "quarterly_internal"]
    assert pack_kind(at) == "Suppressed for circulation."


def test_a_link_opens_another_quarter(seeded_db):
    at = on_page(ANALYST, "pages/quarterly.py", quarter="2025/26-Q4")

    assert at.header[0].value.startswith("2025/26 Q4 (January\N{EN DASH}March 2026)")
    assert int(headline(at).loc["Serious violence", "This quarter"]) == serious_violence_in(
        seeded_db, quarterly.Quarter(2025, 4)
    )


def test_a_link_to_a_quarter_without_data_says_so(seeded_db):
    at = on_page(ANALYST, "pages/quarterly.py", quarter="2019/20-Q1")

    assert any("does not cover 2019/20 Q1" in warning.value for warning in at.warning)
    assert at.header[0].value.startswith("2026/27 Q2")


def test_the_action_plan_by_theme_lists_all_eight_with_a_rag(seeded_db):
    at = on_page(ANALYST, "pages/quarterly.py")

    themes = next(frame.value for frame in at.dataframe if "RAG" in frame.value.columns)
    assert len(themes) == 8
    assert set(themes["RAG"]) <= {"Red", "Amber", "Green", "No actions"}
    assert themes["Actions"].sum() == 23  # every demo action existed by 30 Sep 2026


@pytest.mark.parametrize("role", list(Role))
def test_every_role_opens_the_page_without_error(seeded_db, role):
    at = on_page(USERS[role], "pages/quarterly.py")

    assert at.title[0].value == "Quarterly dashboard"
