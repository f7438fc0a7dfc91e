"""Community Safety Map: page config and navigation over the pages that work."""

import logging

import streamlit as st

from dashboard import PROJECT_ROOT

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

st.set_page_config(
    page_title="Community Safety Map",
    page_icon=str(PROJECT_ROOT / "dashboard" / "assets" / "favicon.svg"),  # local: no font CDN
    layout="wide",
    initial_sidebar_state="expanded",
)

pages = [
    st.Page("pages/map.py", title="Map", icon=":material/map:", default=True),
    st.Page("pages/wards.py", title="Wards and CSOs", icon=":material/groups:"),
    st.Page("pages/about.py", title="About the data", icon=":material/info:"),
]
st.navigation(pages).run()
