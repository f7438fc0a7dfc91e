"""Fast bulk inserts for imports: the driver's executemany, inside the caller's transaction.

SQLAlchemy's ORM bulk insert manages about 10k rows a second here and splits batches by which
columns are NULL; passing plain tuples to the driver is several times faster, and it still runs
in the session's transaction, so an import stays all or nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Table
from sqlalchemy.orm import Session


def _plain(value: object, sqlite: bool) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if sqlite and isinstance(value, datetime):
        return value.isoformat(sep=" ")  # the text SQLAlchemy stores for a DateTime
    if sqlite and isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # a numpy scalar
        return value.item()
    return value


def insert_rows(session: Session, table: Table, records: Sequence[dict[str, object]]) -> int:
    """Insert ``records`` (column -> value, every one with the same keys); returns the count."""
    if not records:
        return 0
    columns = list(records[0])
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    statement = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join([marker] * len(columns))})"
    )
    rows = [tuple(_plain(record[column], sqlite) for column in columns) for record in records]
    connection.exec_driver_sql(statement, rows)
    return len(rows)
