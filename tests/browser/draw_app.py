"""A test-only Streamlit script: the plan-area map with its drawing tool, and what came back.

``tests/browser/test_draw.py`` copies it into a temporary folder beside a ``static/`` folder
(Streamlit serves ``static/`` beside the entry script) and runs it from the project root.
"""

from pathlib import Path

import geopandas as gpd
import numpy as np
import streamlit as st
from shapely.geometry import box
from streamlit_folium import st_folium

from dashboard import maps
from dashboard.geo import BNG, WGS84
from dashboard.hotspots import borough_grid, count_on_grid
from dashboard.static_assets import drawing_available

st.set_page_config(page_title="Draw a plan area", layout="wide")

wards = gpd.GeoDataFrame(
    {"code": ["E05000001", "E05000002"], "name": ["North", "South"]},
    geometry=[box(-0.20, 51.460, -0.18, 51.470), box(-0.20, 51.450, -0.18, 51.460)],
    crs=WGS84,
)
plans = gpd.GeoDataFrame(
    {
        "plan_id": [7],
        "title": ["Estate stairwells <b>not bold</b>"],
        "status": ["open"],
        "sara_stage": ["response"],
        "open_actions": [3],
        "overdue_actions": [1],
        "at_risk_actions": [0],
    },
    geometry=[box(-0.1935, 51.4510, -0.1865, 51.4545)],
    crs=WGS84,
)
wards_bng = wards.to_crs(BNG)
rng = np.random.default_rng(3)
west, south, east, north = wards_bng.total_bounds
cells = count_on_grid(
    borough_grid(wards_bng, cell_size_m=250),
    rng.uniform(west, east, 400),
    rng.uniform(south, north, 400),
    cell_size_m=250,
)

st.title("Draw a plan area")
result = st_folium(
    maps.plan_area_map(
        wards=wards,
        style=maps.MapStyle(static_url_prefix="/app/static"),
        plans=plans,
        cells_bng=cells,
        drawing=drawing_available(Path(__file__).parent / "static"),
    ),
    key="plan_area",
    height=560,
    use_container_width=True,
    returned_objects=["last_active_drawing", "all_drawings"],
)

clicked = (result or {}).get("last_active_drawing") or {}
plan_id = (clicked.get("properties") or {}).get("plan_id")
if plan_id is not None:
    st.write(f"Clicked plan: {plan_id}")
try:
    area = maps.drawn_area(result)
except maps.DrawnAreaInvalid as error:
    st.error(str(error))
else:
    if area is None:
        st.write("Nothing drawn yet")
    else:
        area_m2 = gpd.GeoSeries([area], crs=WGS84).to_crs(BNG).area.iloc[0]
        st.write(f"Drawn area: {area_m2:.0f} m²; vertices: {len(area.exterior.coords) - 1}")
