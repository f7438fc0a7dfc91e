from streamlit.testing.v1 import AppTest

from tests.app.conftest import metric


def test_wards_page_lists_22_wards_and_7_csos_and_filters_change_figures(app: AppTest):
    app.switch_page("pages/wards.py").run()
    assert not app.exception
    assert metric(app, "Wards") == 22
    assert metric(app, "CSOs") == 7
    everything = metric(app, "Incidents in these wards")
    coverage = app.table[1].value
    assert coverage["Ward count"].sum() == 22

    app.multiselect(key="categories").set_value(["robbery"]).run()

    robbery = metric(app, "Incidents in these wards")
    assert 0 < robbery < everything
    assert app.table[0].value["Incidents"].sum() == robbery
