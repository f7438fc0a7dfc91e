from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from sqlalchemy import func, select

from dashboard.access import Role
from dashboard.errors import InvalidInput
from dashboard.quarterly import (
    MEASURES,
    PERIOD_COLUMNS,
    Quarter,
    compare_counts,
    headline_columns,
    headline_table,
    period_labels,
    quarter_ordinals,
    quarters_between,
    rate_classes,
    rates_by_ward,
    serious_violence_categories,
    suppress,
    suppress_headline,
    suppress_table,
)
from dashboard.store import queries
from dashboard.store.models import Incident
from dashboard.store.session import make_engine, session_scope
from dashboard.taxonomy import load_taxonomy

EN = "\N{EN DASH}"
TAXONOMY = load_taxonomy()


# --- quarters ------------------------------------------------------------------------------------


def test_31_march_is_the_last_day_of_q4_and_1_april_starts_the_next_financial_year():
    assert Quarter.containing(date(2025, 3, 31)) == Quarter(2024, 4)
    assert Quarter.containing(date(2025, 4, 1)) == Quarter(2025, 1)
    assert Quarter(2025, 1).start == date(2025, 4, 1)
    assert Quarter(2024, 4).end == date(2025, 3, 31)


@pytest.mark.parametrize(
    ("quarter", "start", "end", "label", "first_month", "last_month_and_year"),
    [
        (Quarter(2025, 1), date(2025, 4, 1), date(2025, 6, 30), "2025/26 Q1", "April", "June 2025"),
        (
            Quarter(2025, 2),
            date(2025, 7, 1),
            date(2025, 9, 30),
            "2025/26 Q2",
            "July",
            "September 2025",
        ),
        (
            Quarter(2025, 3),
            date(2025, 10, 1),
            date(2025, 12, 31),
            "2025/26 Q3",
            "October",
            "December 2025",
        ),
        (
            Quarter(2025, 4),
            date(2026, 1, 1),
            date(2026, 3, 31),
            "2025/26 Q4",
            "January",
            "March 2026",
        ),
    ],
)
def test_each_quarter_has_its_months_and_q4_is_in_the_next_calendar_year(
    quarter, start, end, label, first_month, last_month_and_year
):
    assert (quarter.start, quarter.end) == (start, end)
    assert quarter.label == label
    assert str(quarter) == label
    assert quarter.months_label == f"{first_month}{EN}{last_month_and_year}"


def test_the_quarter_before_q1_is_the_previous_years_q4_and_after_q4_comes_q1():
    assert Quarter(2025, 1).previous() == Quarter(2024, 4)
    assert Quarter(2024, 4).next() == Quarter(2025, 1)
    assert Quarter(2025, 3).previous() == Quarter(2025, 2)
    assert Quarter(2025, 2).same_quarter_last_year() == Quarter(2024, 2)
    assert Quarter(2025, 1).shifted(-5) == Quarter(2023, 4)
    assert Quarter(2025, 1).shifted(8) == Quarter(2027, 1)
    assert Quarter(2025, 1).shifted(0) == Quarter(2025, 1)


def test_leap_years_q4_2023_24_ends_31_march_2024_and_holds_29_february():
    assert Quarter(2023, 4).end == date(2024, 3, 31)
    assert Quarter.containing(date(2024, 2, 29)) == Quarter(2023, 4)
    assert Quarter(2023, 4).days == 91  # January 31 + February 29 + March 31
    assert Quarter(2024, 4).days == 90
    assert [Quarter(2025, n).days for n in (1, 2, 3)] == [91, 92, 92]


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2025, 7, 1), Quarter(2025, 1)),  # first day of Q2: Q1 ended yesterday
        (date(2025, 9, 30), Quarter(2025, 1)),  # last day of Q2: Q2 is not over yet
        (date(2025, 10, 1), Quarter(2025, 2)),
        (date(2025, 4, 1), Quarter(2024, 4)),  # first day of a financial year
        (date(2025, 3, 31), Quarter(2024, 3)),
    ],
)
def test_last_complete_quarter_ended_before_today(today, expected):
    assert Quarter.last_complete(today) == expected


def test_rolling_12_months_are_the_four_quarters_ending_with_this_one():
    assert Quarter(2025, 2).rolling_12_months_window() == (date(2024, 10, 1), date(2025, 9, 30))
    assert Quarter(2025, 4).rolling_12_months_window() == (date(2025, 4, 1), date(2026, 3, 31))


