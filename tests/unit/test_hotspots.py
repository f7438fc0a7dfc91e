import numpy as np
import pandas as pd
import pytest

from dashboard.hotspots import class_labels, class_of, count_class_breaks, count_incidents_by_cell


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


def test_each_cell_is_labelled_with_the_ward_most_of_its_incidents_are_in():
    cells = count_incidents_by_cell(
        np.array([10, 20, 30, 510]),
        np.array([10, 20, 30, 10]),
        np.array(["E05000002", "E05000001", "E05000002", None], dtype=object),
        cell_size_m=250,
    )

    assert dict(zip(cells["cell_id"], cells["ward_code"], strict=True)) == {
        "0_0": "E05000002",
        "500_0": "",
    }


def test_no_incidents_gives_no_cells_and_a_bad_size_is_refused():
    assert count_incidents_by_cell(np.array([]), np.array([])).empty
    with pytest.raises(ValueError, match="cell_size_m must be positive, got 0"):
        count_incidents_by_cell(np.array([1.0]), np.array([1.0]), cell_size_m=0)


def test_quantile_classes_merge_ties_and_end_at_the_maximum():
    counts = pd.Series([1] * 60 + [2] * 20 + [3, 4, 5, 8, 13, 21, 40] + [1] * 13)

    breaks = count_class_breaks(counts)

    assert breaks == [1, 2, 40]
    assert class_labels(breaks) == ["1", "2", "3-40"]
    assert [class_of(n, breaks) for n in (1, 2, 3, 40)] == [0, 1, 2, 2]
    assert count_class_breaks(pd.Series([], dtype=int)) == []
