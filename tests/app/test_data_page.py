from datetime import timedelta

from streamlit.testing.v1 import AppTest

from tests.app.conftest import metric, signed_in

HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,"
    "Crime type,Last outcome category,Context"
)
MONTH = "\n".join(
    [
        HEADER,
        "aaa1,2024-05,Metropolitan Police Service,Metropolitan Police Service,-0.170,51.464,"
        "On or near St John's Road,E01004583,Wandsworth 010A,Robbery,Under investigation,",
        "aaa2,2024-05,Metropolitan Police Service,Metropolitan Police Service,-0.168,51.427,"
        "On or near Mitcham Road,E01004500,Wandsworth 030B,Violence and sexual offences,"
        "Unable to prosecute suspect,",
        "aaa3,2024-05,Metropolitan Police Service,Metropolitan Police Service,-0.190,51.456,"
        "On or near Garratt Lane,E01004600,Wandsworth 015C,Burglary,Under investigation,",
        "aaa4,2024-13,Metropolitan Police Service,Metropolitan Police Service,-0.190,51.456,"
        "On or near Garratt Lane,E01004600,Wandsworth 015C,Robbery,Under investigation,",
    ]
).encode()


def data_page() -> AppTest:
    at = signed_in("demo-analyst@example.org")
    at.run()
    at.switch_page("pages/data.py").run()
    assert not at.exception
    return at


def test_a_police_uk_month_is_checked_then_loaded_then_undone(seeded_db):
    at = data_page()
    at.file_uploader(key="upload_police-uk").set_value(
        ("2024-05-street.csv", MONTH, "text/csv")
    ).run()
    at.button(key="check_files").click().run()

    assert not at.exception
    assert (metric(at, "Rows read"), metric(at, "Rows to load"), metric(at, "Rows rejected")) == (
        4,
        2,
        1,
    )
    rejected = at.table[0].value
    assert rejected["Line"].tolist() == [5]
    assert rejected["Column"].tolist() == ["Month"]

    at.button(key="confirm_import").click().run()

    assert not at.exception
    assert at.success[0].value.startswith("Loaded as import ")
    log = at.table[0].value
    assert log["Kind"].iloc[0] == "police-uk"
    assert log["Rows loaded"].iloc[0] == 2

    at.checkbox(key="undo_sure").check()
    at.selectbox(key="undo_id").set_value(int(log["Import id"].iloc[0]))
    next(button for button in at.button if button.label == "Undo import").click().run()

    assert "undone: removed incident 2" in at.success[0].value
    assert at.table[0].value["Status"].iloc[0] == "undone"


def test_an_empty_file_is_refused_and_nothing_is_loaded(seeded_db):
    at = data_page()
    before = len(at.table[0].value)
    at.file_uploader(key="upload_police-uk").set_value(("empty.csv", b"", "text/csv")).run()
    at.button(key="check_files").click().run()

    assert "is empty" in at.error[0].value
    assert len(at.table[0].value) == before


def test_an_extract_with_other_headers_loads_through_the_mapping_step(seeded_db):
    from dashboard import PROJECT_ROOT

    other = (PROJECT_ROOT / "tests" / "fixtures" / "extract" / "other_headers.csv").read_bytes()
    at = data_page()
    at.selectbox(key="import_kind").set_value("extract").run()
    at.file_uploader(key="upload_extract").set_value(("cris.csv", other, "text/csv")).run()

    # the headers were recognised: CRIS is the incident reference, Lat/Long the point
    assert at.selectbox(key="map__incident_ref").value == "CRIS"
    assert at.selectbox(key="map__latitude").value == "Lat"
    at.button(key="check_files").click().run()

    assert not at.exception
    assert metric(at, "Rows rejected") == 0
    assert metric(at, "Rows to load") > 0


def test_changing_a_wards_cso_keeps_the_history(seeded_db):
    at = data_page()
    at.selectbox(key="assign_ward").set_value("E05014024")  # Tooting Broadway
    at.selectbox(key="assign_cso").set_value(1)
    next(button for button in at.button if button.label == "Assign").click().run()

    assert not at.exception
    assert "the previous assignment is kept in the history" in at.success[0].value
    from dashboard.access import Role
    from dashboard.dates import today_in_london
    from dashboard.store.models import CsoAssignment
    from dashboard.store.queries import current_cso_assignments
    from dashboard.store.session import make_engine, session_scope

    engine = make_engine(seeded_db)
    now = current_cso_assignments(engine, today_in_london(), Role.ANALYST)
    assert now.loc[now["ward_code"] == "E05014024", "cso_id"].tolist() == [1]
    with session_scope(engine) as session:
        periods = session.query(CsoAssignment).filter_by(ward_code="E05014024").all()
    yesterday = today_in_london() - timedelta(days=1)
    assert [p.valid_to for p in periods].count(yesterday) == 1  # the CSO before, kept, ends then


def test_fetching_from_an_unreachable_police_uk_says_so_and_loads_nothing(seeded_db, monkeypatch):
    monkeypatch.setenv("POLICE_UK_API_URL", "http://127.0.0.1:9/api")  # nothing listens there
    at = data_page()
    before = len(at.table[0].value)
    at.text_input(key="api_from").input("2024-01")
    at.text_input(key="api_to").input("2024-02").run()

    at.button(key="api_fetch").click().run()

    assert "police.uk could not be reached" in at.error[0].value
    assert len(at.table[0].value) == before
