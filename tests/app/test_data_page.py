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
