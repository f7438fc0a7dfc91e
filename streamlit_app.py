"""Community Safety Map: page config, who the user is, and the pages their role may open."""

import logging

import streamlit as st

from dashboard import PROJECT_ROOT, access, ui

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

st.set_page_config(
    page_title="Community Safety Map",
    page_icon=str(PROJECT_ROOT / "dashboard" / "assets" / "favicon.svg"),  # local: no font CDN
    layout="wide",
    initial_sidebar_state="auto",  # open on a desktop, folded away on a phone
)

PAGES = {
    "pages/map.py": st.Page("pages/map.py", title="Map", icon=":material/map:", default=True),
    "pages/hotspots.py": st.Page(
        "pages/hotspots.py", title="Hotspots", icon=":material/local_fire_department:"
    ),
    "pages/patrol.py": st.Page(
        "pages/patrol.py", title="Patrol plan", icon=":material/directions_walk:"
    ),
    "pages/quarterly.py": st.Page(
        "pages/quarterly.py", title="Quarterly", icon=":material/insights:"
    ),
    "pages/plans.py": st.Page("pages/plans.py", title="Plans", icon=":material/assignment:"),
    "pages/new_plan.py": st.Page(
        "pages/new_plan.py", title="New plan", icon=":material/add_location_alt:"
    ),
    "pages/my_actions.py": st.Page(
        "pages/my_actions.py", title="My actions", icon=":material/checklist:"
    ),
    "pages/wards.py": st.Page("pages/wards.py", title="Wards and CSOs", icon=":material/groups:"),
    "pages/about.py": st.Page("pages/about.py", title="About the data", icon=":material/info:"),
    "pages/data.py": st.Page("pages/data.py", title="Data", icon=":material/upload_file:"),
    "pages/users.py": st.Page("pages/users.py", title="Users", icon=":material/manage_accounts:"),
}

user = ui.current_principal()
if user is None:
    navigation = st.navigation([st.Page("pages/sign_in.py", title="Sign in", default=True)])
elif user.role is None:
    ui.account_menu(user)
    navigation = st.navigation([st.Page("pages/no_access.py", title="No access yet", default=True)])
else:
    ui.account_menu(user)
    navigation = st.navigation([PAGES[path] for path in access.allowed_pages(user.role)])
ui.demo_banner(user)  # the user already looked up above
navigation.run()
