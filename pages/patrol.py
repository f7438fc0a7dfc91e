import streamlit as st
from streamlit_folium import st_folium

from dashboard import hotspot_maps, patrol_exports, patrol_log, ui
from dashboard.access import Permission
from dashboard.dates import today_in_london
from dashboard.ui import patrol_widgets as patrol_ui

user = ui.require_page(Permission.LOG_PATROLS)
role = user.role
version = ui.data_version()
borough = ui.borough_view(user)
st.title("Plan a patrol")
ui.show_flash()
synthetic = ui.synthetic_banner(version)
wards = ui.cached_wards(version, role, borough.codes)
if wards.empty:
    st.warning("No ward boundaries are loaded. Run `python -m dashboard prepare` or import them.")
    st.stop()
today = today_in_london()
assignments = ui.cached_assignments(version, role, today, borough.codes)
csos = ui.cached_csos(version, role, borough.codes)

settings_col, plan_col = st.columns([2, 5], gap="medium")
with settings_col:
    request = patrol_ui.request_widgets(user, wards, assignments, csos)
if request is None:
    st.stop()
plan = patrol_ui.cached_plan(version, role, borough.codes, request, today)
if plan is None:
    st.warning("No incidents are loaded yet. Import a police.uk file or the police extract.")
    st.stop()
route = plan.route
cso_names = dict(zip(csos["cso_id"], csos["cso_name"], strict=True))
cso_name = cso_names.get(request.cso_id, "No CSO chosen")

with plan_col:
    st.subheader(f"{request.label}: {cso_name}")
    if plan.when_note:
        st.info(plan.when_note, icon=":material/schedule:")
    for warning in plan.warnings:
        st.warning(warning)
    if route.stops.empty:
        patrol_ui.widening_offer(version, role, borough.codes, request, today)
    stops_col, walk_col, round_col, rounds_col = st.columns(4)
    stops_col.metric("Stops", len(route.stops))
    walk_col.metric("Walk", f"{route.walk_distance_m / 1000:.1f} km")
    round_col.metric("One round", f"{route.total_time_min:.0f} min")
    rounds_col.metric(
        "Rounds in the shift", "none" if route.visits_in_shift is None else route.visits_in_shift
    )
    clicked = st_folium(
        hotspot_maps.patrol_map(wards=wards, plan=plan, style=ui.map_style(), synthetic=synthetic),
        key="patrol_map",
        height=520,
        use_container_width=True,
        returned_objects=["last_active_drawing"],
    )
    picked = ((clicked or {}).get("last_active_drawing") or {}).get("properties") or {}
    cell_id = picked.get("cell_id")
    if cell_id and cell_id in set(plan.candidates["cell_id"]):
        if cell_id in route.cell_ids:
            order = route.cell_ids.index(cell_id) + 1
            st.button(
                f"Remove stop {order} (cell {cell_id})",
                on_click=patrol_ui.remove_stop,
                args=(cell_id,),
                icon=":material/remove_circle:",
                key="map_remove",
            )
        else:
            st.button(
                f"Add cell {cell_id} as a stop",
                on_click=patrol_ui.add_stop,
                args=(cell_id,),
                icon=":material/add_circle:",
                key="map_add",
            )
    st.caption(route.assumptions)

st.subheader("Stops in order")
for stop in route.stops.itertuples():
    times = (
        f"{stop.arrive_at:%H:%M}\N{EN DASH}{stop.leave_at:%H:%M}"
        if stop.arrive_at is not None
        else f"+{stop.arrive_min:.0f} min"
    )
    text_col, button_col = st.columns([5, 1], vertical_alignment="center")
    text_col.markdown(
        f"**{stop.order}.** {times} · {ui.plain(stop.reason)} · walk "
        f"{stop.walk_from_previous_m:,.0f} m · cell {stop.cell_id}"
    )
    button_col.button(
        f"Remove stop {stop.order}",
        key=f"remove_{stop.cell_id}",
        on_click=patrol_ui.remove_stop,
        args=(stop.cell_id,),
    )
