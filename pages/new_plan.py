from datetime import timedelta

import streamlit as st
from streamlit_folium import st_folium

from dashboard import hotspots, maps, plans, static_assets, ui
from dashboard.access import Permission
from dashboard.dates import today_in_london
from dashboard.errors import CommunitySafetyError

user = ui.require_page(Permission.MANAGE_PLANS)
role = user.role
config = ui.settings()
version = ui.data_version()
borough = ui.borough_view(user)
today = today_in_london()
st.title("Open a problem-solving plan")
ui.synthetic_banner(version)

wards = ui.cached_wards(version, role, borough.codes)
if wards.empty:
    st.warning("No ward boundaries are loaded; import them before opening plans.")
    st.stop()
places = ui.cached_places(version, role, borough.codes, config.places_file)
drawing = static_assets.drawing_available()
ways = {
    "draw": "Draw it on the map",
    "ward": "A ward",
    "cells": "Hotspot cells",
    "place": "A named place",
    "upload": "Upload GeoJSON",
}
if not drawing:
    ways.pop("draw")
    st.info(
        "Drawing on the map is unavailable: Leaflet.draw is not installed (run `make run`, "
        "which installs it with npm). Pick a ward, hotspot cells or a place, or upload GeoJSON."
    )
ui.preselect_ward_from_query(set(wards["code"]))  # "Open a plan for this ward" on the map
how = st.radio(
    "How to set the plan's area",
    list(ways),
    format_func=ways.__getitem__,
    horizontal=True,
    key="area_how",
    help="Every way but drawing works with the keyboard alone.",
)
cells = ui.recent_cells(version, role, borough.codes) if how == "cells" else None
ui.take_map_click(how, "new_plan_map", cells)  # a click on a ward or cell selects it

proposed, source, place_name = None, how, None
choose_col, map_col = st.columns([2, 3], gap="medium")
with choose_col:
    try:
        if how == "draw":
            st.caption(
                "Use the polygon, rectangle or circle tool at the top left of the map; finish a "
                "polygon by clicking its first point. The newest shape is the plan's area."
            )
            source = "drawn"
        elif how == "ward":
            names = dict(zip(wards["code"], wards["name"], strict=True))
            code = st.selectbox(
                "Ward", list(names), format_func=names.__getitem__, index=None, key="plan_ward"
            )
            if code:
                proposed = wards.loc[wards["code"] == code, "geometry"].iloc[0]
        elif how == "cells":
            busiest = cells[cells["incident_count"] > 0].head(60)
            labels = {
                row.cell_id: f"{row.cell_id}: {row.incident_count} incidents"
                for row in busiest.itertuples()
            }
            picked = st.multiselect(
                f"Cells of {hotspots.DEFAULT_CELL_SIZE_M:.0f} m (the busiest, last 12 months)",
                list(cells["cell_id"]),
                format_func=lambda cell_id: labels.get(cell_id, cell_id),
                key="plan_cells",
                help="Or click cells on the map.",
            )
            proposed = ui.cells_area(cells, picked)
        elif how == "place":
            if places.empty:
                st.warning(
                    "No named places are configured (PLACES_FILE); pick a ward or draw instead."
                )
            else:
                place_name = st.selectbox(
                    "Place", list(places["name"]), index=None, key="plan_place"
                )
                if place_name:
                    proposed = places.loc[places["name"] == place_name, "geometry"].iloc[0]
        elif how == "upload":
            upload = st.file_uploader(
                "GeoJSON file of the area (EPSG:4326)", type=["geojson", "json"], key="plan_upload"
            )
            if upload is not None:
                proposed = plans.area_from_geojson(upload.getvalue().decode("utf-8", "replace"))
                source = "uploaded"
    except CommunitySafetyError as error:
        st.error(str(error))

with map_col:
    result = st_folium(
        maps.plan_area_map(
            wards=wards,
            style=ui.map_style(),
            plans=plans.plans(ui.engine(), role, today, boroughs=borough.codes),
            cells_bng=cells,
            proposed_area=proposed,
            drawing=drawing and how == "draw",
        ),
        key="new_plan_map",
        height=560,
        use_container_width=True,
        returned_objects=["last_active_drawing", "all_drawings"]
        if how == "draw"
        else ["last_active_drawing"],
    )
    if how == "draw":
        try:
            proposed = maps.drawn_area(result)
        except CommunitySafetyError as error:
            st.error(str(error))

with choose_col:
    if proposed is None:
        st.info("No area chosen yet.")
        st.stop()
    try:
        area = plans.check_plan_area(proposed, wards)
    except CommunitySafetyError as error:
        st.error(str(error))
        st.stop()
    covered = plans.wards_covered(area, wards)
    names = dict(zip(wards["code"], wards["name"], strict=True))
    st.success(
        f"Area chosen: {ui.area_hectares(area):.1f} ha in "
        f"{ui.plain(', '.join(names[code] for code in covered))}."
    )

csos = ui.cached_csos(version, role, borough.codes)
cso_names = dict(zip(csos["cso_id"], csos["cso_name"], strict=True))
agencies = plans.known_agencies(ui.engine(), role, boroughs=borough.codes)
with st.form("new_plan", border=True):
    title = st.text_input(
        "Title", max_chars=plans.TITLE_MAX, value=place_name or "", placeholder="Where and what"
    )
    problem = st.text_area(
        "Problem statement",
        height=140,
        placeholder="What happens, where, when, to whom; what the evidence shows",
    )
    left, right = st.columns(2)
    stage = left.selectbox(
        "SARA stage", list(plans.SARA_LABELS), format_func=plans.SARA_LABELS.__getitem__
    )
    lead = right.selectbox(
        "Lead CSO",
        list(cso_names),
        index=list(cso_names).index(user.cso_id) if user.cso_id in cso_names else None,
        format_func=cso_names.__getitem__,
    )
    partners = st.multiselect(
        "Partner agencies", agencies, accept_new_options=True, placeholder="Pick or type"
    )
    started_on = left.date_input("Start", value=today, format="DD/MM/YYYY")
    review_on = right.date_input("Review", value=today + timedelta(weeks=12), format="DD/MM/YYYY")
    opened = st.form_submit_button("Open the plan", type="primary")
if opened:
    try:
        plan_id = plans.create_plan(
            ui.engine(),
            user,
            plans.PlanDraft(
                title=title,
                problem=problem,
                sara_stage=stage,
                started_on=started_on,
                area_wgs84=area,
                area_source=source,
                place_name=place_name,
                lead_cso_id=lead,
                partners=tuple(partners),
                review_on=review_on,
            ),
            wards,
            borough.code,
        )
    except CommunitySafetyError as error:
        st.error(str(error))
    else:
        ui.flash("Plan opened. Add its actions below.")
        st.switch_page("pages/plans.py", query_params={"plan": plan_id})
