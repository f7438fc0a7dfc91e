"""The Patrol plan page: a CSO's wards preselected, stops removed and added, the link, the log."""

from __future__ import annotations

from datetime import time

from streamlit.testing.v1 import AppTest

from dashboard import patrol_log
from dashboard.access import Role
from dashboard.dates import today_in_london
from dashboard.store.session import make_engine
from tests.app.conftest import metric
from tests.app.test_plans_pages import ANALYST, CSO, on_page

# Samir Ferreira's wards hold the demo's Clapham Junction night-time cluster
SAMIR = {
    "cso": "6",
    "wards": "E05014012,E05014014,E05014016,E05014018",
    "days": "FRI,SAT",
    "from": "18:00",
    "to": "02:00",
    "months": "24",
}


def stop_lines(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**") and " · " in m.value]


def stop_cells(at: AppTest) -> list[str]:
    return [line.rsplit("cell ", 1)[1] for line in stop_lines(at)]


def test_a_cso_starts_with_their_own_wards_and_tonight(seeded_db):
    at = on_page(CSO, "pages/patrol.py")

    assert at.title[0].value == "Plan a patrol"
    assert at.selectbox(key="patrol_cso").value == 6  # the demo CSO is Samir Ferreira
    assert at.multiselect(key="patrol_wards").value == SAMIR["wards"].split(",")
    assert at.query_params["cso"] == "6"
    assert at.query_params["from"] == "18:00"
    assert at.query_params["date"] == today_in_london().isoformat()


def test_no_significant_hotspot_says_so_and_offers_a_wider_look(seeded_db):
    # Daniel Szabo-Mensah's wards, one evening a week over 12 months: too few incidents
    quiet = {"cso": "2", "wards": "E05014011,E05014021,E05014022", "days": "FRI", "from": "18:00"}
    at = on_page(ANALYST, "pages/patrol.py", **quiet, to="22:00", months="12")

    assert metric(at, "Stops") == 0
    assert any("No cell is a significant hotspot" in w.value for w in at.warning)
    widen = at.button(key="patrol_widen")
    assert "Look back 36 months and include hot 90%" in widen.label

    widen.click().run()

    assert at.select_slider(key="patrol_months").value == 36
    assert metric(at, "Stops") > 0


def test_a_link_reopens_the_plan_and_removing_a_stop_replans_the_walk(seeded_db):
    at = on_page(ANALYST, "pages/patrol.py", **SAMIR)
    before = stop_cells(at)
    walk = float(next(m.value for m in at.metric if m.label == "Walk").split()[0])
    assert len(before) == 5
    assert "Friday and Saturday 18:00\N{EN DASH}02:00" in at.subheader[0].value
    assert "Samir Ferreira" in at.subheader[0].value

    at.button(key=f"remove_{before[1]}").click().run()

    after = stop_cells(at)
    assert sorted(after) == sorted(set(before) - {before[1]})
    assert metric(at, "Stops") == 4
    assert float(next(m.value for m in at.metric if m.label == "Walk").split()[0]) != walk
    assert at.query_params["drop"] == before[1]


def test_adding_a_cell_puts_it_on_the_route_and_in_the_link(seeded_db):
    at = on_page(ANALYST, "pages/patrol.py", **SAMIR)
    choice = at.selectbox(key="patrol_add_cell")
    cell = choice.options[0].split(":")[0]

    choice.set_value(cell).run()
    at.button(key="add_stop").click().run()

    assert cell in stop_cells(at)
    assert metric(at, "Stops") == 6
    assert at.query_params["add"] == cell


def test_a_broken_link_says_what_is_wrong_and_starts_afresh(seeded_db):
    at = on_page(ANALYST, "pages/patrol.py", **{**SAMIR, "wards": "E05099999"})

    assert any("E05099999" in error.value for error in at.error)
    assert not at.exception


def test_logging_the_patrol_records_each_stop(seeded_db):
    at = on_page(ANALYST, "pages/patrol.py", **SAMIR, date="2026-11-20")
    planned = stop_cells(at)

    next(button for button in at.button if button.label == "Log this patrol as done").click()
    at.run()

    assert not at.exception
    logs = patrol_log.patrol_logs(make_engine(seeded_db), Role.ANALYST, cso_id=6)
    assert len(logs) == 1
    assert logs.iloc[0]["planned_stops"] == len(planned)
    assert logs.iloc[0]["visited_planned"] == len(planned)
    visits = patrol_log.patrol_visits(
        make_engine(seeded_db), Role.ANALYST, int(logs.iloc[0]["patrol_id"])
    )
    assert list(visits["cell_id"]) == planned
    assert visits["arrived_at"].iloc[0].time() == time(18, 0)
    done = f"logged: {len(planned)} of {len(planned)} stops visited"
    assert any(done in message.value for message in at.success)
