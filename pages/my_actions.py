import streamlit as st

from dashboard import plans, ui
from dashboard.access import Permission
from dashboard.dates import today_in_london

user = ui.require_page(Permission.VIEW_PLANS)
today = today_in_london()
ui.show_flash()
st.title("My actions")
ui.synthetic_banner(ui.data_version())
borough = ui.borough_view(user, all_of_london=True)
owner = f"you or {ui.plain(user.agency)}" if user.agency else "you"
st.caption(
    f"Open actions owned by {owner}, soonest due first. Overdue and at-risk actions are "
    "flagged in words and shaded."
)
if not user.agency:
    st.info(
        "Your account names no agency, so only actions assigned to you by name are listed. "
        "An administrator can set your agency on the Users page."
    )
include_closed = st.toggle("Include done and dropped actions", key="mine_include_closed")
# what this page already showed stays listed, closed or not, until the page is reloaded
shown = st.session_state.setdefault("mine_shown", set())
mine = plans.my_actions(
    ui.engine(), user, today, include_closed=include_closed, keep=shown, boroughs=borough.codes
)
shown.update(mine["action_id"])
counts = mine["flag"].value_counts()
overdue_col, at_risk_col, soon_col, total_col = st.columns(4)
overdue_col.metric("Overdue", int(counts.get(plans.FLAG_OVERDUE, 0)))
at_risk_col.metric("At risk", int(counts.get(plans.FLAG_AT_RISK, 0)))
soon_col.metric(f"Due within {plans.DUE_SOON_DAYS} days", int(counts.get(plans.FLAG_DUE_SOON, 0)))
total_col.metric("Listed", len(mine))
ui.actions_table(
    mine,
    ["flag", "due_on", "description", "plan_title", "owner_agency", "owner_name", "status_label"],
    key="my_actions_table",
)
agencies = plans.known_agencies(ui.engine(), user.role, boroughs=borough.codes)
for action in mine.itertuples():
    with st.expander(
        f"{action.flag} · due {action.due_on:%d %b %Y} · {action.description[:80]}",
        icon=ui.FLAG_ICONS.get(action.flag),
        key=f"mine_open_{action.action_id}",
    ):
        st.page_link(
            "pages/plans.py",
            label=f"Plan: {action.plan_title}",
            query_params={"plan": action.plan_id},
            icon=":material/assignment:",
        )
        st.markdown(ui.plain(action.description))
        ui.action_update_form(mine.loc[action.Index], user, agencies, f"mine_{action.action_id}")
        st.markdown("**History**")
        ui.history_table(
            plans.action_history(ui.engine(), user.role, action.action_id, boroughs=borough.codes),
            key=f"mine_history_{action.action_id}",
        )
