import streamlit as st

from dashboard import summaries, ui
from dashboard.access import Permission
from dashboard.dates import today_in_london

user = ui.require_page(Permission.VIEW_CSOS)
role = user.role
version = ui.data_version()
borough = ui.borough_view(user, all_of_london=True)
st.title("Wards and Community Safety Officers")
ui.synthetic_banner(version)

wards = ui.cached_wards(version, role, borough.codes)
assignments = ui.cached_assignments(version, role, today_in_london(), borough.codes)
selection = (
    ui.incident_filter_widgets(version, role, wards, borough.codes) if not wards.empty else None
)
if selection is None:
    st.stop()
incidents = ui.cached_incidents(version, role, selection)
labels = ui.category_labels(version, role, borough.codes)
st.caption(summaries.describe_filter(selection, labels))

figures = summaries.ward_figures(incidents, wards, assignments)
total_col, wards_col, cso_col = st.columns(3)
total_col.metric("Incidents in these wards", f"{int(figures['incidents'].sum()):,}")
wards_col.metric("Wards", len(figures))
cso_col.metric("CSOs", assignments["cso_id"].nunique())

st.subheader("Incidents and rates by ward")
st.caption(
    "Rates are incidents per 1,000 residents for the dates chosen; the population source "
    "is on the About the data page."
)
ui.show_table(figures)

st.subheader("Who covers which wards")
ui.show_table(summaries.cso_coverage(assignments, wards))
