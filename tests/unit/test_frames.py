import geopandas as gpd
import pandas as pd
from shapely.geometry import box

from dashboard.frames import fingerprint


def plans(title: str = "Stairwells", west: float = 0.0) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"plan_id": [7], "title": [title], "due_on": [pd.Timestamp("2026-12-01").date()]},
        geometry=[box(west, 0, 1, 1)],
        crs="EPSG:4326",
    )


def test_equal_frames_have_one_fingerprint_and_any_change_gives_another():
    actions = pd.DataFrame({"plan_id": [7], "description": ["Lights"]})
    same = fingerprint(plans(), actions)

    assert fingerprint(plans(), actions.copy()) == same
    assert fingerprint(plans("Stairwells (renamed)"), actions) != same
    assert fingerprint(plans(west=0.5), actions) != same  # the area redrawn
    assert fingerprint(plans(), actions.assign(description="Lights fixed")) != same
    assert fingerprint(plans(), actions.rename(columns={"description": "note"})) != same
    assert fingerprint(plans(), None) != same
    assert fingerprint(None, actions) != fingerprint(actions, None)
