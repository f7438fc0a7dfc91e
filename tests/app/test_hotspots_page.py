"""The Hotspots page: Gi* classes, the when filters and their note, the tabs; demo and real data."""

from __future__ import annotations

from datetime import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import metric, signed_in
from tests.app.test_plans_pages import ANALYST, PARTNER, on_page
from tests.conftest import REALDATA
from tests.realdata import ADMIN, load_real_borough


def markdown(at: AppTest) -> str:
    """The page's markdown as a reader sees it (typed text is backslash-escaped for Markdown)."""
    return "\n".join(m.value for m in at.markdown).replace("\\", "")


def texts(at: AppTest) -> str:
    return "\n".join([i.value for i in at.info] + [c.value for c in at.caption])


def hot_cells(at: AppTest) -> int:
    return metric(at, "Hot cells")


def test_the_page_shows_significant_hotspots_of_the_last_year(seeded_db):
    at = on_page(ANALYST, "pages/hotspots.py")

    assert at.title[0].value == "Wandsworth: hotspots"
    assert hot_cells(at) > 20  # the demo's clusters
    assert metric(at, "Incidents analysed") > 3000
    assert "Every day, all day" in texts(at)
    cells = at.table[0].value
    assert set(cells["Class"]) <= {"hot 99%", "hot 95%", "hot 90%", "cold 90%", "cold 95%"}
    assert cells["Class"].iloc[0] == "hot 99%"  # strongest first
    method = markdown(at)
    assert "Getis-Ord Gi*" in method
    assert "Benjamini" in method


def test_a_time_band_narrows_the_incidents_and_the_demo_leaves_none_out(seeded_db):
    at = on_page(ANALYST, "pages/hotspots.py")
    everything = metric(at, "Incidents analysed")

    at.multiselect(key="hotspot_days").set_value([4, 5]).run()
    at.toggle(key="hotspot_band").set_value(True).run()
    at.selectbox(key="hotspot_from").set_value(time(22, 0)).run()
    at.selectbox(key="hotspot_to").set_value(time(2, 0)).run()

    assert not at.exception
    band = metric(at, "Incidents analysed")
    assert 0 < band < everything / 5
    assert "Friday and Saturday 22:00\N{EN DASH}02:00 (ends next day)" in texts(at)
    assert "left out" not in texts(at)  # every demo incident has a time


def test_harm_weighting_and_the_density_view(seeded_db):
    at = on_page(ANALYST, "pages/hotspots.py")

    at.toggle(key="hotspot_harm").set_value(True).run()
    at.segmented_control(key="hotspot_view").set_value("Kernel density").run()

    assert not at.exception
    assert "Harm-weighted." in texts(at)
    assert "Harm" in at.table[0].value.columns
    assert "Status: **indicative**" in markdown(at)


def test_a_higher_small_numbers_threshold_labels_fewer_cells_hot(seeded_db):
    at = on_page(ANALYST, "pages/hotspots.py")
    before = hot_cells(at)

    at.number_input(key="hotspot_min_count").set_value(40).run()

    assert 0 < hot_cells(at) < before
    assert at.table[0].value["Incidents"].loc[lambda s: s > 0].min() >= 40


def test_an_area_narrows_the_tables_but_not_the_statistics(seeded_db):
    at = on_page(ANALYST, "pages/hotspots.py")
    borough_hot = hot_cells(at)
    all_rows = len(at.table[0].value)

    at.multiselect(key="hotspot_wards").set_value(["E05014012"]).run()

    assert hot_cells(at) == borough_hot  # Gi* still runs on the whole borough
    rows = at.table[0].value
    assert 0 < len(rows) < all_rows
    assert set(rows["Ward"]) == {"Falconbrook"}


def test_the_assets_tab_lists_every_bin_and_bus_stop_and_the_uncovered_hotspots(seeded_db):
    at = on_page(ANALYST, "pages/hotspots.py")

    tables = [table.value for table in at.table]
    assets = next(table for table in tables if "Hot cells near" in table.columns)
    uncovered = next(table for table in tables if "Nearest asset (m)" in table.columns)
    assert set(assets["Kind"]) == {"Knife amnesty bin", "Youth Bus stop"}
    assert len(uncovered) > 0
    assert (uncovered["Nearest asset (m)"] > 400).all()


def test_partners_see_the_page_too(seeded_db):
    at = on_page(PARTNER, "pages/hotspots.py")

    assert hot_cells(at) > 20


@pytest.mark.skipif(not REALDATA.is_dir(), reason=f"no real data at {REALDATA}")
def test_on_real_police_uk_data_the_time_filters_say_they_do_not_apply(
    new_db_url: str, monkeypatch: pytest.MonkeyPatch
):
    load_real_borough(new_db_url, monkeypatch)
    monkeypatch.setenv("MAP_TILES", "none")
    at = signed_in(ADMIN)
    at.run()
    at.switch_page("pages/hotspots.py").run()
    assert not at.exception, at.exception
    analysed = metric(at, "Incidents analysed")
    assert analysed > 5000
    assert hot_cells(at) > 0

    at.multiselect(key="hotspot_days").set_value([4]).run()

    assert not at.exception
    assert metric(at, "Incidents analysed") == 0
    note = next(i.value for i in at.info if "left out" in i.value)
    assert f"{analysed:,} of {analysed:,} incidents are left out" in note
    assert "police.uk publishes no day or time of day" in note
    assert hot_cells(at) == 0  # nothing is called hot on no data
