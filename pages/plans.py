import geopandas as gpd
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from dashboard import maps, plan_evidence, plan_exports, plans, ui
from dashboard.access import Permission, can
from dashboard.dates import today_in_london
from dashboard.geo import BNG, WGS84
from dashboard.store.models import AssetKind

user = ui.require_page(Permission.VIEW_PLANS)
role = user.role
version = ui.data_version()
borough = ui.borough_view(user, all_of_london=True)
scope = borough.codes
today = today_in_london()
ui.show_flash()
everything = plans.actions(ui.engine(), role, today, boroughs=borough.codes)
all_plans = plans.plans(ui.engine(), role, today, everything, boroughs=borough.codes)
plan_id = ui.plan_id_from_query(all_plans)
wards = ui.cached_wards(version, role, borough.codes)
agencies = plans.known_agencies(ui.engine(), role, boroughs=borough.codes)

if plan_id is None:
    st.title("Problem-solving plans")
    ui.synthetic_banner(version)
    st.caption(
        "Area-based plans run by task-and-finish groups. Overdue and at-risk actions are flagged "
        "in words and shaded. Click a plan's area on the map, or 'Open the plan', to open it."
    )
    top = st.columns([3, 1, 1], vertical_alignment="bottom")
    statuses = top[0].multiselect(
        "Status",
        list(plans.PLAN_STATUS_LABELS),
        default=[plans.PlanStatus.OPEN, plans.PlanStatus.MONITORING],
        format_func=plans.PLAN_STATUS_LABELS.__getitem__,
        key="plan_statuses",
    )
    shown = all_plans[all_plans["status"].isin([s.value for s in statuses])]
    top[1].download_button(
        "All actions (CSV)",
        plan_exports.actions_csv(everything),
        file_name=f"actions-{today:%Y-%m-%d}.csv",
        mime="text/csv",
        icon=":material/download:",
    )
    if can(role, Permission.MANAGE_PLANS):
        top[2].page_link("pages/new_plan.py", label="Open a new plan", icon=":material/add:")
    map_col, list_col = st.columns([3, 2], gap="medium")
    with map_col:
        clicked = st_folium(
            maps.plan_area_map(wards=wards, style=ui.map_style(), plans=shown, drawing=False),
            key="plans_map",
            height=520,
            use_container_width=True,
            returned_objects=["last_active_drawing"],
        )
        ui.open_clicked_plan(clicked)
    with list_col:
        for plan in shown.itertuples():
            with st.container(border=True):
                st.markdown(f"**{ui.plain(plan.title)}**")  # in full: a link label is cut short
                st.page_link(
                    "pages/plans.py",
                    label="Open the plan",
                    query_params={"plan": plan.plan_id},
                    icon=":material/assignment:",
                )
                st.caption(
                    f"{plans.PLAN_STATUS_LABELS[plans.PlanStatus(plan.status)]} · "
                    f"{plans.SARA_LABELS[plans.SaraStage(plan.sara_stage)]} stage · "
                    f"lead CSO {ui.plain(plan.lead_cso_name or 'none')} · "
                    f"{plan.open_actions} open of {plan.total_actions} actions"
                )
                if plan.overdue_actions:
                    st.badge(
                        f"{plan.overdue_actions} overdue", color="red", icon=":material/error:"
                    )
                if plan.at_risk_actions:
                    st.badge(
                        f"{plan.at_risk_actions} at risk", color="orange", icon=":material/warning:"
                    )
        if shown.empty:
            st.info("No plans with the chosen status.")
    st.subheader("Open actions of these plans")
    ui.actions_table(
        everything[
            everything["plan_id"].isin(shown["plan_id"])
            & everything["status"].isin([s.value for s in plans.OPEN_ACTION_STATUSES])
        ],
        ["flag", "due_on", "description", "plan_title", "owner_agency", "status_label"],
        key="plans_open_actions",
    )
    st.stop()

# --- one plan ----------------------------------------------------------------------------------
record = plans.plan_record(ui.engine(), role, plan_id, boroughs=borough.codes)
plan_actions = everything[everything["plan_id"] == plan_id].reset_index(drop=True)
st.page_link("pages/plans.py", label="All plans", icon=":material/arrow_back:", query_params={})
st.title(ui.plain(record.title))
synthetic = ui.synthetic_banner(version)
status_col, stage_col, _rest = st.columns([1, 1, 5])
with status_col:
    st.badge(plans.PLAN_STATUS_LABELS[record.status], color="violet")
