import streamlit as st

from dashboard import ui, users
from dashboard.access import Permission, Role, role_label
from dashboard.errors import CommunitySafetyError

admin = ui.require_page(Permission.MANAGE_USERS)
store = ui.engine()
home_borough, home_name = ui.settings().borough_code, ui.settings().borough_name
st.title("Users")
st.caption(
    "People sign in with their council account; the e-mail address here must be the one their "
    "identity provider gives. Every change is kept with who made it and when."
)

role_options = [None, *Role]
LONDON_WIDE_HELP = (
    "Lets them see every borough's internal data in this store (incidents, plans, CSOs), "
    "not only their own borough's."
)


def borough_text(code: str | None) -> str:
    return users.borough_label(code, home_name)


if done := st.session_state.pop("users_done", None):  # said after the rerun that shows it
    st.success(done)

everyone = users.list_users(store, admin, home_borough)
ui.show_table(users.users_table(everyone, home_name))

add_tab, change_tab = st.tabs(["Add a user", "Change a user"])
with add_tab, st.form("add_user", clear_on_submit=True):
    email = st.text_input("E-mail address", key="new_email")
    name = st.text_input("Name", key="new_name")
    role = st.selectbox("Role", role_options, format_func=role_label, key="new_role")
    agency = st.text_input("Agency (partners)", key="new_agency")
    borough = st.selectbox(
        "Borough", users.borough_choices(), format_func=borough_text, key="new_borough"
    )
    london_wide = st.checkbox("London-wide access", help=LONDON_WIDE_HELP, key="new_london_wide")
    if st.form_submit_button("Add user", key="new_save"):
        try:
            users.add_user_as(
                store,
                admin,
                home_borough,
                email=email,
                display_name=name,
                role=role,
                agency=agency or None,
                borough_code=borough,
                london_wide=london_wide,
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
    user_id = int(
        st.selectbox("User", list(labels), format_func=labels.__getitem__, key="edit_user")
    )
    current = everyone[everyone["user_id"] == user_id].iloc[0]
    # each user has their own form, keyed by id: one shared set of widgets would carry the last
    # user's values over, and saving would give them to this one
    prefix = f"edit_user_{user_id}"
    # the form saves against the version shown when it was opened, so another admin's change
    # in between is refused (EditConflict) rather than silently overwritten
    seen = ui.seen_snapshot(
        prefix,
        {
            "role": Role(current["role"]) if current["role"] else None,
            "agency": current["agency"] or "",
            "borough_code": current["borough_code"],
            "london_wide": bool(current["london_wide"]),
            "active": bool(current["active"]),
        },
        int(current["version"]),
    )
    widget = f"{prefix}_g{ui.form_generation(prefix)}"
    boroughs = users.borough_choices(seen["borough_code"])
    with st.form(f"{widget}_form"):
        new_role = st.selectbox(
            "Role",
            role_options,
            index=role_options.index(seen["role"]),
            format_func=role_label,
            key=f"{widget}_role",
        )
        new_agency = st.text_input("Agency", value=seen["agency"], key=f"{widget}_agency")
        new_borough = st.selectbox(
            "Borough",
            boroughs,
            index=boroughs.index(seen["borough_code"]),
            format_func=borough_text,
            key=f"{widget}_borough",
        )
        new_london_wide = st.checkbox(
            "London-wide access",
            value=seen["london_wide"],
            help=LONDON_WIDE_HELP,
            key=f"{widget}_london_wide",
        )
        active = st.checkbox("Active (can sign in)", value=seen["active"], key=f"{widget}_active")
        if st.form_submit_button("Save changes", key=f"{widget}_save"):
            try:
                users.change_user(
                    store,
                    admin,
                    user_id,
                    int(seen["version"]),
                    home_borough=home_borough,
                    role=new_role.value if new_role else None,
                    agency=new_agency.strip() or None,
                    borough_code=new_borough,
                    london_wide=new_london_wide,
                    active=active,
                )
                ui.forget_form(prefix)
                st.session_state["users_done"] = "Saved."
                st.rerun()
            except CommunitySafetyError as error:
                st.error(str(error))
    st.subheader("History")
    ui.show_table(users.user_history(store, admin, user_id))