def test_the_2099_00_financial_year_writes_its_second_year_as_two_digits():
    assert Quarter(2099, 1).label == "2099/00 Q1"
    assert Quarter(2099, 4).end == date(2100, 3, 31)
    assert Quarter.parse("2099/00 Q3") == Quarter(2099, 3)


def test_quarters_sort_in_time_order():
    mixed = [Quarter(2025, 1), Quarter(2024, 4), Quarter(2025, 3), Quarter(2024, 1)]

    assert sorted(mixed) == [Quarter(2024, 1), Quarter(2024, 4), Quarter(2025, 1), Quarter(2025, 3)]
    assert Quarter(2024, 4) < Quarter(2025, 1)


@pytest.mark.parametrize(
    "text",
    ["2025/26-Q2", "2025/26 Q2", "2025-26 Q2", "FY2025/26 Q2", "fy2025/26 q2", " 2025/2026 Q2 "],
)
def test_parse_accepts_the_ways_people_write_a_quarter(text):
    assert Quarter.parse(text) == Quarter(2025, 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2025/27 Q2", "second year must be the year after 2025; .* write 2025/26 Q2"),
        ("2025-2027 Q2", "second year must be the year after 2025"),
        ("2025/26 Q5", "names quarter 5, but a financial year has Q1 to Q4"),
        ("2025/26 Q0", "names quarter 0"),
        ("2025 Q2", "is not a financial quarter; write it like 2025/26 Q2"),
        ("Q2 2025/26", "is not a financial quarter"),
        ("", "is not a financial quarter"),
    ],
)
def test_parse_refuses_other_text_and_says_what_to_write(text, message):
    with pytest.raises(InvalidInput, match=message):
        Quarter.parse(text)


def test_a_quarter_numbered_outside_1_to_4_is_refused():
    with pytest.raises(InvalidInput, match="quarters 1 to 4, not 5"):
        Quarter(2025, 5)
    with pytest.raises(InvalidInput, match="quarters 1 to 4, not 0"):
        Quarter(2025, 0)


def test_quarters_between_lists_both_ends_and_refuses_them_swapped():
    assert quarters_between(Quarter(2024, 3), Quarter(2025, 2)) == [
        Quarter(2024, 3),
        Quarter(2024, 4),
        Quarter(2025, 1),
        Quarter(2025, 2),
    ]
    assert quarters_between(Quarter(2025, 1), Quarter(2025, 1)) == [Quarter(2025, 1)]
    with pytest.raises(InvalidInput, match="2024/25 Q3 comes before 2025/26 Q2; swap"):
        quarters_between(Quarter(2025, 2), Quarter(2024, 3))


def test_of_span_lists_only_the_complete_quarters_the_data_covers():
    # the demo's span: November 2023 to October 2026
    span = Quarter.of_span(date(2023, 11, 1), date(2026, 10, 31))

    assert span[0] == Quarter(2023, 4)  # 2023/24 Q3 (from October) is incomplete
    assert span[-1] == Quarter(2026, 2)  # 2026/27 Q3 (to December) is incomplete
    assert len(span) == 11
    assert Quarter.of_span(date(2025, 4, 1), date(2025, 6, 30)) == [Quarter(2025, 1)]
    assert Quarter.of_span(date(2025, 4, 2), date(2025, 6, 30)) == []
    assert Quarter.of_span(date(2025, 4, 1), date(2025, 6, 29)) == []
    with pytest.raises(InvalidInput, match="swap the two dates"):
        Quarter.of_span(date(2025, 6, 30), date(2025, 4, 1))


def test_quarter_ordinals_of_dates_match_the_quarters_containing_them():
    days = [date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 1), date(2024, 12, 31)]

    ordinals = quarter_ordinals(pd.Series(pd.to_datetime(days)))

    assert ordinals.tolist() == [Quarter.containing(day).ordinal for day in days]
    assert [Quarter.from_ordinal(o) for o in ordinals] == [
        Quarter(2023, 4),
        Quarter(2023, 4),
        Quarter(2024, 1),
        Quarter(2024, 3),
    ]


# --- the change test -----------------------------------------------------------------------------


