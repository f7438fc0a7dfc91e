from dataclasses import replace

import streamlit as st
from streamlit_folium import st_folium

from dashboard import maps, ui
from dashboard.access import Permission
from dashboard.config import DATA_DIR, MAPPINGS_DIR
from dashboard.dates import today_in_london
from dashboard.errors import CommunitySafetyError
from dashboard.importers.assets import assign_ward
from dashboard.importers.extract import file_header, list_mappings
from dashboard.importers.log import list_imports, undo_import
from dashboard.importers.police_uk_api import fetch_police_uk, months_between
from dashboard.importers.registry import IMPORT_KINDS, ImportRequest
from dashboard.importers.validation import ROWS_SHOWN_ON_SCREEN
from dashboard.store.queries import csos

user = ui.require_page(Permission.LOAD_DATA)
store = ui.engine()
borough = ui.borough_view(user, to_load=True)
# every import below is of this borough's data
config = replace(ui.settings(), borough_code=borough.code, borough_name=borough.name)
st.title("Data")
st.caption(
    f"Load {borough.name}'s official files. Each file is checked first and nothing is written "
    "until you confirm; then it is loaded whole or not at all, logged, and can be undone."
)
if done := st.session_state.pop("data_done", None):  # said after the rerun that shows it
    st.success(done)

st.subheader("Load a file")
kind_name = st.selectbox(
    "What are you loading?",
    list(IMPORT_KINDS),
    format_func=lambda name: IMPORT_KINDS[name].label,
    key="import_kind",
)
kind = IMPORT_KINDS[kind_name]
uploads = st.file_uploader(
    "Files", type=list(kind.accepts), accept_multiple_files=True, key=f"upload_{kind_name}"
)
extra = []
mapping = None
if kind_name == "extract" and uploads:
    header = file_header(uploads[0].name, uploads[0].getvalue())
    mapping = ui.extract_mapping_editor(header, list_mappings(MAPPINGS_DIR), MAPPINGS_DIR)
if kind_name == "population":
    lsoa = st.file_uploader(
        "LSOA boundaries (only with ONS LSOA estimates)",
        type=["geojson", "json", "gpkg", "zip"],
        key="lsoa",
    )
    extra = [(lsoa.name, lsoa.getvalue())] if lsoa else []

if st.button("Check the files", disabled=not uploads, key="check_files"):
    try:
        files = [(upload.name, upload.getvalue()) for upload in uploads]
        bar = st.progress(0.0, text="Checking every row...")
        estimate = ui.row_progress(bar, sum(len(content) for _name, content in files))
        request = ImportRequest(files, config, user.role, extra, estimate, mapping)
        prepared_now = kind.prepare(store, request)
        bar.empty()
        st.session_state["prepared"] = (kind_name, prepared_now)
    except CommunitySafetyError as error:
        st.session_state.pop("prepared", None)
        st.error(str(error))

with st.expander("Or fetch months from the police.uk API"):
    first_col, last_col = st.columns(2)
    first_month = first_col.text_input("From month (YYYY-MM)", key="api_from")
    last_month = last_col.text_input("To month (YYYY-MM)", key="api_to")
    if st.button("Fetch and check", key="api_fetch", disabled=not (first_month and last_month)):
        try:
            months = months_between(first_month.strip(), last_month.strip())
            bar = st.progress(0.0, text="Fetching from police.uk...")
            fetched = fetch_police_uk(
                store,
                borough_code=config.borough_code,
                months=months,
                role=user.role,
                cache_dir=DATA_DIR / "cache" / "police_uk" / config.borough_code,
                base_url=config.police_uk_api_url,
                progress=lambda done: bar.progress(done / len(months), text=f"{done} months"),
            )
            bar.empty()
            st.session_state["prepared"] = ("police-uk", fetched)
        except CommunitySafetyError as error:
            st.error(str(error))

