from datetime import date

from streamlit.testing.v1 import AppTest

from tests.app.conftest import metric


def table_rows(at: AppTest, index: int) -> int:
    return len(at.table[index].value)


def test_the_first_screen_is_the_map_with_its_count_and_the_demo_label(app: AppTest):
    assert app.title[0].value == "Wandsworth: community safety map"
    assert metric(app, "Incidents shown") > 3000  # a year of demo incidents
    assert metric(app, "Cells with incidents") > 100
    assert any("synthetic" in info.value for info in app.info)


def test_robbery_filter_shows_a_subset_of_incidents(app: AppTest):
    everything = metric(app, "Incidents shown")

    app.multiselect(key="categories").set_value(["robbery"]).run()

    assert not app.exception
    robbery = metric(app, "Incidents shown")
    assert 0 < robbery < everything
    assert "Personal robbery" in app.caption[0].value


def test_each_flag_filter_narrows_the_count(app: AppTest):
    everything = metric(app, "Incidents shown")
    for key in ("knife_only", "domestic_abuse_only", "under_25_only"):
        app.checkbox(key=key).check().run()
        narrowed = metric(app, "Incidents shown")
        assert 0 < narrowed < everything, key
        app.checkbox(key=key).uncheck().run()
        assert metric(app, "Incidents shown") == everything


def test_a_shorter_date_range_and_one_ward_show_fewer_incidents(app: AppTest):
    everything = metric(app, "Incidents shown")
    end = app.date_input(key="date_to").value

    app.date_input(key="date_from").set_value(date(end.year, end.month, 1)).run()
    one_month = metric(app, "Incidents shown")
    app.multiselect(key="ward_codes").set_value(["E05014024"]).run()  # Tooting Broadway
    one_ward = metric(app, "Incidents shown")

    assert 0 < one_ward < one_month < everything / 6


def test_the_table_alternative_lists_every_layer(app: AppTest):
    wards, bins, stops, cells = (table_rows(app, i) for i in range(4))

    assert (wards, bins) == (22, 2)
    assert 6 <= stops <= 10
    assert cells == 20
    bin_names = app.table[1].value["Name"].tolist()
    assert any("Roehampton Library" in name for name in bin_names)
    assert any("St George" in name for name in bin_names)


def test_picking_a_ward_shows_its_figures_and_cso(app: AppTest):
    app.selectbox(key="ward_detail").set_value("E05014024").run()

    assert not app.exception
    texts = [m.value for m in app.markdown]
    assert "**Tooting Broadway** (E05014024)" in texts
    assert any(text.startswith("CSO: **") and "No CSO" not in text for text in texts)
    assert metric(app, "Incidents (current filters)") > 0


def test_a_filter_that_matches_nothing_shows_zero_and_an_empty_map(app: AppTest):
    app.multiselect(key="categories").set_value(["robbery"]).run()
    app.checkbox(key="domestic_abuse_only").check().run()  # robbery is never domestic abuse here

    assert not app.exception
    assert metric(app, "Incidents shown") == 0
    assert metric(app, "Cells with incidents") == 0
    assert app.table[0].value["Incidents"].sum() == 0


def test_a_start_after_the_end_is_explained_and_treated_as_one_day(app: AppTest):
    end = app.date_input(key="date_to").value
    app.date_input(key="date_to").set_value(date(end.year, end.month, 1)).run()
    app.date_input(key="date_from").set_value(end).run()

    assert "The start date is after the end date" in app.warning[0].value
    assert app.caption[0].value.startswith(f"{date(end.year, end.month, 1):%d %b %Y} to ")
