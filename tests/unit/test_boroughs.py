"""Who sees which borough: their own, or any (and all London at once) with London-wide access."""

from __future__ import annotations

import pytest

from dashboard.access import Principal, Role
from dashboard.boroughs import (
    ALL_LONDON,
    LONDON_BOROUGHS,
    borough_name,
    require_borough,
    scope_codes,
    visible_boroughs,
)
from dashboard.errors import NotAllowed

HOME = "E09000032"  # Wandsworth
LAMBETH = "E09000022"
MERTON = "E09000024"
STORED = [HOME, LAMBETH, MERTON]


def person(borough: str | None = None, london_wide: bool = False) -> Principal:
    return Principal(
        1, "a@example.org", "A", Role.ANALYST, borough_code=borough, london_wide=london_wide
    )


def test_there_are_33_london_boroughs_with_their_ons_codes():
    assert len(LONDON_BOROUGHS) == 33
    assert all(code.startswith("E09") and len(code) == 9 for code in LONDON_BOROUGHS)
    assert borough_name(HOME) == "Wandsworth"
    assert borough_name("E06000001") == "E06000001"  # outside London: the code
    assert borough_name(ALL_LONDON) == "All of London"


def test_a_user_sees_only_their_own_borough_or_the_home_one():
    assert visible_boroughs(person(), HOME, STORED) == [HOME]
    assert visible_boroughs(person(LAMBETH), HOME, STORED) == [LAMBETH]


def test_london_wide_access_adds_every_stored_borough_and_all_of_london():
    assert visible_boroughs(person(LAMBETH, london_wide=True), HOME, STORED) == [
        LAMBETH,
        MERTON,
        HOME,
        ALL_LONDON,
    ]


def test_another_borough_is_refused_on_the_server():
    require_borough(person(), HOME, STORED, HOME)
    with pytest.raises(NotAllowed, match="Wandsworth's data only; Lambeth needs London-wide"):
        require_borough(person(), HOME, STORED, LAMBETH)
    with pytest.raises(NotAllowed, match="All of London needs London-wide"):
        require_borough(person(), HOME, STORED, ALL_LONDON)
    require_borough(person(london_wide=True), HOME, STORED, ALL_LONDON)


def test_a_scope_names_the_boroughs_it_covers():
    assert scope_codes(LAMBETH, STORED) == (LAMBETH,)
    assert scope_codes(ALL_LONDON, STORED) == tuple(sorted(STORED))
