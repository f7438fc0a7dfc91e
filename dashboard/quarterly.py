"""The Delivery Group's quarterly figures: financial quarters, headlines, small numbers, rates.

Pure functions on plain pandas frames shaped like ``dashboard.store.queries.incidents`` returns;
no Streamlit and no store here, so the page, the PDF pack and the CLI all count the same way.

* Quarters are those of the UK financial year: Q1 = April-June, Q2 = July-September,
  Q3 = October-December, Q4 = January-March of the next calendar year ("2025/26 Q4" is
  January-March 2026).
* Changes are tested with the conditional binomial test of two Poisson counts (Przyborowski &
  Wilenski 1940): "more than chance" or, said plainly, "not significant".
* Small numbers are suppressed as ONS does (counts under 10 shown as "<10", others rounded to the
  nearest 5) for the partner role and in the quarterly pack, unless an analyst turns suppression
  off for an internal pack. The functions here only do the suppressing; who sees what is decided
  by the caller from the user's role.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from dashboard.errors import InvalidInput
from dashboard.frames import require_columns
from dashboard.taxonomy import Taxonomy

logger = logging.getLogger(__name__)

EN_DASH = "\N{EN DASH}"
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
FIRST_YEAR, LAST_YEAR = 1, 9998  # Q4 of LAST_YEAR/.. ends in 9999, the last year `date` knows

# "2025/26 Q2", "2025/26-Q2", "2025-26 Q2", "FY2025/26 Q2", "2025/2026 Q2" (any case)
_QUARTER_TEXT = re.compile(
    r"(?:FY\s*)?(?P<first>\d{4})\s*[/-]\s*(?P<second>\d{4}|\d{2})\s*-?\s*Q\s*(?P<number>\d+)",
    re.IGNORECASE,
)
_QUARTER_FORM_HINT = (
    f"write it like 2025/26 Q2: the financial year, then Q1 to Q4 (Q1 is April{EN_DASH}June)"
)


@dataclass(frozen=True, order=True)
class Quarter:
    """A quarter of the UK financial year, which starts on 1 April.

    Parameters
    ----------
    year
        The calendar year the financial year starts in: 2025 for 2025/26.
    number
        1 to 4. Q1 = April-June, Q2 = July-September, Q3 = October-December,
        Q4 = January-March of ``year + 1``.

    Raises
    ------
    InvalidInput
        The number is not 1-4, or the year is outside 1-9998.
    """

    year: int
    number: int

    def __post_init__(self) -> None:
        if isinstance(self.number, bool) or self.number not in (1, 2, 3, 4):
            raise InvalidInput(
                f"A financial year has quarters 1 to 4, not {self.number!r}; "
                f"Q1 is April{EN_DASH}June and Q4 is January{EN_DASH}March"
            )
        if isinstance(self.year, bool) or not FIRST_YEAR <= self.year <= LAST_YEAR:
            raise InvalidInput(
                f"The financial year must start in a year from {FIRST_YEAR} to {LAST_YEAR}, "
                f"not {self.year!r}; give the year it starts in (2025 for 2025/26)"
            )

    def __str__(self) -> str:
        return self.label

    # --- dates ---------------------------------------------------------------------------------

    @property
    def start(self) -> date:
        """The quarter's first day (1 April, 1 July, 1 October or 1 January)."""
        month = 3 * self.number + 1  # 4, 7, 10, 13: month 13 is January of the next year
        return date(self.year + (month - 1) // 12, (month - 1) % 12 + 1, 1)

    @property
    def end(self) -> date:
        """The quarter's last day, inclusive (30 June, 30 September, 31 December or 31 March)."""
        months_later = self.start.month + 3
        following = date(self.start.year + (months_later - 1) // 12, (months_later - 1) % 12 + 1, 1)
        return following - timedelta(days=1)

    @property
    def days(self) -> int:
        """How many days the quarter has (90 to 92)."""
        return (self.end - self.start).days + 1

    @property
    def ordinal(self) -> int:
        """A running number, one per quarter: consecutive quarters differ by 1."""
        return self.year * 4 + self.number - 1

    @classmethod
    def from_ordinal(cls, ordinal: int) -> Quarter:
        """The quarter whose ``ordinal`` this is."""
        return cls(ordinal // 4, ordinal % 4 + 1)

    # --- words ---------------------------------------------------------------------------------

    @property
    def financial_year_label(self) -> str:
        """The financial year as written in council papers: "2025/26" (2099/00 after 2099/98)."""
        return f"{self.year}/{(self.year + 1) % 100:02d}"

    @property
    def label(self) -> str:
        """The quarter as the page and the pack show it: "2025/26 Q2"."""
        return f"{self.financial_year_label} Q{self.number}"

    @property
    def months_label(self) -> str:
        """Its months, with an en dash: "July-September 2025"; Q4 "January-March 2026"."""
        first, last = self.start, self.end
        return f"{MONTH_NAMES[first.month - 1]}{EN_DASH}{MONTH_NAMES[last.month - 1]} {last.year}"

    # --- neighbours ----------------------------------------------------------------------------

    def shifted(self, quarters: int) -> Quarter:
        """The quarter ``quarters`` later (earlier when negative)."""
        return Quarter.from_ordinal(self.ordinal + quarters)

    def previous(self) -> Quarter:
        """The quarter before: the one before Q1 is the previous financial year's Q4."""
        return self.shifted(-1)

    def next(self) -> Quarter:
        """The quarter after: the one after Q4 is the next financial year's Q1."""
        return self.shifted(1)

    def same_quarter_last_year(self) -> Quarter:
        """The same quarter of the previous financial year."""
        return self.shifted(-4)

    def rolling_12_months_window(self) -> tuple[date, date]:
        """First and last day (inclusive) of the four quarters ending with this one."""
        return self.shifted(-3).start, self.end

    # --- finding quarters ----------------------------------------------------------------------

    @classmethod
    def containing(cls, day: date) -> Quarter:
        """The quarter ``day`` falls in: 31 March 2025 is in 2024/25 Q4, 1 April in 2025/26 Q1."""
        if day.month >= 4:
            return cls(day.year, (day.month - 4) // 3 + 1)
        return cls(day.year - 1, 4)

    @classmethod
    def last_complete(cls, today: date) -> Quarter:
        """The latest quarter that ended before ``today`` (a quarter's last day is not complete)."""
        # the quarter containing today ends on or after today, so the one before it is the answer
        return cls.containing(today).previous()

    @classmethod
    def parse(cls, text: str) -> Quarter:
        """Read a quarter as people write it.

        Accepts "2025/26 Q2", "2025/26-Q2", "2025-26 Q2", "FY2025/26 Q2" and "2025/2026 Q2",
        in any case. Raises InvalidInput, saying what to write instead, for anything else,
        including a second year that is not the year after the first ("2025/27 Q2").
        """
        if not isinstance(text, str):
            raise InvalidInput(
                f"A quarter must be given as text, not {text!r}; {_QUARTER_FORM_HINT}"
            )
        found = _QUARTER_TEXT.fullmatch(text.strip())
        if found is None:
            raise InvalidInput(f"{text!r} is not a financial quarter; {_QUARTER_FORM_HINT}")
        first, second, number = (int(found[name]) for name in ("first", "second", "number"))
        expected = first + 1 if len(found["second"]) == 4 else (first + 1) % 100
        if second != expected:
            raise InvalidInput(
                f"In {text!r} the second year must be the year after {first}; for the financial "
                f"year that starts in April {first} write {first}/{(first + 1) % 100:02d} "
                f"Q{number}"
            )
        if number not in (1, 2, 3, 4):
            raise InvalidInput(
                f"{text!r} names quarter {number}, but a financial year has Q1 to Q4 "
                f"(Q1 is April{EN_DASH}June, Q4 is January{EN_DASH}March)"
            )
        return cls(first, number)

    @classmethod
    def of_span(cls, first_day: date, last_day: date) -> list[Quarter]:
        """The complete quarters inside ``first_day`` to ``last_day`` (inclusive), oldest first.

        For quarters data covers, give the data's first and last day. police.uk dates every crime
        to the 1st of its month, so pass the end of the last month (``dates.month_end``) as
        ``last_day``, or its last quarter looks incomplete. Empty when no quarter fits. Raises
        InvalidInput when ``last_day`` is before ``first_day``.
        """
        if last_day < first_day:
            raise InvalidInput(
                f"The span ends ({last_day}) before it starts ({first_day}); swap the two dates"
            )
        first = cls.containing(first_day)
        if first.start != first_day:
            first = first.next()
        last = cls.containing(last_day)
        if last.end != last_day:
            last = last.previous()
        return [] if last < first else quarters_between(first, last)


def quarters_between(first: Quarter, last: Quarter) -> list[Quarter]:
    """Every quarter from ``first`` to ``last``, both included, oldest first.

    Raises InvalidInput when ``last`` comes before ``first``.
    """
    if last < first:
        raise InvalidInput(f"{last.label} comes before {first.label}; swap the two quarters")
    return [Quarter.from_ordinal(ordinal) for ordinal in range(first.ordinal, last.ordinal + 1)]


def quarter_ordinals(days: pd.Series) -> np.ndarray:
    """``Quarter.ordinal`` of each date in ``days`` (datetime64), as int64; -1 where missing."""
    years = days.dt.year.to_numpy(dtype=float, na_value=np.nan)
    months = days.dt.month.to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(years)
    years, months = np.nan_to_num(years).astype(np.int64), np.nan_to_num(months).astype(np.int64)
    financial_years = years - (months < 4)
    numbers = ((months - 4) % 12) // 3  # 0-based: April-June is 0, January-March is 3
    return np.where(missing, -1, financial_years * 4 + numbers)


# --- the change test ---------------------------------------------------------------------------


def format_p(p_value: float) -> str:
    """A p-value as the page prints it: "p < 0.001", "p = 0.036" below 0.1, else "p = 0.71"."""
    if p_value < 0.001:
        return "p < 0.001"
    if p_value < 0.1:
        return f"p = {p_value:.3f}"
    return f"p = {p_value:.2f}"


def change_words(
    change: int, change_pct: float | None, significant: bool, p_value: float | None = None
) -> str:
    """Plain words for a change: "up 12 (+15%), more than chance (p = 0.030)".

    ``change_pct`` None means the baseline was 0 ("up 5 from 0"). Without ``p_value`` the words
    stop after the verdict (as the suppressed tables print them).
    """
    p_text = "" if p_value is None else f" ({format_p(p_value)})"
    if change == 0:
        if not significant:
            return "no change"
        return f"no change in the count, but more than chance for the periods' lengths{p_text}"
    direction = "up" if change > 0 else "down"
    size = f"{direction} {abs(change):,}"
    if change_pct is None:
        size += " from 0"
    else:  # a whole per cent, unless that would print a real change as "-0%"
        size += f" ({change_pct:+.{0 if abs(change_pct) >= 1 else 1}f}%)"
    verdict = "more than chance" if significant else "not significant"
    return f"{size}, {verdict}{p_text}"


@dataclass(frozen=True)
class Comparison:
    """Two counts compared: how much one changed from the other, and whether that is chance.

    ``change_pct`` is None when the baseline is 0 (no percentage of nothing). ``exposure_ratio``
    is the current period's length over the baseline's.
    """

    current: int
    baseline: int
    change: int
    change_pct: float | None
    p_value: float
    significant: bool
    alpha: float = 0.05
    exposure_ratio: float = 1.0

    def describe(self) -> str:
        """Plain words: "up 12 (+15%), more than chance (p = 0.030)", "no change", ..."""
        return change_words(self.change, self.change_pct, self.significant, self.p_value)


def compare_counts(
    current: int, baseline: int, alpha: float = 0.05, exposure_ratio: float = 1.0
) -> Comparison:
    """Compare a count with a baseline count, testing whether the change is more than chance.

    The test is the conditional binomial test of two Poisson counts (Przyborowski & Wilenski
    1940): given the total n = current + baseline, the current count is Binomial(n, p0) when
    both periods share one underlying rate, with p0 = r / (1 + r) for exposure ratio r (0.5 for
    periods of equal length). The p-value is the exact two-sided one of
    ``scipy.stats.binomtest``. With n = 0 there is nothing to test: p = 1.

    Parameters
    ----------
    current, baseline
        Counts of incidents (whole numbers, 0 or more).
    alpha
        The significance level: the change is "more than chance" when p < alpha.
    exposure_ratio
        Length of the current period over the baseline's (e.g. 92 days / 91 days).

    Returns
    -------
    Comparison
        The counts, the change in count and per cent, the p-value and the verdict.

    Raises
    ------
    InvalidInput
        A count is negative or not whole, alpha is not between 0 and 1, or the ratio is not a
        positive number.
    """
    for name, count in (("current", current), ("baseline", baseline)):
        if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0:
            raise InvalidInput(f"The {name} count must be a whole number, 0 or more, not {count!r}")
    if not 0 < alpha < 1:
        raise InvalidInput(f"alpha must be between 0 and 1 (0.05 is usual), not {alpha!r}")
    if not (math.isfinite(exposure_ratio) and exposure_ratio > 0):
        raise InvalidInput(
            f"exposure_ratio must be a positive number (current length / baseline length), "
            f"not {exposure_ratio!r}"
        )
    current, baseline = int(current), int(baseline)
    total = current + baseline
    if total == 0:
        p_value = 1.0
    else:
        p_null = exposure_ratio / (1.0 + exposure_ratio)
        p_value = float(min(1.0, binomtest(current, total, p_null).pvalue))
    change = current - baseline
    return Comparison(
        current=current,
        baseline=baseline,
        change=change,
        change_pct=None if baseline == 0 else 100.0 * change / baseline,
        p_value=p_value,
        significant=p_value < alpha,
        alpha=alpha,
        exposure_ratio=exposure_ratio,
    )


# --- headline figures --------------------------------------------------------------------------

SEXUAL_OFFENCE_CATEGORIES = ("rape", "assault_by_penetration", "sexual_assault")
ROBBERY_CATEGORY = "robbery"
# police.uk's "Violence and sexual offences" (see taxonomy.toml): violence it does not break down
UNBROKEN_VIOLENCE_CATEGORY = "violence_and_sexual"


def serious_violence_categories(taxonomy: Taxonomy) -> frozenset[str]:
    """Category keys the taxonomy counts as serious violence (``serious_violence = true``)."""
    return frozenset(key for key, found in taxonomy.categories.items() if found.serious_violence)


def is_serious_violence(incidents: pd.DataFrame, taxonomy: Taxonomy) -> np.ndarray:
    """Which incidents are serious violence by the taxonomy (a boolean array)."""
    serious = list(serious_violence_categories(taxonomy))
    return incidents["category"].isin(serious).to_numpy(dtype=bool)


def _flag(incidents: pd.DataFrame, column: str) -> np.ndarray:
    # under_25 is a nullable boolean: missing (age not recorded) is not "under 25"
    return incidents[column].astype("boolean").fillna(False).to_numpy(dtype=bool)


def _in_categories(incidents: pd.DataFrame, keys: Iterable[str]) -> np.ndarray:
    return incidents["category"].isin(list(keys)).to_numpy(dtype=bool)


@dataclass(frozen=True)
class Measure:
    """One headline figure: its label, what it counts, and how to pick its incidents.

    ``select(incidents, taxonomy)`` returns a boolean array, one value per incident.
    ``needs_age``: the measure exists only where the source records victim age.
    """

    label: str
    definition: str
    select: Callable[[pd.DataFrame, Taxonomy], np.ndarray]
    needs_age: bool = False


# Every measure is a part of serious violence: knife- and gun-enabled mean violence in which the
# weapon was used or threatened (as ONS counts them), so possession offences, which the taxonomy
# does not count as serious violence, are not knife-enabled here even though they carry the flag.
MEASURES: Mapping[str, Measure] = MappingProxyType(
    {
        "serious_violence": Measure(
            "Serious violence",
            "Every incident in a category the taxonomy counts as serious violence",
            is_serious_violence,
        ),
        "knife": Measure(
            "Knife-enabled",
            "Serious violence flagged knife-enabled (possession offences are not counted)",
            lambda incidents, taxonomy: (
                is_serious_violence(incidents, taxonomy) & _flag(incidents, "knife")
            ),
        ),
        "gun": Measure(
            "Gun-enabled",
            "Serious violence flagged gun-enabled (possession offences are not counted)",
            lambda incidents, taxonomy: (
                is_serious_violence(incidents, taxonomy) & _flag(incidents, "gun")
            ),
        ),
        "domestic_abuse": Measure(
            "Domestic abuse",
            "Serious violence flagged as domestic abuse",
            lambda incidents, taxonomy: (
                is_serious_violence(incidents, taxonomy) & _flag(incidents, "domestic_abuse")
            ),
        ),
        "sexual_offences": Measure(
            "Sexual offences",
            "Rape, assault by penetration and sexual assault",
            lambda incidents, taxonomy: _in_categories(incidents, SEXUAL_OFFENCE_CATEGORIES),
        ),
        "robbery": Measure(
            "Personal robbery",
            "Robbery of personal property",
            lambda incidents, taxonomy: _in_categories(incidents, [ROBBERY_CATEGORY]),
        ),
        "under_25": Measure(
            "Under-25 victims",
            "Serious violence against a victim under 25, where the victim's age is recorded",
            lambda incidents, taxonomy: (
                is_serious_violence(incidents, taxonomy) & _flag(incidents, "under_25")
            ),
            needs_age=True,
        ),
    }
)

PERIOD_COLUMNS = (
    "this_quarter",
    "previous_quarter",
    "same_quarter_last_year",
    "rolling_12_months",
    "previous_12_months",
)
# comparison prefix -> (current period column, baseline period column)
COMPARISONS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "vs_previous_quarter": ("this_quarter", "previous_quarter"),
        "vs_same_quarter_last_year": ("this_quarter", "same_quarter_last_year"),
        "rolling_vs_previous_12_months": ("rolling_12_months", "previous_12_months"),
    }
)
COMPARISON_FIELDS = ("change", "pct", "p", "significant", "words")
INCIDENT_COLUMNS = ("occurred_on", "category", "knife", "gun", "domestic_abuse", "under_25")
NOT_COMPARED = "not compared"


def headline_columns() -> list[str]:
    """The columns of ``headline_table``, in order."""
    comparison_columns = [
        f"{prefix}_{field}" for prefix in COMPARISONS for field in COMPARISON_FIELDS
    ]
    return [
        "measure",
        "label",
        *PERIOD_COLUMNS,
        *comparison_columns,
        "age_recorded_share",
        "note",
    ]


def period_labels(quarter: Quarter) -> dict[str, str]:
    """Headings for the period columns of ``headline_table``: "2025/26 Q2", "12 months to ..."."""
    last_year_end = quarter.same_quarter_last_year().end
    return {
        "this_quarter": quarter.label,
        "previous_quarter": quarter.previous().label,
        "same_quarter_last_year": quarter.same_quarter_last_year().label,
        "rolling_12_months": f"12 months to {MONTH_NAMES[quarter.end.month - 1]} "
        f"{quarter.end.year}",
        "previous_12_months": f"12 months to {MONTH_NAMES[last_year_end.month - 1]} "
        f"{last_year_end.year}",
    }


def _covers(data_span: tuple[date, date] | None, first: date, last: date) -> bool:
    return data_span is None or (data_span[0] <= first and last <= data_span[1])


def headline_table(
    incidents: pd.DataFrame,
    quarter: Quarter,
    taxonomy: Taxonomy,
    alpha: float = 0.05,
    data_span: tuple[date, date] | None = None,
) -> pd.DataFrame:
    """The headline figures for ``quarter``: one row per measure of ``MEASURES``, in its order.

    Incidents are counted by ``occurred_on``. police.uk gives the month only and its rows are
    dated the 1st of their month, which lies in the same quarter as every other day of that
    month, so month-only rows fall in the right quarter.

    Parameters
    ----------
    incidents
        As ``queries.incidents`` returns them: ``occurred_on`` (datetime64), ``category``,
        ``knife``, ``gun``, ``domestic_abuse`` (bool), ``under_25`` (nullable boolean: missing
        where no age is recorded) and, optionally, ``date_precision`` (for the notes). They
        should span the eight quarters ending with ``quarter``; other rows are ignored.
    quarter
        The quarter the Delivery Group is reading.
    taxonomy
        Says which categories are serious violence.
    alpha
        Significance level of the change tests (see ``compare_counts``). The table runs 21
        tests, so about one "more than chance" a year can be chance at 0.05: say so on the page.
    data_span
        First and last day the data covers (for police.uk, the end of its last month). A period
        it does not wholly cover gets no count and its comparisons are left out; None trusts
        that the data covers every period.

    Returns
    -------
    pd.DataFrame
        Columns of ``headline_columns()``: ``measure`` and ``label``; the counts (Int64, missing
        where the data does not cover the period, or, for under-25 victims, where no victim age
        is recorded in it) of ``PERIOD_COLUMNS``; for each of ``COMPARISONS`` its ``_change``
        (Int64), ``_pct`` (Float64, missing from a baseline of 0), ``_p`` (Float64),
        ``_significant`` (boolean) and ``_words`` (``Comparison.describe``); the
        ``age_recorded_share`` of this quarter's serious violence (under-25 row only) and a
        ``note`` on what limits the figure ("" when nothing does). Changes compare rates: each
        test allows for the periods' lengths in days.
    """
    require_columns(incidents, INCIDENT_COLUMNS, "incidents")
    window = [quarter.shifted(offset) for offset in range(-7, 1)]  # oldest first; [-1] is quarter
    first_ordinal = window[0].ordinal
    ordinals = quarter_ordinals(incidents["occurred_on"])
    in_window = (ordinals >= first_ordinal) & (ordinals <= quarter.ordinal)
    frame = incidents.loc[in_window]
    positions = ordinals[in_window] - first_ordinal

    def per_quarter(mask: np.ndarray) -> np.ndarray:
        return np.bincount(positions[mask], minlength=len(window))

    covered = np.array([_covers(data_span, q.start, q.end) for q in window])
    serious = is_serious_violence(frame, taxonomy)
    serious_counts = per_quarter(serious)
    age_counts = per_quarter(serious & frame["under_25"].astype("boolean").notna().to_numpy())
    this_serious, this_aged = int(serious_counts[-1]), int(age_counts[-1])
    age_share = this_aged / this_serious if this_serious else np.nan
    this_quarter_rows = positions == len(window) - 1
    unbroken = bool((_in_categories(frame, [UNBROKEN_VIOLENCE_CATEGORY]) & this_quarter_rows).any())
    month_only = bool(
        "date_precision" in frame.columns
        and ((frame["date_precision"].astype(object) == "month").to_numpy() & serious)[
            this_quarter_rows
        ].any()
    )
    uncovered = [q.label for q, ok in zip(window, covered, strict=True) if not ok]

    days = np.array([q.days for q in window])
    spans = {  # period column -> positions in ``window``
        "this_quarter": [7],
        "previous_quarter": [6],
        "same_quarter_last_year": [3],
        "rolling_12_months": [4, 5, 6, 7],
        "previous_12_months": [0, 1, 2, 3],
    }
    rows = []
    for key, measure in MEASURES.items():
        counts = per_quarter(measure.select(frame, taxonomy))
        # no age recorded for a quarter with serious violence: under-25 victims are unknown, not 0
        known = (
            covered & ((age_counts > 0) | (serious_counts == 0)) if measure.needs_age else covered
        )
        row: dict[str, object] = {"measure": key, "label": measure.label}
        for column, members in spans.items():
            row[column] = int(counts[members].sum()) if known[members].all() else pd.NA
        for prefix, (current_column, baseline_column) in COMPARISONS.items():
            current, baseline = row[current_column], row[baseline_column]
            if current is pd.NA or baseline is pd.NA:
                row.update(dict.fromkeys([f"{prefix}_{f}" for f in COMPARISON_FIELDS[:4]], pd.NA))
                row[f"{prefix}_words"] = NOT_COMPARED
                continue
            ratio = days[spans[current_column]].sum() / days[spans[baseline_column]].sum()
            found = compare_counts(current, baseline, alpha=alpha, exposure_ratio=float(ratio))
            row[f"{prefix}_change"] = found.change
            row[f"{prefix}_pct"] = pd.NA if found.change_pct is None else found.change_pct
            row[f"{prefix}_p"] = found.p_value
            row[f"{prefix}_significant"] = found.significant
            row[f"{prefix}_words"] = found.describe()
        row["age_recorded_share"] = age_share if measure.needs_age else np.nan
        row["note"] = _note(key, measure, uncovered, this_serious, age_share, unbroken, month_only)
        rows.append(row)
    table = pd.DataFrame(rows, columns=headline_columns())
    for column in (*PERIOD_COLUMNS, *(f"{prefix}_change" for prefix in COMPARISONS)):
        table[column] = table[column].astype("Int64")
    for prefix in COMPARISONS:
        table[f"{prefix}_pct"] = table[f"{prefix}_pct"].astype("Float64")
        table[f"{prefix}_p"] = table[f"{prefix}_p"].astype("Float64")
        table[f"{prefix}_significant"] = table[f"{prefix}_significant"].astype("boolean")
    table["age_recorded_share"] = table["age_recorded_share"].astype("Float64")
    return table


def _note(
    key: str,
    measure: Measure,
    uncovered: list[str],
    this_serious: int,
    age_share: float,
    unbroken: bool,
    month_only: bool,
) -> str:
    """What limits one headline figure, in words with no counts (so they survive suppression)."""
    notes = []
    if uncovered:
        notes.append(f"The data does not cover {', '.join(uncovered)}; those periods are left out")
    if measure.needs_age and this_serious:
        if age_share == 0:
            notes.append(
                "No victim age is recorded for this quarter's incidents (police.uk records none), "
                "so under-25 victims cannot be counted"
            )
        elif age_share < 1:
            notes.append(
                f"Victim age is recorded for {age_share:.0%} of this quarter's serious violence; "
                "the count covers those incidents only"
            )
    if key == "sexual_offences" and unbroken:
        notes.append(
            "Some incidents are recorded only as 'Violence and sexual offences' (police.uk does "
            "not break them down), so this undercounts"
        )
    if key in ("knife", "gun", "domestic_abuse") and month_only:
        notes.append(
            "Some incidents come from police.uk (month-only dates), which records no knife, gun "
            "or domestic-abuse flag, so this undercounts"
        )
    return "; ".join(notes)


# --- small numbers -----------------------------------------------------------------------------


def _check_suppression(threshold: int, base: int) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise InvalidInput(
            f"The suppression threshold must be a whole number, 1 or more (10 is "
            f"usual), not {threshold!r}"
        )
    if isinstance(base, bool) or not isinstance(base, int) or base < 1:
        raise InvalidInput(
            f"The rounding base must be a whole number, 1 or more (5 is usual), not {base!r}"
        )


def suppress(count: int, threshold: int = 10, base: int = 5) -> str | int:
    """A count as it may be shown outside the analysts' team (ONS small-number practice).

    0 stays 0 (there is nobody to identify); 1 to ``threshold - 1`` become "<10" (the threshold);
    ``threshold`` and above are rounded to the nearest ``base``, halves up (12 -> 10, 13 -> 15).
    Suppression applies for the partner role and in the quarterly pack unless an analyst turns
    it off for an internal pack. Raises InvalidInput for a negative or fractional count, or a
    threshold or base below 1.
    """
    _check_suppression(threshold, base)
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0:
        raise InvalidInput(f"Only whole counts, 0 or more, can be suppressed, not {count!r}")
    count = int(count)
    if count == 0:
        return 0
    if count < threshold:
        return f"<{threshold}"
    return (2 * count + base) // (2 * base) * base  # integer round half up: no float surprises


def _suppressed_text(value: object, threshold: int, base: int) -> object:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return pd.NA
    return str(suppress(int(value), threshold, base))


def suppress_table(
    frame: pd.DataFrame, columns: Iterable[str], threshold: int = 10, base: int = 5
) -> tuple[pd.DataFrame, int]:
    """A copy of ``frame`` with ``columns`` (counts) suppressed as ``suppress`` does, as text.

    Parameters
    ----------
    frame
        Any table of counts.
    columns
        The count columns to suppress; missing values stay missing.
    threshold, base
        As for ``suppress``.

    Returns
    -------
    tuple[pd.DataFrame, int]
        The copy (those columns as pandas strings: "0", "<10", "15") and how many cells show
        "<threshold", so the page can say where suppression applied.
    """
    _check_suppression(threshold, base)
    columns = list(columns)
    require_columns(frame, columns, "frame")
    shown = frame.copy()
    hidden = f"<{threshold}"
    suppressed_cells = 0
    for column in columns:
        text = [_suppressed_text(value, threshold, base) for value in frame[column]]
        shown[column] = pd.array(text, dtype="string")
        suppressed_cells += int((shown[column] == hidden).fillna(False).sum())
    return shown, suppressed_cells


def suppress_headline(
    table: pd.DataFrame, threshold: int = 10, base: int = 5
) -> tuple[pd.DataFrame, int]:
    """``headline_table`` as partners and the pack see it: small numbers suppressed.

    Counts are suppressed as ``suppress`` does. A change against a count shown as "<10" would
    give that count away, so such a comparison is blanked (change, per cent, p-value and verdict
    missing; words "suppressed (a count under 10)"). Other changes are recomputed from the
    rounded counts, because the true change or percentage beside rounded counts would give the
    true counts away; the p-value, which would too, is left out, and only the verdict, worked out
    on the true counts, remains ("up 10 (+50%), more than chance").

    Returns the suppressed copy and how many count cells show "<threshold" (every comparison that
    uses one of them is blanked as well). Used for the partner role and the pack unless an
    analyst turns suppression off.
    """
    require_columns(table, headline_columns(), "table")
    shown, suppressed_cells = suppress_table(table, PERIOD_COLUMNS, threshold, base)
    for prefix, (current_column, baseline_column) in COMPARISONS.items():
        for index in table.index:
            current, baseline = table.at[index, current_column], table.at[index, baseline_column]
            if current is pd.NA or baseline is pd.NA:
                continue  # already not compared
            current, baseline = int(current), int(baseline)
            if 0 < current < threshold or 0 < baseline < threshold:
                for field in COMPARISON_FIELDS[:4]:
                    shown.at[index, f"{prefix}_{field}"] = pd.NA
                shown.at[index, f"{prefix}_words"] = f"suppressed (a count under {threshold})"
                continue
            rounded_current, rounded_baseline = (
                int(suppress(current, threshold, base)),
                int(suppress(baseline, threshold, base)),
            )
            change = rounded_current - rounded_baseline
            pct = None if rounded_baseline == 0 else 100.0 * change / rounded_baseline
            significant = bool(table.at[index, f"{prefix}_significant"])
            shown.at[index, f"{prefix}_change"] = change
            shown.at[index, f"{prefix}_pct"] = pd.NA if pct is None else pct
            shown.at[index, f"{prefix}_p"] = pd.NA
            shown.at[index, f"{prefix}_words"] = change_words(change, pct, significant)
    return shown, suppressed_cells


# --- rates per 1,000 residents -----------------------------------------------------------------


def rates_by_ward(
    incidents: pd.DataFrame,
    wards: pd.DataFrame,
    quarter: Quarter,
    taxonomy: Taxonomy,
    measure: str = "serious_violence",
) -> pd.DataFrame:
    """Each ward's count of one measure in ``quarter`` and its rate per 1,000 residents.

    Parameters
    ----------
    incidents
        As for ``headline_table``, with ``ward_code``. Incidents with no ward, or a ward not in
        ``wards`` (an older boundary set), are not counted.
    wards
        ``code``, ``name``, ``population`` (may be missing), e.g. ``queries.current_wards``.
    quarter
        The quarter to count.
    taxonomy
        Says which categories are serious violence.
    measure
        A key of ``MEASURES``; serious violence unless told otherwise.

    Returns
    -------
    pd.DataFrame
        In the order of ``wards``: ``code``, ``name``, ``population`` (Int64), ``count`` (int)
        and ``rate_per_1000`` (float; NaN where the population is missing or 0).

    Raises
    ------
    InvalidInput
        ``measure`` is not a key of ``MEASURES``.
    """
    if measure not in MEASURES:
        raise InvalidInput(f"No measure {measure!r}; choose one of {', '.join(MEASURES)}")
    require_columns(incidents, (*INCIDENT_COLUMNS, "ward_code"), "incidents")
    require_columns(wards, ("code", "name", "population"), "wards")
    chosen = (quarter_ordinals(incidents["occurred_on"]) == quarter.ordinal) & MEASURES[
        measure
    ].select(incidents, taxonomy)
    counts = incidents.loc[chosen, "ward_code"].astype(object).value_counts()
    population = pd.array(wards["population"], dtype="Int64")
    table = pd.DataFrame(
        {
            "code": wards["code"].to_numpy(),
            "name": wards["name"].to_numpy(),
            "population": population,
            "count": [int(counts.get(code, 0)) for code in wards["code"]],
        }
    )
    residents = table["population"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = np.where(residents > 0, table["count"].to_numpy() / residents * 1000, np.nan)
    table["rate_per_1000"] = rates.astype(float)
    return table


@dataclass(frozen=True)
class RateClasses:
    """Ward rates put into classes for a choropleth, with a legend that says what they are.

    ``breaks`` are the class edges, lowest first (one more than there are classes); ``classes``
    holds each rate's class, 1 = lowest (Int64, missing where the rate is); ``legend`` one range
    per class; ``label`` the method, e.g. "quantiles, 5 classes, per 1,000 residents".
    """

    breaks: tuple[float, ...]
    classes: pd.Series
    legend: tuple[str, ...]
    label: str


def rate_classes(rates: pd.Series, k: int = 5) -> RateClasses:
    """Classify rates per 1,000 residents into ``k`` quantile classes (equal numbers of wards).

    Tied rates cannot be split, so fewer classes come back when quantiles coincide, and the
    label says so. Missing rates (no population) get no class. Raises InvalidInput when ``k`` is
    not a whole number of 1 or more.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInput(f"The number of classes must be a whole number, 1 or more, not {k!r}")
    values = pd.Series(rates, dtype="float64")
    known = values.dropna().to_numpy()
    if known.size == 0:
        return RateClasses(
            (),
            pd.Series(pd.NA, index=values.index, dtype="Int64"),
            (),
            "no classes: no ward has a population to give a rate",
        )
    breaks = np.unique(np.quantile(known, np.linspace(0.0, 1.0, k + 1)))
    if breaks.size == 1:  # every ward has the same rate: one class
        breaks = np.array([breaks[0], breaks[0]])
        classes = pd.Series(np.where(values.isna(), pd.NA, 1), index=values.index, dtype="Int64")
    else:
        cut = pd.cut(values, bins=breaks, include_lowest=True, labels=False)
        classes = (cut + 1).astype("Int64")
    count = breaks.size - 1
    label = f"quantiles, {count} class{'es' if count != 1 else ''}, per 1,000 residents"
    if count < k:
        label += f" ({k} asked for; tied rates share a class)"
    legend = tuple(f"{low:.1f}{EN_DASH}{high:.1f}" for low, high in itertools.pairwise(breaks))
    return RateClasses(tuple(float(edge) for edge in breaks), classes, legend, label)
