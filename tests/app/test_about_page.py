from streamlit.testing.v1 import AppTest


def test_about_page_counts_every_table_and_gives_the_ons_attribution(app: AppTest):
    app.switch_page("pages/about.py").run()

    assert not app.exception
    counts = dict(zip(app.table[0].value["Table"], app.table[0].value["Rows"], strict=True))
    assert counts["ward"] == 22
    assert counts["cso"] == 7
    assert counts["incident"] > 12_000
    assert any("Office for National Statistics" in m.value for m in app.markdown)
    offences = app.table[1].value["Offence as recorded"].tolist()
    assert "Violence and sexual offences" in offences
