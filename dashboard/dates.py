"""The borough's calendar: "today" is London's today, whatever the server's time zone."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def today_in_london() -> date:
    """Today's date in London."""
    return datetime.now(LONDON).date()


def now_in_london() -> datetime:
    """London wall-clock time to the second, without a zone, as audit trails store it."""
    return datetime.now(LONDON).replace(tzinfo=None, microsecond=0)


def short_date(day: date) -> str:
    """A date as the pages and maps show it: "5 Dec 2026"."""
    return f"{day.day} {day:%b %Y}"


def month_end(day: date) -> date:
    """The last day of ``day``'s month."""
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - timedelta(days=1)


def whole_months_window(first: date, last: date, months: int = 12) -> tuple[date, date]:
    """The last ``months`` whole calendar months of data from ``first`` to ``last``.

    Whole months, because police.uk dates every crime to the first of its month: a window of
    days would cut a month in two.
    """
    end = month_end(last)
    start_month = (end.year * 12 + end.month - 1) - (months - 1)
    start = date(start_month // 12, start_month % 12 + 1, 1)
    return max(start, first.replace(day=1)), end