with stage_col:
    st.badge(f"{plans.SARA_LABELS[record.sara_stage]} stage", color="blue")
facts, problem = st.columns([2, 3], gap="large")
with facts:
    st.markdown(
        f"**Lead CSO:** {ui.plain(record.lead_cso_name or 'none')}  \n"
        f"**Partners:** {ui.plain(', '.join(record.partners) or 'none yet')}  \n"
        f"**Wards:** {ui.plain(', '.join(record.ward_names))}  \n"
        f"**Area:** {record.area_ha:.1f} ha"
        + (f", {ui.plain(record.place_name)}" if record.place_name else "")
        + f"  \n**Started:** {record.started_on:%d %b %Y}; **review:** "
        + (f"{record.review_on:%d %b %Y}" if record.review_on else "not set")
    )
    if record.outcome:
        st.markdown(f"**Outcome:** {ui.plain(record.outcome)}")
with problem:
    st.markdown("**Problem statement**")
    st.markdown(ui.plain(record.problem))

controls = st.columns(2)
look_back_months = controls[0].select_slider(
    "Evidence over the last",
    options=[3, 6, 12, 24, 36],
    value=12,
    format_func=lambda months: f"{months} months",
    key="plan_look_back",
)
distance_m = controls[1].select_slider(
    "Knife bins and Youth Bus stops within",
    options=[100, 250, 500, 750, 1000, 1500],
    value=500,
    format_func=lambda metres: f"{metres} m of the area",
    key="plan_distance",
)
evidence = ui.plan_evidence_for(
    version, role, borough.codes, record, all_plans, look_back_months, distance_m
)
evidence_tab, actions_tab, assessment_tab, edit_tab, history_tab, downloads_tab = st.tabs(
    ["Evidence", "Actions", "Assessment", "Edit plan", "History", "Downloads"],
    key=f"plan_tabs_{plan_id}",  # keyed: the open tab survives the rerun after a save
)

with evidence_tab:
    if evidence is None:
        st.warning("No incidents are loaded, so there is no evidence to show for this area.")
    else:
        map_col, side_col = st.columns([3, 2], gap="medium")
        with map_col:
            st_folium(
                maps.plan_detail_map(
                    plan_area=record.area_wgs84,
                    title=record.title,
                    style=ui.map_style(),
                    status=record.status.value,
                    cells_bng=evidence.cells_bng,
                    cell_size_m=100.0,
                    bins=ui.cached_assets(version, role, AssetKind.KNIFE_BIN, scope),
                    bus_stops=ui.cached_assets(version, role, AssetKind.YOUTH_BUS_STOP, scope),
                    schedule=ui.cached_schedule(version, role, scope),
                    actions=plan_actions,
                ),
                key=f"plan_map_{plan_id}",
                height=480,
                use_container_width=True,
                returned_objects=[],
            )
        with side_col:
            period = f"{evidence.look_back_start:%b %Y} to {evidence.look_back_end:%b %Y}"
            st.metric(f"Incidents in the area, {period}", f"{evidence.incidents_in_area:,}")
            weeks = evidence.weeks
            if weeks.latest_count is not None:
                st.metric(
                    "Latest 12 weeks",
                    f"{weeks.latest_count:,}",
                    delta=f"{weeks.change:+,} on the 12 weeks before ({weeks.before_count:,})",
                    delta_color="inverse",
                )
            st.caption(ui.plain(weeks.note))
            if evidence.data_note:
                st.warning(evidence.data_note)
        st.markdown("**Incidents in the area by month**")
        st.bar_chart(
            evidence.monthly.assign(month=pd.to_datetime(evidence.monthly["month"])),
            x="month",
            y="incident_count",
            x_label="Month",
            y_label="Incidents",
            height=220,
        )
        near, overlaps = st.columns(2)
        with near:
            st.markdown(f"**Knife bins and Youth Bus stops within {distance_m} m**")
            if evidence.assets.empty:
                st.caption("None.")
            else:
                ui.show_table(evidence.assets[["name", "kind", "address", "distance_m"]])
        with overlaps:
            st.markdown("**Other plans over this area**")
            if evidence.overlapping.empty:
                st.caption("None overlap it.")
            else:
                ui.show_table(evidence.overlapping.drop(columns="plan_id", errors="ignore"))