prepared_kind, prepared = st.session_state.get("prepared", (None, None))
if prepared is not None:
    report = prepared.report
    st.markdown(f"**Checked: {IMPORT_KINDS[prepared_kind].label}**")
    read_col, load_col, rejected_col = st.columns(3)
    read_col.metric("Rows read", f"{report.rows_read:,}")
    load_col.metric("Rows to load", f"{report.rows_accepted:,}")
    rejected_col.metric("Rows rejected", f"{report.rows_rejected:,}")
    for line in report.summary_lines()[2:]:
        st.markdown(f"- {line}")
    if report.rejected:
        st.warning(
            f"{report.rows_rejected:,} row(s) were rejected. The first "
            f"{min(ROWS_SHOWN_ON_SCREEN, report.rows_rejected)} are listed; download them all."
        )
        ui.show_table(ui.rejected_rows_table(report))
        st.download_button(
            "Download every rejected row (CSV)",
            report.rejected_csv(),
            file_name="rejected_rows.csv",
            mime="text/csv",
            key="download_rejected",
        )
    preview = maps.import_preview_map(prepared.payload, ui.map_style())
    if preview is not None:
        st.caption("What will be loaded:")
        st_folium(
            preview, key="import_preview", height=420, use_container_width=True, returned_objects=[]
        )
    if st.button(
        f"Load {report.rows_accepted:,} rows",
        type="primary",
        disabled=report.rows_accepted == 0 and prepared_kind == "police-uk",
        key="confirm_import",
    ):
        try:
            with st.spinner("Loading, in one transaction..."):
                import_id = IMPORT_KINDS[prepared_kind].commit(
                    store, prepared, user.email, user.role
                )
            st.session_state.pop("prepared", None)
            st.session_state["data_done"] = f"Loaded as import {import_id}."
            st.rerun()
        except CommunitySafetyError as error:
            st.error(str(error))

st.subheader("Change one ward's CSO")
wards = ui.cached_wards(ui.data_version(), user.role, borough.codes)
officers = csos(store, user.role, boroughs=borough.codes)
with st.form("assign_ward"):
    ward_names = dict(zip(wards["code"], wards["name"], strict=True))
    ward_code = st.selectbox(
        "Ward", list(ward_names), format_func=ward_names.__getitem__, key="assign_ward"
    )
    officer_names = dict(zip(officers["cso_id"], officers["cso_name"], strict=True))
    cso_id = st.selectbox(
        "CSO", list(officer_names), format_func=officer_names.__getitem__, key="assign_cso"
    )
    valid_from = st.date_input(
        "From", value=today_in_london(), key="assign_from", format="DD/MM/YYYY"
    )
    if st.form_submit_button("Assign"):
        try:
            assign_ward(store, user.role, user.email, ward_code, int(cso_id), valid_from)
            st.session_state["data_done"] = (
                f"{officer_names[cso_id]} covers {ward_names[ward_code]} from "
                f"{valid_from:%d %b %Y}; the previous assignment is kept in the history."
            )
            st.rerun()
        except CommunitySafetyError as error:
            st.error(str(error))

st.subheader("Import log")
history = list_imports(store, user.role, boroughs=borough.codes)
ui.show_table(history)
committed = history[history["status"] == "committed"]
if not committed.empty:
    with st.form("undo_import"):
        import_id = st.selectbox(
            "Undo an import",
            committed["import_id"].tolist(),
            format_func=lambda i: f"{i}: {committed.set_index('import_id').loc[i, 'file']}",
            key="undo_id",
        )
        sure = st.checkbox("Yes, remove everything this import loaded", key="undo_sure")
        if st.form_submit_button("Undo import"):
            if not sure:
                st.error("Tick the box to confirm; nothing was changed.")
            else:
                try:
                    removed = undo_import(
                        store, user.role, user.email, int(import_id), boroughs=borough.codes
                    )
                    counts = ", ".join(f"{t} {n:,}" for t, n in removed.items()) or "nothing"
                    st.session_state["data_done"] = f"Import {import_id} undone: removed {counts}."
                    st.rerun()
                except CommunitySafetyError as error:
                    st.error(str(error))