def test_30_against_15_is_more_than_chance():
    found = compare_counts(30, 15)

    assert found.p_value == pytest.approx(0.035698, abs=1e-6)
    assert found.significant
    assert (found.change, found.change_pct) == (15, 100.0)
    assert found.describe() == "up 15 (+100%), more than chance (p = 0.036)"
    assert not compare_counts(30, 15, alpha=0.01).significant


def test_5_against_0_has_p_of_two_halves_to_the_fifth_by_hand():
    # all 5 of 5 fall in the current period: P = 0.5**5 each tail, two-sided 2 * 0.5**5
    found = compare_counts(5, 0)

    assert found.p_value == pytest.approx(2 * 0.5**5)
    assert found.change_pct is None
    assert not found.significant
    assert found.describe() == "up 5 from 0, not significant (p = 0.062)"
    assert compare_counts(0, 5).describe() == "down 5 (-100%), not significant (p = 0.062)"


def test_3_against_1_by_hand():
    # Binomial(4, 1/2) probabilities 1, 4, 6, 4, 1 (/16); those no likelier than 3 sum to 10/16
    assert compare_counts(3, 1).p_value == pytest.approx(10 / 16)


def test_equal_counts_are_no_change_and_nothing_at_all_is_not_significant():
    same = compare_counts(10, 10)
    nothing = compare_counts(0, 0)

    assert same.p_value == 1.0
    assert same.describe() == "no change"
    assert (nothing.p_value, nothing.significant, nothing.change_pct) == (1.0, False, None)
    assert nothing.describe() == "no change"


def test_a_small_fall_is_described_in_words_as_not_significant():
    found = compare_counts(72, 75)

    assert found.p_value == pytest.approx(binomtest(72, 147, 0.5).pvalue)
    assert found.describe() == f"down 3 (-4%), not significant (p = {found.p_value:.2f})"
    # under 1% the per cent keeps a decimal rather than print "-0%"
    assert compare_counts(1540, 1544).describe().startswith("down 4 (-0.3%), not significant")


def test_unequal_exposure_moves_the_null_proportion_to_r_over_1_plus_r():
    # r = 2: p0 = 2/3. Binomial(4, 2/3) probabilities 1, 8, 24, 32, 16 (/81); 4 of 4 has 16/81 and
    # the outcomes no likelier are 0, 1 and 4: (1 + 8 + 16) / 81
    assert compare_counts(4, 0, exposure_ratio=2.0).p_value == pytest.approx(25 / 81)
    # 20 against 10 is just what a period twice as long should show
    assert compare_counts(20, 10, exposure_ratio=2.0).p_value == pytest.approx(1.0)
    assert compare_counts(20, 10).p_value == pytest.approx(binomtest(20, 30, 0.5).pvalue)
    assert compare_counts(20, 10).p_value < 0.1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"current": -1, "baseline": 3}, "current count must be a whole number, 0 or more"),
        ({"current": 1, "baseline": 2.5}, "baseline count must be a whole number"),
        ({"current": 1, "baseline": 2, "alpha": 0}, "alpha must be between 0 and 1"),
        (
            {"current": 1, "baseline": 2, "exposure_ratio": 0.0},
            "exposure_ratio must be a positive number",
        ),
    ],
)
def test_compare_counts_refuses_what_it_cannot_test(arguments, message):
    with pytest.raises(InvalidInput, match=message):
        compare_counts(**arguments)


# --- headline figures ----------------------------------------------------------------------------


def incident_rows(
    day,
    category,
    count,
    *,
    knife=False,
    gun=False,
    domestic=False,
    under_25=None,
    precision="day",
    ward="E05000001",
):
    return [
        {
            "occurred_on": pd.Timestamp(day),
            "category": category,
            "knife": knife,
            "gun": gun,
            "domestic_abuse": domestic,
            "under_25": under_25,
            "date_precision": precision,
            "ward_code": ward,
        }
    ] * count


def as_incidents(*groups):
    frame = pd.DataFrame([row for group in groups for row in group])
    frame["occurred_on"] = frame["occurred_on"].astype("datetime64[s]")
    frame["category"] = frame["category"].astype("category")
    frame["under_25"] = frame["under_25"].astype("boolean")
    frame["ward_code"] = frame["ward_code"].astype("category")
    return frame


