"""Which boroughs' rows a read returns, in a store that may hold several (a London-wide one).

Incidents, plans (and so their actions), CSOs (and so their assignments and patrols) and assets
carry their borough's ONS code. Every read of them takes ``boroughs``: the codes its caller may
see, which ``dashboard.boroughs`` works out from the signed-in user on the server. ``None`` is
the store's only borough; in a store holding several it is refused rather than read as "all",
so a read that forgot to say whose data it wants fails loudly instead of showing another
borough's incidents or plans.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Connection, Engine, select, true
from sqlalchemy.orm import Session

from dashboard.errors import NotAllowed
from dashboard.store.models import Ward

Boroughs = Sequence[str] | None  # ONS codes; None: the store's only borough


def stored_boroughs(bind: Engine | Connection | Session) -> list[str]:
    """The boroughs whose wards the store holds, by ONS code, sorted."""
    query = select(Ward.borough_code).distinct().order_by(Ward.borough_code)
    if isinstance(bind, Engine):
        with bind.connect() as connection:
            return list(connection.scalars(query))
    return list(bind.scalars(query))


def borough_restriction(
    bind: Engine | Connection | Session, boroughs: Boroughs
) -> tuple[str, ...] | None:
    """The codes a read must keep to, or None when ``boroughs`` is every borough the store holds.

    Asking for every stored borough (None: the store's only one) restricts nothing, so a
    London-wide read uses the same indexes as before boroughs existed. Raises NotAllowed when
    ``boroughs`` is None and the store holds several boroughs, or when it is empty.
    """
    stored = stored_boroughs(bind)
    if boroughs is None:
        if len(stored) > 1:
            raise NotAllowed(
                "This store holds several boroughs; the read must say whose data it shows"
            )
        return None
    if not boroughs:
        raise NotAllowed("No borough was chosen, so there is nothing to show")
    if stored and set(stored) <= set(boroughs):
        return None
    return tuple(sorted(set(boroughs)))


def in_boroughs(
    bind: Engine | Connection | Session, column: ColumnElement, boroughs: Boroughs
) -> ColumnElement[bool]:
    """The condition keeping rows whose ``column`` (a borough code) is one of ``boroughs``.

    Raises as ``borough_restriction``. A read that keeps several tables to the same boroughs
    asks ``borough_restriction`` once and applies it with ``restricted_to`` (one query, not one
    per table).
    """
    return restricted_to(column, borough_restriction(bind, boroughs))


def restricted_to(
    column: ColumnElement, restriction: tuple[str, ...] | None
) -> ColumnElement[bool]:
    """``column`` kept to ``restriction`` (``borough_restriction``'s answer); None keeps all."""
    return true() if restriction is None else column.in_(restriction)
