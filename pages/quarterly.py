from functools import partial

import altair as alt
import streamlit as st
from streamlit_folium import st_folium

from dashboard import action_plan, quarterly_maps, quarterly_report, ui
from dashboard.access import Permission, can
from dashboard.dates import today_in_london
from dashboard.ui import quarterly_widgets as quarterly_ui

user = ui.require_page(Permission.VIEW_PLANS)
role = user.role
config = ui.settings()
version = ui.data_version()
borough = ui.borough_view(user)
today = today_in_london()
st.title("Quarterly dashboard")
st.caption(
    f"{borough.name}, for the Violence Strategic Delivery Group: serious violence, where "
    "and when it concentrates, and the action plan's progress."
)
synthetic = ui.synthetic_banner(version)
inputs = quarterly_ui.cached_inputs(version, role, borough.code, today)

pick_col, suppress_col = st.columns([2, 1], vertical_alignment="bottom")
with pick_col:
    quarter = quarterly_ui.quarter_picker(inputs, today)
if quarter is None:
    st.stop()
with suppress_col:
    if can(role, Permission.SEE_SMALL_NUMBERS):
        suppress = st.toggle(
            "Suppress small numbers",
            key="quarterly_suppress",
            help=f"As partners and the pack see it: counts under {config.small_number_threshold} "
            "hidden, others rounded to 5.",
        )
    else:
        suppress = quarterly_report.must_suppress(role, for_pack=False)
        st.caption(f"Counts under {config.small_number_threshold} are hidden for partners.")
report = quarterly_ui.cached_report(
    version, role, borough.code, today, quarter, suppress, config.small_number_threshold
)

st.header(report.title)
for note in report.notes:
    st.info(note, icon=":material/info:")

st.subheader("Headline figures")
ui.show_table(quarterly_ui.headline_frame(report))
st.caption(
    "Changes are tested with the two-count Poisson test (the conditional binomial test, allowing "
    'for the periods\' lengths); "more than chance" means p < 0.05. The table makes 21 such '
    "tests, so about one in twenty can look like more than chance by chance alone."
)

ward_col, table_col = st.columns([3, 2], gap="medium")
with ward_col:
    st.subheader("By ward")
    st_folium(
        quarterly_maps.ward_rate_map(
            report.ward_map, report.rate_classes, ui.map_style(), "Serious violence"
        ),
        key="quarterly_wards",
        height=480,
        use_container_width=True,
        returned_objects=[],
    )
    st.caption(f"Serious violence this quarter per 1,000 residents: {report.rate_classes.label}.")
with table_col:
    st.dataframe(quarterly_ui.ward_frame(report), hide_index=True, width="stretch", height=520)

st.subheader("Hotspots over time")
map_col, summary_col = st.columns([3, 2], gap="medium")
with map_col:
    st_folium(
        quarterly_maps.pattern_map(inputs.wards, report.hotspot_cells, ui.map_style()),
        key="quarterly_hotspots",
        height=480,
        use_container_width=True,
        returned_objects=[],
    )
with summary_col:
    counts = {k: v for k, v in report.pattern_counts.items() if k != "never hot"}
    if counts:
        st.markdown(" · ".join(f"**{name}** {count}" for name, count in counts.items()))
    ui.show_table(quarterly_ui.pattern_frame(report).head(40))
with st.expander("How a cell's pattern is decided"):
    st.text(report.hotspot_rules)

st.subheader("Trends")
monthly = report.monthly
line = (
    alt.Chart(monthly, title="Serious violence per month, 36 months; the quarter shaded")
    .mark_line(point=True)
    .encode(
        x=alt.X("month:T", title=None),
        y=alt.Y("incidents:Q", title="Incidents"),
        tooltip=[alt.Tooltip("month:T", format="%b %Y"), "incidents:Q"],
    )
)
band = (
    alt.Chart(monthly[monthly["in_quarter"]])
    .mark_rect(opacity=0.15, color="#d95f02")
    .encode(x="min(month):T", x2="max(month):T")
)
st.altair_chart(band + line, width="stretch")
if report.weekday_hour is not None:
    long = report.weekday_hour.reset_index(names="Weekday").melt(
        id_vars="Weekday", var_name="Hour", value_name="Incidents"
    )
    st.altair_chart(
        alt.Chart(long, title="Serious violence this quarter by weekday and hour")
        .mark_rect()
        .encode(
            x=alt.X("Hour:O", title="Hour starting"),
            y=alt.Y("Weekday:O", sort=list(report.weekday_hour.index), title=None),
            color=alt.Color("Incidents:Q", scale=alt.Scale(scheme="orangered")),
            tooltip=["Weekday", "Hour", "Incidents"],
        ),
        width="stretch",
    )

st.subheader("The action plan by VRU theme")
st.caption(f"As it stood on {quarter.end:%d %B %Y}, the quarter's last day.")
quarterly_ui.theme_table(report)
with st.expander("How the RAG status is decided"):
    for rule in action_plan.RAG_RULES:
        st.markdown(f"- {rule}")
due_tab, overdue_tab, plans_tab = st.tabs(
    [
        f"Due next quarter ({len(report.due_next)})",
        f"Overdue ({len(report.overdue)})",
        f"Plans opened and closed ({len(report.plans_opened)} / {len(report.plans_closed)})",
    ]
)
with due_tab:
    ui.show_table(quarterly_ui.action_frame(report.due_next))
with overdue_tab:
    ui.show_table(quarterly_ui.action_frame(report.overdue))
with plans_tab:
    st.markdown("**Opened in the quarter**")
    ui.show_table(report.plans_opened.reindex(columns=["title", "status", "started_on"]))
    st.markdown("**Closed in the quarter**")
    ui.show_table(report.plans_closed.reindex(columns=["title", "started_on", "closed_on"]))

st.subheader("Sources")
ui.show_table(report.sources)

st.subheader("The pack for the meeting papers")
internal = False
if can(role, Permission.MAKE_INTERNAL_PACK):
    internal = st.toggle(
        "Internal pack (small numbers not suppressed)",
        key="quarterly_internal",
        help="Only for internal use: the meeting papers take the suppressed pack.",
    )
pack_suppressed = quarterly_report.must_suppress(role, for_pack=True, internal_pack=internal)

pack_report = partial(  # made only when the pack is downloaded: it may differ from the screen's
    quarterly_ui.cached_report,
    version,
    role,
    borough.code,
    today,
    quarter,
    pack_suppressed,
    config.small_number_threshold,
)
stem = f"quarterly-pack-{quarter.label.replace('/', '-').replace(' ', '-')}"
pdf_col, book_col = st.columns(2)
pdf_col.download_button(
    "Download quarterly pack (PDF)",
    quarterly_ui.pack_file(pack_report, "pdf", borough.name),
    file_name=f"{stem}{'' if pack_suppressed else '-INTERNAL'}.pdf",
    mime="application/pdf",
    icon=":material/picture_as_pdf:",
    key="download_pack",
)
book_col.download_button(
    "Tables (Excel workbook)",
    quarterly_ui.pack_file(pack_report, "xlsx", borough.name),
    file_name=f"{stem}{'' if pack_suppressed else '-INTERNAL'}.xlsx",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    icon=":material/table_view:",
    key="download_workbook",
)
st.caption("Suppressed for circulation." if pack_suppressed else "INTERNAL: small numbers shown.")