def headline_incidents():
    """Eight quarters ending 2025/26 Q1 (April-June 2025), with exact counts in each.

    this quarter            2025/26 Q1  Apr-Jun 2025
    previous quarter        2024/25 Q4  Jan-Mar 2025
    same quarter last year  2024/25 Q1  Apr-Jun 2024  (no victim age recorded at all)
    rolling 12 months       Jul 2024 - Jun 2025 (365 days)
    previous 12 months      Jul 2023 - Jun 2024 (366 days: 29 February 2024)
    """
    return as_incidents(
        # this quarter: serious 12, knife 3, gun 2, domestic 4, sexual 5, robbery 2, under-25 4
        incident_rows("2025-04-01", "abh", 3, knife=True, under_25=True),
        incident_rows("2025-06-30", "robbery", 2, gun=True, under_25=False),
        incident_rows("2025-05-15", "rape", 4, domestic=True),
        incident_rows("2025-05-15", "sexual_assault", 1, under_25=True),
        incident_rows("2025-05-20", "weapons_possession", 5, knife=True),  # not serious violence
        incident_rows("2025-05-01", "violence_and_sexual", 2, precision="month"),
        # previous quarter: serious 7, knife 6, robbery 1, under-25 1
        incident_rows("2025-03-31", "gbh", 6, knife=True, under_25=False),
        incident_rows("2025-01-01", "robbery", 1, under_25=True),
        # 2024/25 Q3 and Q2
        incident_rows("2024-12-31", "homicide", 5, knife=True, under_25=False),
        incident_rows("2024-07-01", "robbery", 2, under_25=True),
        # same quarter last year: serious 20, with no victim age
        incident_rows("2024-04-10", "abh", 20),
        # 2023/24 Q4 (the leap day), Q3 (nothing) and Q2
        incident_rows("2024-02-29", "threats_to_kill", 4, gun=True, under_25=True),
        incident_rows("2023-07-01", "abh", 3, under_25=False),
        # outside the eight quarters: ignored
        incident_rows("2023-06-30", "abh", 100, knife=True, under_25=True),
        incident_rows("2025-07-01", "abh", 50, knife=True, under_25=True),
    )


EXPECTED_COUNTS = {  # this, previous, same last year, rolling 12, previous 12
    "serious_violence": [12, 7, 20, 26, 27],
    "knife": [3, 6, 0, 14, 0],
    "gun": [2, 0, 0, 2, 4],
    "domestic_abuse": [4, 0, 0, 4, 0],
    "sexual_offences": [5, 0, 0, 5, 0],
    "robbery": [2, 1, 0, 5, 0],
    "under_25": [4, 1, None, 7, None],
}


def test_the_measures_are_serious_violence_and_its_parts_in_order():
    assert list(MEASURES) == list(EXPECTED_COUNTS)
    assert MEASURES["under_25"].needs_age
    assert not MEASURES["knife"].needs_age
    categories = serious_violence_categories(TAXONOMY)
    assert "weapons_possession" not in categories
    assert {"abh", "robbery", "rape", "violence_and_sexual"} <= categories


def test_headline_table_counts_every_measure_in_every_period_exactly():
    table = headline_table(headline_incidents(), Quarter(2025, 1), TAXONOMY)

    assert table.columns.tolist() == headline_columns()
    assert table["measure"].tolist() == list(EXPECTED_COUNTS)
    for _, row in table.iterrows():
        counts = [None if pd.isna(row[c]) else int(row[c]) for c in PERIOD_COLUMNS]
        assert counts == EXPECTED_COUNTS[row["measure"]], row["measure"]


def test_headline_changes_are_tested_on_rates_over_each_periods_days():
    table = headline_table(headline_incidents(), Quarter(2025, 1), TAXONOMY).set_index("measure")
    serious = table.loc["serious_violence"]

    assert serious["vs_previous_quarter_change"] == 5
    assert serious["vs_previous_quarter_pct"] == pytest.approx(100 * 5 / 7)
    # April-June has 91 days, January-March 2025 has 90
    assert serious["vs_previous_quarter_p"] == pytest.approx(
        binomtest(12, 19, (91 / 90) / (1 + 91 / 90)).pvalue
    )
    assert serious["vs_same_quarter_last_year_change"] == -8
    assert serious["vs_same_quarter_last_year_p"] == pytest.approx(binomtest(12, 32, 0.5).pvalue)
    assert serious["vs_same_quarter_last_year_words"] == (
        f"down 8 (-40%), not significant (p = {serious['vs_same_quarter_last_year_p']:.2f})"
    )
    # the rolling year has 365 days, the one before it 366 (29 February 2024)
    assert serious["rolling_vs_previous_12_months_p"] == pytest.approx(
        binomtest(26, 53, (365 / 366) / (1 + 365 / 366)).pvalue
    )
    knife = table.loc["knife"]
    assert knife["rolling_vs_previous_12_months_words"].startswith("up 14 from 0, more than chance")
    assert knife["rolling_vs_previous_12_months_significant"]
    assert pd.isna(knife["rolling_vs_previous_12_months_pct"])


