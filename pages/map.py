import streamlit as st

from dashboard import hotspots, maps, summaries, ui
from dashboard.access import Permission, can
from dashboard.dates import today_in_london
from dashboard.frames import fingerprint
from dashboard.store.models import AssetKind
from dashboard.ui.map_component import cached_map, show_map

user = ui.require_page(Permission.VIEW_MAP)
role = user.role
version = ui.data_version()
borough = ui.borough_view(user, all_of_london=True)
# one borough in 250 m cells; all of London in 1 km cells, so the map stays drawable
cell_size_m = (
    hotspots.DEFAULT_CELL_SIZE_M if len(borough.codes) == 1 else hotspots.LONDON_CELL_SIZE_M
)
st.title(f"{borough.name}: community safety map")
synthetic = ui.synthetic_banner(version)

wards = ui.cached_wards(version, role, borough.codes)
if wards.empty:
    st.warning("No ward boundaries are loaded. Run `python -m dashboard prepare` or import them.")
    st.stop()
assignments = ui.cached_assignments(version, role, today_in_london(), borough.codes)
bins = ui.cached_assets(version, role, AssetKind.KNIFE_BIN, borough.codes)
bus_stops = ui.cached_assets(version, role, AssetKind.YOUTH_BUS_STOP, borough.codes)
schedule = ui.cached_schedule(version, role, borough.codes)
labels = ui.category_labels(version, role, borough.codes)
today = today_in_london()
live_plans, open_actions = (
    ui.live_plans(role, today, borough.codes) if can(role, Permission.VIEW_PLANS) else (None, None)
)

map_col, side_col = st.columns([7, 2], gap="medium")
with side_col:
    st.subheader("Filters")
    selection = ui.incident_filter_widgets(version, role, wards, borough.codes)
if selection is None:
    st.stop()

incidents = ui.cached_incidents(version, role, selection)
cells = ui.cached_cells(version, role, selection, cell_size_m)
breaks = hotspots.count_class_breaks(cells["incident_count"])
significance = ui.cached_significance(version, role, selection, cell_size_m)

with map_col:
    count_col, cells_col = st.columns(2)
    count_col.metric("Incidents shown", f"{len(incidents):,}")
    cells_col.metric("Cells with incidents", f"{int((cells['incident_count'] > 0).sum()):,}")
    st.caption(summaries.describe_filter(selection, labels))
    legend = maps.legend_html(
        maps.cso_colours(assignments),
        breaks,
        cell_size_m,
        synthetic,
        plan_statuses=maps.PLAN_STATUSES[:2] if live_plans is not None else (),
        significance_note=significance.attrs.get("small_numbers", ""),
    )
    style = ui.map_style()
    # the key names everything the map is drawn from, so a rerun with the same map (a click
    # on a ward, a table tab) sends the map rendered before instead of rendering it again
    drawn_from = (version, role, borough.codes, selection, cell_size_m, style, synthetic, today)
    rendered = cached_map(
        (*drawn_from, fingerprint(live_plans, open_actions)),
        lambda: maps.borough_map(
            wards=wards,
            assignments=assignments,
            bins=bins,
            bus_stops=bus_stops,
            schedule=schedule,
            cells_bng=cells,
            hotspot_breaks=breaks,
            cell_size_m=cell_size_m,
            style=style,
            synthetic=synthetic,
            plans=live_plans,
            open_actions=open_actions,
            significance_cells=significance,
        ),
    )
    # Only a click on a feature comes back: panning and zooming must not rerun the page.
    clicked = show_map(
        rendered, key="borough_map", height=680, returned_objects=["last_active_drawing"]
    )
    ui.open_clicked_plan(clicked)  # a click inside a plan's area opens the plan
    with st.expander("Legend", expanded=True):
        st.html(f"<div class='map-legend-page'>{legend}</div>")  # every piece of text escaped

with side_col:
    st.subheader("Ward")
    ward_names = dict(zip(wards["code"], wards["name"], strict=True))
    feature = (clicked or {}).get("last_active_drawing") or {}
    clicked_code = (feature.get("properties") or {}).get("ward_code")
    if clicked_code in ward_names and clicked_code != st.session_state.get("last_clicked_ward"):
        st.session_state["last_clicked_ward"] = clicked_code
        st.session_state["ward_detail"] = clicked_code
    code = st.selectbox(
        "Ward details",
        options=list(ward_names),
        format_func=ward_names.__getitem__,
        index=None,
        key="ward_detail",
        placeholder="Click a ward on the map or pick one",
    )
    if code:
        detail = summaries.ward_detail(code, incidents, wards, assignments, labels)
        st.markdown(f"**{detail.name}** ({detail.code})")
        st.markdown(f"CSO: **{detail.cso_name or 'No CSO assigned'}**")
        st.metric("Incidents (current filters)", f"{detail.incident_count:,}")
        if detail.rate_per_1000 is not None:
            st.metric("Per 1,000 residents", f"{detail.rate_per_1000:.1f}")
        st.caption(
            f"{detail.share_of_borough:.0%} of incidents shown. "
            f"Knife-enabled {detail.knife_count}, domestic abuse {detail.domestic_abuse_count}, "
            f"victim under 25 {detail.under_25_count}."
        )
        for label, count in detail.top_categories:
            st.markdown(f"- {label}: {count}")
        if can(role, Permission.MANAGE_PLANS):
            st.page_link(
                "pages/new_plan.py",
                label=f"Open a plan for {detail.name}",
                query_params={"ward": code},
                icon=":material/add_location_alt:",
            )

    if live_plans is not None:
        ui.open_actions_panel(live_plans, open_actions, selection.ward_codes)

st.subheader("What the map shows, as tables")
st.caption("The same facts as the map layers, for keyboard and screen-reader users.")
wards_tab, bins_tab, bus_tab, cells_tab = st.tabs(
    ["Wards and CSOs", "Knife amnesty bins", "Youth Bus stops", "Busiest hotspot cells"]
)
with wards_tab:
    ui.show_table(summaries.ward_figures(incidents, wards, assignments))
with bins_tab:
    ui.show_table(summaries.knife_bin_table(bins))
with bus_tab:
    ui.show_table(summaries.youth_bus_table(bus_stops, schedule))
with cells_tab:
    st.caption(
        f"The 20 busiest of {len(cells):,} cells of {cell_size_m:.0f} m "
        f"covering {'the borough' if len(borough.codes) == 1 else 'the boroughs'}; "
        f"map classes: {', '.join(hotspots.class_labels(breaks))} incidents."
    )
    ui.show_table(summaries.top_cells_table(cells, wards))
