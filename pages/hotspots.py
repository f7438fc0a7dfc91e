import altair as alt
import streamlit as st
from streamlit_folium import st_folium

from dashboard import hotspot_analysis, hotspot_maps, ui
from dashboard.access import Permission
from dashboard.store.models import AssetKind
from dashboard.ui import hotspot_widgets as hotspot_ui

user = ui.require_page(Permission.VIEW_INCIDENTS)
role = user.role
version = ui.data_version()
borough = ui.borough_view(user)
st.title(f"{borough.name}: hotspots")
st.caption("Where violence concentrates more than chance would explain, when, and what is near it.")
synthetic = ui.synthetic_banner(version)
wards = ui.cached_wards(version, role, borough.codes)
if wards.empty:
    st.warning("No ward boundaries are loaded. Run `python -m dashboard prepare` or import them.")
    st.stop()
ward_names = dict(zip(wards["code"], wards["name"], strict=True))

map_col, side_col = st.columns([7, 2], gap="medium")
with side_col:
    st.subheader("Filters")
    question = hotspot_ui.question_widgets(version, role, wards, borough.codes)
if question is None:
    st.stop()

total, kept, left_out_note = hotspot_ui.when_counts(version, role, question)
result = hotspot_ui.analysis(version, role, question)

with map_col:
    if left_out_note:
        st.info(left_out_note, icon=":material/schedule:")
    counts = result.class_counts
    hot_col, cold_col, used_col, top_col = st.columns(4)
    hot_col.metric("Hot cells", sum(counts[label] for label in hotspot_analysis.HOT))
    cold_col.metric("Cold cells", sum(counts[label] for label in hotspot_analysis.COLD))
    used_col.metric("Incidents analysed", f"{kept:,}", help=f"{total:,} in the period")
    share = result.concentration.top_5pct_share
    top_col.metric(
        "Held by the busiest 5% of cells",
        "none" if share != share else f"{share:.0%}",  # NaN when there are no incidents
    )
    st.caption(
        f"{question.when.label}; {question.start:%d %b %Y} to {question.end:%d %b %Y}. "
        + ("Harm-weighted." if question.options.harm_weighted else "")
    )
    view = st.segmented_control(
        "Map view",
        options=["Significance (Gi*)", "Kernel density"],
        default="Significance (Gi*)",
        key="hotspot_view",
        help="Gi* says which cells are hotter than chance; density shows a smooth surface.",
    )
    raster = hotspot_ui.density(version, role, question) if view == "Kernel density" else None
    fmap = hotspot_maps.hotspot_page_map(
        wards=wards,
        analysis=result,
        raster=raster,
        bins=ui.cached_assets(version, role, AssetKind.KNIFE_BIN, borough.codes),
        bus_stops=ui.cached_assets(version, role, AssetKind.YOUTH_BUS_STOP, borough.codes),
        schedule=ui.cached_schedule(version, role, borough.codes),
        style=ui.map_style(),
        synthetic=synthetic,
        focus_wards=question.ward_codes,
    )
    st_folium(fmap, key="hotspot_map", height=620, use_container_width=True, returned_objects=[])

area = ", ".join(ward_names[code] for code in question.ward_codes) or "the whole borough"
cells_tab, when_tab, repeat_tab, share_tab, assets_tab, method_tab = st.tabs(
    ["Hot and cold cells", "When", "Repeat locations", "Concentration", "Assets", "Method"]
)
with cells_tab:
    st.caption(f"Significant cells in {area}, strongest first.")
    ui.show_table(hotspot_analysis.hotspot_table(result, ward_names, question.ward_codes))
with when_tab:
    table = hotspot_ui.weekday_hours(version, role, question)
    without_time = table.attrs.get("without_time", 0)
    if int(table.to_numpy().sum()) == 0:
        st.info(
            f"No incident in {area} has a time of day"
            + (f" ({without_time:,} have the date only)." if without_time else ".")
        )
    else:
        long = table.reset_index(names="Weekday").melt(
            id_vars="Weekday", var_name="Hour", value_name="Incidents"
        )
        chart = (
            alt.Chart(long, title=f"Incidents by weekday and hour, {area}")
            .mark_rect()
            .encode(
                x=alt.X("Hour:O", title="Hour starting"),
                y=alt.Y("Weekday:O", sort=list(table.index), title=None),
                color=alt.Color("Incidents:Q", scale=alt.Scale(scheme="orangered")),
                tooltip=["Weekday", "Hour", "Incidents"],
            )
        )
        st.altair_chart(chart, width="stretch")
        if without_time:
            st.caption(f"{without_time:,} incidents without a time of day are not in the chart.")
        with st.expander("The same counts as a table"):
            st.dataframe(table, width="stretch")
with repeat_tab:
    places, place_count = hotspot_ui.repeat_places(version, role, question, ward_names)
    shown = f"the busiest {len(places)} of " if len(places) < place_count else ""
    st.caption(
        f"Places in {area} with two or more incidents in the period ({shown}{place_count:,}): "
        "police.uk map points, or 10 m squares for exact locations."
    )
    ui.show_table(places)
with share_tab:
    st.caption("Share of the borough's violence held by its busiest cells (empty cells count).")
    ui.show_table(hotspot_analysis.concentration_table(result))
    gini = result.concentration.gini
    if gini == gini:
        st.caption(f"Gini coefficient {gini:.2f} (0: spread evenly; near 1: all in one cell).")
    curve = (
        alt.Chart(result.lorenz, title="Lorenz curve: busiest cells first")
        .mark_line()
        .encode(
            x=alt.X("cell_share:Q", title="Share of cells", axis=alt.Axis(format="%")),
            y=alt.Y("incident_share:Q", title="Share of incidents", axis=alt.Axis(format="%")),
        )
    )
    st.altair_chart(curve, width="stretch")
with assets_tab:
    need = hotspot_ui.assets_against_need(version, role, question, ward_names)
    st.caption(
        f"Incidents and hot cells within {need.distance_m:.0f} m (straight line) of each knife "
        "bin and Youth Bus stop."
    )
    ui.show_table(need.assets)
    st.markdown(
        f"**Hot cells with no asset within {need.distance_m:.0f} m** ({len(need.uncovered)})"
    )
    ui.show_table(need.uncovered)
with method_tab:
    st.markdown(ui.plain(result.method))
    if result.harm_index is not None:
        index = result.harm_index
        st.markdown(
            f"Harm index: {ui.plain(index.name)}. Source: {ui.plain(index.source)}. "
            f"Status: **{ui.plain(index.status)}**."
        )
    st.markdown(
        "The time filters use the time each incident was recorded as happening. police.uk "
        "publishes the month only, so its incidents never count in a weekday or time-band view."
    )
