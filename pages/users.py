import streamlit as st

from dashboard import ui, users
from dashboard.access import Permission, Role, role_label
from dashboard.errors import CommunitySafetyError

admin = ui.require_page(Permission.MANAGE_USERS)
store = ui.engine()
st.title("Users")
st.caption(
    "People sign in with their council account; the e-mail address here must be the one their "
    "identity provider gives. Every change is kept with who made it and when."
)

role_options = [None, *Role]
if done := st.session_state.pop("users_done", None):  # said after the rerun that shows it
    st.success(done)

everyone = users.list_users(store, admin)
ui.show_table(everyone.drop(columns=["version"]))

add_tab, change_tab = st.tabs(["Add a user", "Change a user"])
with add_tab, st.form("add_user", clear_on_submit=True):
    email = st.text_input("E-mail address", key="new_email")
    name = st.text_input("Name", key="new_name")
    role = st.selectbox("Role", role_options, format_func=role_label, key="new_role")
    agency = st.text_input("Agency (partners)", key="new_agency")
    if st.form_submit_button("Add user"):
        try:
            users.add_user_as(
                store, admin, email=email, display_name=name, role=role, agency=agency or None
            )
            st.session_state["users_done"] = f"Added {email.strip().lower()}."
            st.rerun()
        except CommunitySafetyError as error:
            st.error(str(error))

with change_tab:
    if everyone.empty:
        st.info("Nobody is registered yet.")
        st.stop()
    labels = dict(zip(everyone["user_id"], everyone["email"], strict=True))
    user_id = st.selectbox("User", list(labels), format_func=labels.__getitem__, key="edit_user")
    current = everyone[everyone["user_id"] == user_id].iloc[0]
    with st.form("change_user"):
        current_role = Role(current["role"]) if current["role"] else None
        new_role = st.selectbox(
            "Role",
            role_options,
            index=role_options.index(current_role),
            format_func=role_label,
            key="edit_role",
        )
        new_agency = st.text_input("Agency", value=current["agency"] or "", key="edit_agency")
        active = st.checkbox(
            "Active (can sign in)", value=bool(current["active"]), key="edit_active"
        )
        if st.form_submit_button("Save changes"):
            try:
                users.change_user(
                    store,
                    admin,
                    int(user_id),
                    int(current["version"]),
                    role=new_role.value if new_role else None,
                    agency=new_agency.strip() or None,
                    active=active,
                )
                st.session_state["users_done"] = "Saved."
                st.rerun()
            except CommunitySafetyError as error:
                st.error(str(error))
    st.subheader("History")
    ui.show_table(users.user_history(store, admin, int(user_id)))