def test_under_25_victims_count_only_where_age_is_recorded_and_say_so():
    table = headline_table(headline_incidents(), Quarter(2025, 1), TAXONOMY).set_index("measure")
    young = table.loc["under_25"]

    # this quarter: age recorded for 3 ABH + 2 robbery + 1 sexual assault of 12 serious incidents
    assert young["age_recorded_share"] == pytest.approx(0.5)
    assert "Victim age is recorded for 50% of this quarter's serious violence" in young["note"]
    # the same quarter last year recorded no age at all: not 0 victims, not compared
    assert pd.isna(young["same_quarter_last_year"])
    assert young["vs_same_quarter_last_year_words"] == "not compared"
    assert pd.isna(young["vs_same_quarter_last_year_p"])
    assert young["vs_previous_quarter_change"] == 3
    assert pd.isna(table.loc["knife", "age_recorded_share"])


def test_headline_notes_name_what_police_uk_does_not_record():
    table = headline_table(headline_incidents(), Quarter(2025, 1), TAXONOMY).set_index("measure")

    assert "'Violence and sexual offences'" in table.loc["sexual_offences", "note"]
    assert "month-only dates" in table.loc["knife", "note"]
    assert table.loc["robbery", "note"] == ""


def test_a_quarter_with_no_victim_age_at_all_says_police_uk_records_none():
    incidents = as_incidents(
        incident_rows("2025-05-01", "violence_and_sexual", 30, precision="month")
    )

    young = (
        headline_table(incidents, Quarter(2025, 1), TAXONOMY).set_index("measure").loc["under_25"]
    )

    assert pd.isna(young["this_quarter"])
    assert young["age_recorded_share"] == 0
    assert "No victim age is recorded" in young["note"]
    assert "police.uk records none" in young["note"]


def test_no_incidents_at_all_are_zeros_and_no_change_rather_than_an_error():
    columns = {"occurred_on": "datetime64[s]", "category": "category", "knife": bool, "gun": bool,
               "domestic_abuse": bool, "under_25": "boolean"}  # fmt: skip
    empty = pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in columns.items()})

    table = headline_table(empty, Quarter(2025, 1), TAXONOMY)

    assert table[list(PERIOD_COLUMNS)].to_numpy().tolist() == [[0] * 5] * len(MEASURES)
    assert set(table["vs_previous_quarter_words"]) == {"no change"}
    assert (table["vs_previous_quarter_p"] == 1.0).all()


def test_periods_the_data_does_not_cover_are_left_out_rather_than_counted_as_zero():
    table = headline_table(
        headline_incidents(),
        Quarter(2025, 1),
        TAXONOMY,
        data_span=(date(2024, 4, 1), date(2025, 6, 30)),
    ).set_index("measure")
    serious = table.loc["serious_violence"]

    assert serious["rolling_12_months"] == 26
    assert pd.isna(serious["previous_12_months"])
    assert serious["rolling_vs_previous_12_months_words"] == "not compared"
    assert serious["same_quarter_last_year"] == 20
    assert "does not cover 2023/24 Q2, 2023/24 Q3, 2023/24 Q4" in serious["note"]


def test_period_labels_name_the_quarters_and_the_12_month_windows():
    assert period_labels(Quarter(2025, 1)) == {
        "this_quarter": "2025/26 Q1",
        "previous_quarter": "2024/25 Q4",
        "same_quarter_last_year": "2024/25 Q1",
        "rolling_12_months": "12 months to June 2025",
        "previous_12_months": "12 months to June 2024",
    }


# --- small numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (0, 0),
        (1, "<10"),
        (9, "<10"),
        (10, 10),
        (12, 10),
        (13, 15),
        (15, 15),
        (17, 15),
        (18, 20),
        (22, 20),
        (23, 25),
        (np.int64(13), 15),
    ],
)
def test_suppress_hides_1_to_9_and_rounds_the_rest_to_5_halves_up(count, shown):
    assert suppress(count, threshold=10, base=5) == shown


