import streamlit as st

from dashboard import ui

user = ui.principal()
st.title("You have no access yet")
st.markdown(
    f"You are signed in as **{user.email or user.display_name}**, but no role has been given to "
    "this account, so there is nothing you can open yet.\n\n"
    "**Ask an administrator** of the Community Safety Map to add you with the role you need "
    "(Community Safety Officer, partner agency, analyst or administrator)."
)
