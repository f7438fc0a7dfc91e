"""Which borough's internal data a person may see, in a store that can hold all of London.

A deployment has a home borough (``BOROUGH_CODE``). Each user belongs to one borough (their own
``borough_code``, or the home borough when none is set) and sees only its internal data, unless
an administrator gave them London-wide access; then they may look at any borough in the store,
or at all of London at once. Every read of internal data is scoped by the borough this module
allows, on the server: a page cannot ask for a borough its user may not see.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from dashboard.access import Principal
from dashboard.errors import NotAllowed

# the shape of an ONS local authority code (E09000032), for a borough a person types: not only
# London's 33, as a store may hold others
ONS_BOROUGH_CODE = re.compile(r"E\d{8}", re.ASCII)
ALL_LONDON = "london"  # the scope of a London-wide view: every borough in the store

# ONS local authority codes of the 33 London boroughs (the City of London included), with the
# names ONS publishes; codes outside London still work, shown by their code
LONDON_BOROUGHS: dict[str, str] = {
    "E09000001": "City of London",
    "E09000002": "Barking and Dagenham",
    "E09000003": "Barnet",
    "E09000004": "Bexley",
    "E09000005": "Brent",
    "E09000006": "Bromley",
    "E09000007": "Camden",
    "E09000008": "Croydon",
    "E09000009": "Ealing",
    "E09000010": "Enfield",
    "E09000011": "Greenwich",
    "E09000012": "Hackney",
    "E09000013": "Hammersmith and Fulham",
    "E09000014": "Haringey",
    "E09000015": "Harrow",
    "E09000016": "Havering",
    "E09000017": "Hillingdon",
    "E09000018": "Hounslow",
    "E09000019": "Islington",
    "E09000020": "Kensington and Chelsea",
    "E09000021": "Kingston upon Thames",
    "E09000022": "Lambeth",
    "E09000023": "Lewisham",
    "E09000024": "Merton",
    "E09000025": "Newham",
    "E09000026": "Redbridge",
    "E09000027": "Richmond upon Thames",
    "E09000028": "Southwark",
    "E09000029": "Sutton",
    "E09000030": "Tower Hamlets",
    "E09000031": "Waltham Forest",
    "E09000032": "Wandsworth",
    "E09000033": "Westminster",
}


def borough_name(code: str) -> str:
    """The borough's name, or its code when it is not a London borough."""
    if code == ALL_LONDON:
        return "All of London"
    return LONDON_BOROUGHS.get(code, code)


def own_borough(principal: Principal, home_borough: str) -> str:
    """The borough ``principal`` belongs to: their own, or the deployment's home borough."""
    return principal.borough_code or home_borough


def visible_boroughs(principal: Principal, home_borough: str, stored: Iterable[str]) -> list[str]:
    """The boroughs whose internal data ``principal`` may see, their own first.

    ``stored`` are the boroughs the store holds. London-wide access adds every one of them and
    ``ALL_LONDON`` (all at once) at the end, when the store holds any but their own.
    """
    own = own_borough(principal, home_borough)
    if not principal.london_wide:
        return [own]
    others = sorted(set(stored) - {own}, key=borough_name)
    return [own, *others, ALL_LONDON] if set(stored) - {own} else [own]


def require_borough(
    principal: Principal, home_borough: str, stored: Iterable[str], scope: str
) -> None:
    """Raise NotAllowed unless ``principal`` may see the internal data of ``scope``."""
    if scope not in visible_boroughs(principal, home_borough, stored):
        raise NotAllowed(
            f"You see {borough_name(own_borough(principal, home_borough))}'s data only; "
            f"{borough_name(scope)} needs London-wide access, which an administrator can give."
        )


def may_act_in(actor: Principal, borough_code: str | None) -> bool:
    """True when ``actor`` may see and change internal records of ``borough_code``.

    An actor of no borough (the operator at the terminal) and a record of no borough (kept from
    before the store held boroughs) are not restricted; reads leave the latter out of a single
    borough's view anyway.
    """
    return (
        actor.london_wide
        or actor.borough_code is None
        or borough_code is None
        or actor.borough_code == borough_code
    )


def require_borough_access(actor: Principal, borough_code: str | None) -> None:
    """Raise NotAllowed unless ``actor`` may change records of ``borough_code``."""
    if not may_act_in(actor, borough_code):
        raise NotAllowed(
            f"That belongs to {borough_name(borough_code or '')}; you work on "
            f"{borough_name(actor.borough_code or '')}'s data only"
        )


def scope_codes(scope: str, stored: Iterable[str]) -> tuple[str, ...]:
    """The borough codes a scope covers: one borough, or every stored one for ``ALL_LONDON``."""
    return tuple(sorted(stored)) if scope == ALL_LONDON else (scope,)
