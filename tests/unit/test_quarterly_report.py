"""One quarter's report from the demo store: who sees small numbers, and what a report holds."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from dashboard import quarterly_report
from dashboard.access import Role
from dashboard.errors import NotAllowed
from dashboard.quarterly import Quarter
from dashboard.quarterly_report import build_report, must_suppress, read_inputs
from dashboard.store.session import make_engine

TODAY = date(2026, 11, 27)


@pytest.mark.parametrize(
    ("role", "page", "pack", "internal_pack"),
    [
        (Role.PARTNER, True, True, True),  # partners: always hidden, whatever they ask
        (Role.CSO, False, True, True),  # CSOs see exact figures, but cannot make internal packs
        (Role.ANALYST, False, True, False),
        (Role.ADMIN, False, True, False),
        (None, True, True, True),
    ],
)
def test_who_sees_small_numbers(role, page, pack, internal_pack):
    assert must_suppress(role, for_pack=False) is page
    assert must_suppress(role, for_pack=True) is pack
    assert must_suppress(role, for_pack=True, internal_pack=True) is internal_pack


@pytest.fixture(scope="module")
def inputs(demo_template_url):
    return read_inputs(make_engine(demo_template_url), Role.ANALYST, "E09000032", TODAY, True)


def test_reading_needs_a_role_that_sees_plans(demo_template_url):
    with pytest.raises(NotAllowed):
        read_inputs(make_engine(demo_template_url), None, "E09000032", TODAY, True)


def test_the_quarters_on_offer_and_the_default(inputs):
    available = quarterly_report.quarters_available(inputs)

    assert available[0] == Quarter(2026, 2)  # newest first
    assert available[-1] == Quarter(2023, 4)  # the demo starts 1 Nov 2023: Q3 is not complete
    assert quarterly_report.default_quarter(inputs, TODAY) == Quarter(2026, 2)
    # a day in the future beyond the data: the data's newest complete quarter
    assert quarterly_report.default_quarter(inputs, date(2030, 1, 1)) == Quarter(2026, 2)


def test_a_report_holds_every_section(inputs):
    report = build_report(inputs, Quarter(2026, 2), suppress=False)

    assert report.title == "2026/27 Q2 (July\N{EN DASH}September 2026)"
    assert len(report.headline) == 7
    assert len(report.wards) == 22
    assert report.wards["rate_per_1000"].notna().all()
    assert report.pattern_counts["persistent"] > 0
    assert set(report.hotspot_patterns["pattern"]) <= {
        "new",
        "intensifying",
        "persistent",
        "diminishing",
        "sporadic",
        "cooling",
    }
    assert len(report.monthly) == 36
    assert report.monthly["in_quarter"].sum() == 3
    assert report.monthly["month"].iloc[-1] == pd.Timestamp("2026-09-01")
    assert report.weekday_hour is not None
    assert report.weekday_hour.to_numpy().sum() == report.headline.iloc[0]["this_quarter"]
    assert len(report.themes) == 8
    assert report.notes == ()


def test_suppression_hides_small_counts_and_the_rates_that_would_reveal_them(inputs):
    # no demo ward has under 10 a quarter, so a higher threshold (it is configurable) shows it
    exact = build_report(inputs, Quarter(2026, 2), suppress=False)
    hidden = build_report(inputs, Quarter(2026, 2), suppress=True, threshold=30)

    small = exact.wards["count"] < 30
    assert 0 < small.sum() < len(small)
    assert (hidden.wards.loc[small.to_numpy(), "count"] == "<30").all()
    assert hidden.wards.loc[small.to_numpy(), "rate_per_1000"].isna().all()
    big = ~small.to_numpy()
    assert (hidden.wards.loc[big, "count"].astype(int) % 5 == 0).all()
    assert hidden.suppressed_cells > 0
    assert '"<30"' in hidden.notes[0]
    # a shown rate is the rounded count's: rate x residents gives back only the rounded count
    shown = hidden.wards.loc[big]
    back = shown["rate_per_1000"] * shown["population"].astype(float) / 1000
    assert (back.round(6) == shown["count"].astype(float)).all()


def test_the_rate_classes_come_from_the_rates_shown(inputs):
    hidden = build_report(inputs, Quarter(2026, 2), suppress=True, threshold=30)

    shown = hidden.wards["rate_per_1000"].dropna()
    assert hidden.rate_classes.breaks[0] == pytest.approx(shown.min())
    assert hidden.rate_classes.breaks[-1] == pytest.approx(shown.max())
    assert hidden.wards.loc[hidden.wards["rate_per_1000"].isna(), "rate_class"].isna().all()
