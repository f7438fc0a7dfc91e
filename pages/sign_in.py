import streamlit as st

from dashboard import ui

ui.run_through_the_app()
st.title("Community Safety Map")
st.markdown(
    "Internal maps and figures of the Community Safety Service. Sign in with your council account "
    "to continue."
)
if ui.auth_configured():
    if st.button("Sign in", type="primary", key="sign_in"):
        st.login()
else:
    st.error(
        "Sign-in is not set up: add an `[auth]` section for your identity provider to "
        "`.streamlit/secrets.toml` (see the README), or set `DEMO_MODE=1` to try the demo data."
    )