def test_suppress_takes_another_threshold_and_base():
    assert suppress(4, threshold=5, base=10) == "<5"
    assert suppress(5, threshold=5, base=10) == 10
    assert suppress(14, threshold=5, base=10) == 10


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((-1,), "whole counts, 0 or more"),
        ((2.5,), "whole counts, 0 or more"),
        ((5, 0), "threshold must be a whole number, 1 or more"),
        ((5, 10, 0), "rounding base must be a whole number, 1 or more"),
    ],
)
def test_suppress_refuses_what_is_not_a_count(arguments, message):
    with pytest.raises(InvalidInput, match=message):
        suppress(*arguments)


def test_suppress_table_returns_text_and_counts_the_hidden_cells_leaving_the_input_alone():
    frame = pd.DataFrame(
        {"ward": ["A", "B", "C", "D"], "count": pd.array([0, 9, 12, None], dtype="Int64")}
    )

    shown, suppressed_cells = suppress_table(frame, ["count"])

    assert shown["count"].tolist()[:3] == ["0", "<10", "10"]
    assert pd.isna(shown["count"].iloc[3])
    assert suppressed_cells == 1
    assert frame["count"].tolist()[:3] == [0, 9, 12]
    assert shown["ward"].tolist() == ["A", "B", "C", "D"]


def test_suppress_headline_blanks_changes_against_hidden_counts_and_rounds_the_rest():
    table = headline_table(headline_incidents(), Quarter(2025, 1), TAXONOMY)

    shown, suppressed_cells = suppress_headline(table, threshold=10, base=5)
    serious = shown.set_index("measure").loc["serious_violence"]
    knife = shown.set_index("measure").loc["knife"]

    assert [serious[c] for c in PERIOD_COLUMNS] == ["10", "<10", "20", "25", "25"]
    # 12 against 7: the 7 is hidden, so its change would give it away
    assert pd.isna(serious["vs_previous_quarter_change"])
    assert pd.isna(serious["vs_previous_quarter_pct"])
    assert pd.isna(serious["vs_previous_quarter_significant"])
    assert serious["vs_previous_quarter_words"] == "suppressed (a count under 10)"
    # 12 against 20 shown as 10 against 20: the change is from the shown counts, not -8 (-40%)
    assert serious["vs_same_quarter_last_year_change"] == -10
    assert serious["vs_same_quarter_last_year_pct"] == pytest.approx(-50.0)
    assert serious["vs_same_quarter_last_year_words"] == "down 10 (-50%), not significant"
    assert serious["rolling_vs_previous_12_months_words"] == "no change"
    assert knife["rolling_vs_previous_12_months_words"] == "up 15 from 0, more than chance"
    assert knife["vs_same_quarter_last_year_words"] == "suppressed (a count under 10)"
    # no p-value survives: an exact p would identify the true counts behind the rounded ones
    for prefix in (
        "vs_previous_quarter",
        "vs_same_quarter_last_year",
        "rolling_vs_previous_12_months",
    ):
        assert shown[f"{prefix}_p"].isna().all()
    # counts shown as "<10": 7; 3, 6; 2, 2, 4; 4, 4; 5, 5; 2, 1, 5; 4, 1, 7
    assert suppressed_cells == 16
    assert (shown[list(PERIOD_COLUMNS)] == "<10").sum().sum() == 16
    # the table given is left as it was
    assert table.loc[0, "this_quarter"] == 12


def test_no_true_small_count_survives_anywhere_in_the_suppressed_headline():
    table = headline_table(headline_incidents(), Quarter(2025, 1), TAXONOMY)

    shown, _ = suppress_headline(table)
    under_25 = shown.set_index("measure").loc["under_25"]

    assert under_25["vs_previous_quarter_words"] == "suppressed (a count under 10)"
    assert "4" not in under_25["this_quarter"]
    assert "up 3" not in " ".join(shown["vs_previous_quarter_words"])


# --- rates per 1,000 residents -------------------------------------------------------------------


