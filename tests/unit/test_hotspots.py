import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from dashboard.geo import BNG
from dashboard.hotspots import (
    borough_grid,
    class_labels,
    class_of,
    count_class_breaks,
    count_incidents_by_cell,
    count_on_grid,
)


def test_two_incidents_share_a_cell_and_one_sits_east_of_it():
    cells = count_incidents_by_cell(
        np.array([527010, 527120, 527400]), np.array([173020, 173240, 173100]), cell_size_m=250
    )

    assert cells["cell_id"].tolist() == ["527000_173000", "527250_173000"]
    assert cells["incident_count"].tolist() == [2, 1]
    assert cells.geometry.area.tolist() == pytest.approx([62_500, 62_500])
    assert cells.crs.to_epsg() == 27700


def test_points_either_side_of_a_cell_edge_fall_in_different_cells():
    cells = count_incidents_by_cell(np.array([-0.5, 0.5]), np.array([10.0, 10.0]), cell_size_m=100)

    assert sorted(cells["cell_id"]) == ["-100_0", "0_0"]


def two_wards_bng() -> gpd.GeoDataFrame:
    # West ward covers x 0-600, East ward x 600-1000; both y 0-250
    return gpd.GeoDataFrame(
        {"code": ["E05000001", "E05000002"]},
        geometry=[box(0, 0, 600, 250), box(600, 0, 1000, 250)],
        crs=BNG,
    )


def test_the_grid_covers_every_ward_and_names_the_ward_holding_most_of_each_cell():
    grid = borough_grid(two_wards_bng(), cell_size_m=250)

    assert dict(zip(grid["cell_id"], grid["ward_code"], strict=True)) == {
        "0_0": "E05000001",
        "250_0": "E05000001",
        "500_0": "E05000002",  # 100 m in the west ward, 150 m in the east
        "750_0": "E05000002",
    }


def test_counts_on_the_grid_keep_empty_cells_and_drop_incidents_outside_it():
    grid = borough_grid(two_wards_bng(), cell_size_m=250)

    cells = count_on_grid(grid, np.array([10, 20, 800, 5000]), np.array([10, 20, 10, 10]), 250)

    assert cells["cell_id"].tolist() == ["0_0", "750_0", "250_0", "500_0"]
    assert cells["incident_count"].tolist() == [2, 1, 0, 0]


def test_no_incidents_gives_no_cells_and_a_bad_size_is_refused():
    assert count_incidents_by_cell(np.array([]), np.array([])).empty
    with pytest.raises(ValueError, match="cell_size_m must be positive, got 0"):
        count_incidents_by_cell(np.array([1.0]), np.array([1.0]), cell_size_m=0)


def test_quantile_classes_merge_ties_and_end_at_the_maximum():
    counts = pd.Series([0] * 50 + [1] * 60 + [2] * 20 + [3, 4, 5, 8, 13, 21, 40] + [1] * 13)

    breaks = count_class_breaks(counts)

    assert breaks == [1, 2, 40]
    assert class_labels(breaks) == ["1", "2", "3-40"]
    assert [class_of(n, breaks) for n in (1, 2, 3, 40)] == [0, 1, 2, 2]
    assert count_class_breaks(pd.Series([], dtype=int)) == []
    assert count_class_breaks(pd.Series([0, 0])) == []
