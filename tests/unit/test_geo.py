import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from dashboard.geo import BNG, assign_ward_codes, bng_to_wgs84, wgs84_to_bng


def test_clapham_junction_projects_to_its_national_grid_reference():
    # Clapham Junction station is at about TQ 272 756 on the Ordnance Survey grid
    x_bng, y_bng = wgs84_to_bng(np.array([-0.1703]), np.array([51.4642]))

    assert x_bng[0] == pytest.approx(527_200, abs=150)
    assert y_bng[0] == pytest.approx(175_600, abs=150)
    longitude, latitude = bng_to_wgs84(x_bng, y_bng)
    assert (longitude[0], latitude[0]) == pytest.approx((-0.1703, 51.4642), abs=1e-7)


def test_points_take_the_code_of_the_ward_they_fall_in():
    wards = gpd.GeoDataFrame(
        {"code": ["E05000001", "E05000002"]},
        geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)],
        crs=BNG,
    )

    codes = assign_ward_codes(np.array([50, 150, 100, 500]), np.array([50, 50, 50, 50]), wards)

    # a point on the shared edge goes to the first ward only; one outside both has none
    assert codes.tolist() == ["E05000001", "E05000002", "E05000001", None]


def test_wards_must_be_in_metres():
    wards = gpd.GeoDataFrame({"code": ["E05000001"]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:4326")

    with pytest.raises(ValueError, match="EPSG:27700"):
        assign_ward_codes(np.array([0.5]), np.array([0.5]), wards)
