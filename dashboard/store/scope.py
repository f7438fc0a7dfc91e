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


def covers_every_borough(bind: Engine | Connection | Session, boroughs: Boroughs) -> bool:
    """True when ``boroughs`` asks for every borough the store holds (None: its only one).

    Raises NotAllowed when ``boroughs`` is None and the store holds several boroughs, or when it
    is empty.
    """
    stored = stored_boroughs(bind)
    if boroughs is None:
        if len(stored) > 1:
            raise NotAllowed(
                "This store holds several boroughs; the read must say whose data it shows"
            )
        return True
    if not boroughs:
        raise NotAllowed("No borough was chosen, so there is nothing to show")
    return bool(stored) and set(stored) <= set(boroughs)


def in_boroughs(
    bind: Engine | Connection | Session, column: ColumnElement, boroughs: Boroughs
) -> ColumnElement[bool]:
    """The condition keeping rows whose ``column`` (a borough code) is one of ``boroughs``.

    Raises as ``covers_every_borough``. Asking for every stored borough adds no condition, so a
    London-wide read uses the same indexes as before boroughs existed.
    """
    if covers_every_borough(bind, boroughs):
        return true()
    return column.in_(sorted(set(boroughs or ())))