def test_rates_by_ward_count_the_quarter_per_1000_residents():
    wards = pd.DataFrame(
        {
            "code": ["E05000001", "E05000002", "E05000003", "E05000004"],
            "name": ["Alpha", "Bravo", "Charlie", "Delta"],
            "population": pd.array([2000, None, 0, 500], dtype="Int64"),
        }
    )
    incidents = as_incidents(
        incident_rows("2025-07-01", "abh", 3, ward="E05000001"),
        incident_rows("2025-09-30", "robbery", 2, ward="E05000002"),
        incident_rows("2025-08-01", "gbh", 1, ward="E05000003"),
        incident_rows("2025-08-01", "rape", 1, ward="E05000004"),
        incident_rows("2025-08-01", "weapons_possession", 4, ward="E05000004"),  # not serious
        incident_rows("2025-06-30", "abh", 7, ward="E05000004"),  # the quarter before
        incident_rows("2025-08-01", "abh", 9, ward="E05000099"),  # a ward of another boundary set
    )

    rates = rates_by_ward(incidents, wards, Quarter(2025, 2), TAXONOMY)

    assert rates.columns.tolist() == ["code", "name", "population", "count", "rate_per_1000"]
    assert rates["count"].tolist() == [3, 2, 1, 1]
    assert rates["rate_per_1000"].tolist()[0] == pytest.approx(1.5)
    assert rates["rate_per_1000"].tolist()[3] == pytest.approx(2.0)
    assert np.isnan(rates["rate_per_1000"].iloc[1])  # no population
    assert np.isnan(rates["rate_per_1000"].iloc[2])  # population 0
    robbery = rates_by_ward(incidents, wards, Quarter(2025, 2), TAXONOMY, measure="robbery")
    assert robbery["count"].tolist() == [0, 2, 0, 0]
    with pytest.raises(InvalidInput, match="No measure 'burglary'; choose one of serious_violence"):
        rates_by_ward(incidents, wards, Quarter(2025, 2), TAXONOMY, measure="burglary")


def test_rate_classes_are_quantiles_and_the_label_says_so():
    rates = pd.Series([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10, np.nan])

    found = rate_classes(rates, k=5)

    assert found.label == "quantiles, 5 classes, per 1,000 residents"
    assert found.breaks == pytest.approx((1.0, 2.8, 4.6, 6.4, 8.2, 10.0))
    assert found.classes.tolist()[:10] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert pd.isna(found.classes.iloc[10])
    assert found.legend[0] == f"1.0{EN}2.8"
    assert len(found.legend) == 5


def test_tied_rates_give_fewer_classes_and_the_label_says_why():
    found = rate_classes(pd.Series([1.0, 1.0, 1.0, 1.0, 2.0]), k=4)

    assert (
        found.label
        == "quantiles, 1 class, per 1,000 residents (4 asked for; tied rates share a class)"
    )
    assert found.classes.tolist() == [1, 1, 1, 1, 1]


def test_rate_classes_without_any_rate_have_no_classes():
    found = rate_classes(pd.Series([np.nan, np.nan]))

    assert found.breaks == ()
    assert found.classes.isna().all()
    assert "no ward has a population" in found.label
    with pytest.raises(InvalidInput, match="number of classes must be a whole number"):
        rate_classes(pd.Series([1.0]), k=0)


# --- against the demo store ----------------------------------------------------------------------


def test_the_store_gives_the_gun_flag_and_the_headline_matches_a_count_in_sql(demo_db_url):
    engine = make_engine(demo_db_url)
    first, last = queries.incident_span(engine, Role.ANALYST)
    quarter = Quarter.of_span(first, last)[-1]
    incidents = queries.incidents(
        engine, queries.IncidentFilter(quarter.shifted(-7).start, quarter.end), Role.ANALYST
    )
    with session_scope(engine) as session:
        guns_in_sql = session.scalar(
            select(func.count())
            .select_from(Incident)
            .where(
                Incident.gun.is_(True),
                Incident.occurred_on.between(quarter.shifted(-7).start, quarter.end),
            )
        )
        serious_in_sql = session.scalar(
            select(func.count())
            .select_from(Incident)
            .where(
                Incident.category.in_(serious_violence_categories(TAXONOMY)),
                Incident.occurred_on.between(quarter.start, quarter.end),
            )
        )

    table = headline_table(incidents, quarter, TAXONOMY, data_span=(first, last))

    assert incidents["gun"].dtype == bool
    assert int(incidents["gun"].sum()) == guns_in_sql > 0
    serious = table.set_index("measure").loc["serious_violence"]
    assert serious["this_quarter"] == serious_in_sql > 0
    assert table["vs_same_quarter_last_year_words"].ne("not compared").all()
