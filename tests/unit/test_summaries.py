from datetime import date, time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from dashboard.hotspots import count_incidents_by_cell
from dashboard.store.queries import IncidentFilter, describe_slot
from dashboard.summaries import describe_filter, top_cells_table, ward_detail, ward_figures

WARDS = gpd.GeoDataFrame(
    {
        "code": ["E05000001", "E05000002", "E05000003"],
        "name": ["North", "South", "East"],
        "population": pd.array([2000, 4000, None], dtype="Int64"),
    },
    geometry=[box(0, 0, 1, 1), box(0, 1, 1, 2), box(1, 0, 2, 1)],
    crs="EPSG:4326",
)
ASSIGNMENTS = pd.DataFrame(
    {"ward_code": ["E05000001", "E05000002"], "cso_id": [1, 2], "cso_name": ["Priya", "Tom"]}
)
INCIDENTS = pd.DataFrame(
    {
        "ward_code": ["E05000001"] * 3 + ["E05000002"] * 2,
        "category": ["robbery", "robbery", "abh", "abh", "rape"],
        "knife": [True, False, False, True, False],
        "domestic_abuse": [False, False, True, False, True],
        "under_25": [True, None, False, None, True],
    }
)


def test_ward_figures_give_counts_rates_and_csos_busiest_first():
    figures = ward_figures(INCIDENTS, WARDS, ASSIGNMENTS)

    assert figures["ward"].tolist() == ["North", "South", "East"]
    assert figures["incidents"].tolist() == [3, 2, 0]
    assert figures["cso"].tolist() == ["Priya", "Tom", "No CSO assigned"]
    assert figures["rate_per_1000"].tolist()[:2] == [1.5, 0.5]
    assert pd.isna(figures["rate_per_1000"].iloc[2])  # no population, no rate


def test_ward_detail_summarises_one_ward_under_the_filters():
    labels = {"robbery": "Personal robbery", "abh": "Actual bodily harm (ABH)"}

    detail = ward_detail("E05000001", INCIDENTS, WARDS, ASSIGNMENTS, labels)

    assert (detail.name, detail.cso_name, detail.incident_count) == ("North", "Priya", 3)
    assert detail.rate_per_1000 == 1.5
    assert detail.share_of_borough == pytest.approx(0.6)
    assert detail.top_categories == [("Personal robbery", 2), ("Actual bodily harm (ABH)", 1)]
    assert (detail.knife_count, detail.domestic_abuse_count, detail.under_25_count) == (1, 1, 1)
    with pytest.raises(KeyError, match="E05999999"):
        ward_detail("E05999999", INCIDENTS, WARDS, ASSIGNMENTS, labels)


def test_top_cells_name_their_ward_and_centre():
    cells = count_incidents_by_cell(
        np.array([527010.0, 527020.0, 527400.0]), np.array([175010.0, 175020.0, 175100.0])
    ).assign(ward_code=["E05000001", "E05000002"])

    table = top_cells_table(cells, WARDS, limit=1)

    assert table.to_dict("records")[0] == {
        "rank": 1,
        "cell": "527000_175000",
        "ward": "North",
        "incidents": 2,
        "centre_latitude": pytest.approx(51.4625, abs=0.01),
        "centre_longitude": pytest.approx(-0.170, abs=0.01),
    }


def test_filters_and_slots_read_as_plain_english():
    selection = IncidentFilter(
        date(2026, 4, 1), date(2026, 6, 30), categories=("robbery",), knife_only=True
    )

    text = describe_filter(selection, {"robbery": "Personal robbery"})

    assert text == "01 Apr 2026 to 30 Jun 2026; Personal robbery; knife-enabled only"
    assert describe_slot(1, None, time(16), time(19, 30)) == "Tuesday 16:00-19:30"
    assert (
        describe_slot(None, date(2026, 7, 4), time(12), time(15)) == "Sat 04 Jul 2026 12:00-15:00"
    )


def test_the_default_window_is_twelve_whole_months():
    from dashboard.dates import month_end, whole_months_window

    # police.uk dates each crime to the 1st of its month; the window still ends on the 30th
    assert whole_months_window(date(2016, 1, 1), date(2018, 6, 1)) == (
        date(2017, 7, 1),
        date(2018, 6, 30),
    )
    assert whole_months_window(date(2023, 11, 1), date(2026, 10, 31)) == (
        date(2025, 11, 1),
        date(2026, 10, 31),
    )
    assert whole_months_window(date(2024, 3, 15), date(2024, 6, 2)) == (
        date(2024, 3, 1),
        date(2024, 6, 30),
    )
    assert month_end(date(2024, 2, 10)) == date(2024, 2, 29)
    assert month_end(date(2024, 12, 1)) == date(2024, 12, 31)
