"""The borough's calendar: "today" is London's today, whatever the server's time zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def today_in_london() -> date:
    """Today's date in London."""
    return datetime.now(LONDON).date()