with actions_tab:
    open_count = int(
        plan_actions["status"].isin([s.value for s in plans.OPEN_ACTION_STATUSES]).sum()
    )
    st.caption(
        f"{open_count} open of {len(plan_actions)} actions. Each update is kept with who made it "
        "and when; nothing is deleted (dropping is a status)."
    )
    ui.actions_table(
        plan_actions,
        ["flag", "due_on", "description", "theme", "owner_agency", "owner_name", "status_label"],
        key=f"plan_actions_{plan_id}",
    )
    for action in plan_actions.itertuples():
        label = f"{action.flag}: {action.description[:90]}"
        with st.expander(
            label, icon=ui.FLAG_ICONS.get(action.flag), key=f"action_open_{action.action_id}"
        ):
            st.markdown(
                f"{ui.plain(action.description)}  \n**Theme:** {action.vru_theme} "
                f"{ui.plain(action.theme)} · **Owner:** {ui.plain(action.owner_agency)}"
                + (f", {ui.plain(action.owner_name)}" if action.owner_name else "")
                + f" · **Due:** {action.due_on:%d %b %Y}"
            )
            ui.flag_badge(action.flag)
            ui.action_update_form(
                plan_actions.loc[action.Index], user, agencies, f"action_{action.action_id}"
            )
            st.markdown("**History**")
            ui.history_table(
                plans.action_history(ui.engine(), role, action.action_id, boroughs=borough.codes),
                key=f"history_{action.action_id}",
            )
    if record.status is plans.PlanStatus.CLOSED:
        st.info("The plan is closed; reopen it (Edit plan) to add actions.")
    elif can(role, Permission.UPDATE_AGENCY_ACTIONS):
        st.subheader("Add an action")
        ui.add_action_form(record.plan_id, user, agencies)

assessment = None
with assessment_tab:
    if record.sara_stage is not plans.SaraStage.ASSESSMENT:
        st.info(
            "The before-and-after assessment is made at the Assessment stage of SARA. This plan "
            f"is at the {plans.SARA_LABELS[record.sara_stage]} stage."
        )
    elif evidence is None:
        st.warning("No incidents are loaded, so the plan cannot be assessed.")
    else:
        buffer_m = st.select_slider(
            "Displacement ring around the area",
            options=[100, 200, 250, 300, 400, 500],
            value=250,
            format_func=lambda metres: f"{metres} m",
            key="plan_buffer",
        )
        span = ui.cached_span(version, role, borough.codes)
        borough_bng = gpd.GeoSeries(wards.geometry, crs=WGS84).to_crs(BNG).union_all()
        area_bng = gpd.GeoSeries([record.area_wgs84], crs=WGS84).to_crs(BNG).iloc[0]
        assessment = plan_evidence.assess_area(
            ui.cached_all_incidents(version, role, borough.codes),
            area_bng,
            borough_bng,
            record.started_on,
            span[1],
            buffer_m=buffer_m,
        )
        for line in plan_evidence.describe_assessment(assessment):
            st.markdown(line)

with edit_tab:
    if can(role, Permission.MANAGE_PLANS):
        ui.plan_edit_form(record, user, borough.codes)
    else:
        st.caption("CSOs and analysts edit plans; partners update their own agency's actions.")

with history_tab:
    ui.history_table(
        plans.plan_history(ui.engine(), role, plan_id, boroughs=borough.codes),
        key=f"plan_history_{plan_id}",
    )

with downloads_tab:
    st.download_button(
        "Plan summary (PDF)",
        ui.plan_summary_pdf(
            record, plan_actions, evidence, assessment, synthetic, version, role, borough.codes
        ),
        file_name=f"plan-{record.plan_id}-{today:%Y-%m-%d}.pdf",
        mime="application/pdf",
        icon=":material/picture_as_pdf:",
        help="For the task-and-finish meeting: the plan, its evidence and every action.",
    )
    st.download_button(
        "This plan's actions (CSV)",
        plan_exports.actions_csv(plan_actions),
        file_name=f"plan-{record.plan_id}-actions-{today:%Y-%m-%d}.csv",
        mime="text/csv",
        icon=":material/download:",
    )
    st.caption(
        "Both hold internal information (OFFICIAL-SENSITIVE): share them only with the "
        "task-and-finish group."
    )