addable = plan.candidates[~plan.candidates["cell_id"].isin(route.cell_ids)]
ward_names = dict(zip(wards["code"], wards["name"], strict=True))
labels = {
    row.cell_id: f"{row.cell_id}: {row.hotspot_class}, {row.incident_count} incidents, "
    f"{ward_names.get(row.ward_code, '')}"
    for row in addable.itertuples()
}
pick_col, add_col = st.columns([5, 1], vertical_alignment="bottom")
chosen = pick_col.selectbox(
    "Add a stop",
    options=list(labels),
    format_func=labels.__getitem__,
    index=None,
    placeholder="Cells with incidents in the window, hottest first",
    key="patrol_add_cell",
)
add_col.button(
    "Add", on_click=patrol_ui.add_stop, args=(chosen,), disabled=chosen is None, key="add_stop"
)

near_assets, near_actions = plan.assets, plan.actions
st.subheader("Near the route")
if near_assets.empty and near_actions.empty:
    st.caption("No knife bin, Youth Bus stop in the shift, or open plan action within 400 m.")
if not near_assets.empty:
    ui.show_table(
        near_assets.assign(
            kind=near_assets["kind"].map({"knife_bin": "Knife bin", "youth_bus_stop": "Youth Bus"}),
            distance_m=near_assets["distance_m"].round(0),
        )[["nearest_stop", "kind", "name", "when", "activity", "distance_m"]].rename(
            columns={
                "nearest_stop": "Near stop",
                "kind": "What",
                "name": "Name",
                "when": "When",
                "activity": "Activity",
                "distance_m": "Metres",
            }
        )
    )
if not near_actions.empty:
    ui.show_table(
        near_actions.assign(distance_m=near_actions["distance_m"].round(0))[
            [
                "nearest_stop",
                "flag",
                "plan_title",
                "description",
                "owner_agency",
                "due_on",
                "distance_m",
            ]
        ].rename(
            columns={
                "nearest_stop": "Near stop",
                "flag": "Flag",
                "plan_title": "Plan",
                "description": "Action",
                "owner_agency": "Owner",
                "due_on": "Due",
                "distance_m": "Metres",
            }
        )
    )

st.subheader("Take it with you")
if route.stops.empty:
    st.caption("Add a stop to download the brief, the GPX route and the CSV.")
else:
    stem = f"patrol-{request.label.replace(' ', '-').replace(':', '')}"
    pdf_col, gpx_col, csv_col = st.columns(3)
    pdf_col.download_button(
        "Printable brief (PDF)",
        patrol_ui.brief_pdf(plan, cso_name, synthetic, version, role, borough.codes),
        file_name=f"{stem}.pdf",
        mime="application/pdf",
        icon=":material/print:",
    )
    gpx_col.download_button(
        "Route for a phone (GPX)",
        lambda: patrol_exports.route_gpx(
            route, f"Patrol {request.label}", request.shift, on_date=request.on_date
        ),
        file_name=f"{stem}.gpx",
        mime="application/gpx+xml",
        icon=":material/route:",
        key="download_gpx",
    )
    csv_col.download_button(
        "Stops (CSV)",
        lambda: patrol_exports.route_csv(route),
        file_name=f"{stem}.csv",
        mime="text/csv",
        icon=":material/download:",
    )
link = "?" + "&".join(f"{key}={value}" for key, value in request.query_params().items())
st.caption("This page's address reopens this plan, with your changes to the stops:")
st.code(link, language=None)

with st.expander("Log this patrol as done", icon=":material/task_alt:"):
    patrol_ui.log_form(user, plan, link)
if request.cso_id is not None:
    logs = patrol_log.patrol_logs(ui.engine(), role, cso_id=request.cso_id, boroughs=borough.codes)
    if len(logs):
        st.subheader(f"{cso_name}'s logged patrols")
        ui.show_table(
            logs[
                [
                    "patrol_date",
                    "shift_label",
                    "planned_stops",
                    "visited_planned",
                    "delivered_minutes",
                    "planned_minutes",
                ]
            ].rename(
                columns={
                    "patrol_date": "Date",
                    "shift_label": "Shift",
                    "planned_stops": "Stops planned",
                    "visited_planned": "Visited",
                    "delivered_minutes": "Minutes at hotspots",
                    "planned_minutes": "Minutes planned",
                }
            )
        )
