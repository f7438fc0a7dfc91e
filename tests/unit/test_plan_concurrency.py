"""Twenty people edit the same action at once on the real SQLite store: no edit is lost.

Each writer is its own process with its own connection, as app sessions on a server are. Every
writer appends its own tag to the action's description, sending the version it read; a conflict
makes it read again and re-apply, as the page asks a person to. If any write overwrote another,
a tag would be missing from the final description.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from dashboard import plans
from dashboard.errors import EditConflict
from dashboard.store.models import Action, ActionUpdate, Plan
from dashboard.store.session import make_engine, session_scope
from dashboard.users import principal_for_email

WRITERS = 20
EDITS_EACH = 5
MAX_ATTEMPTS = 1_000  # a writer that never gets through would be a defect of its own


def _read(engine, action_id: int) -> tuple[int, str]:
    with session_scope(engine) as session:
        action = session.get(Action, action_id)
        return action.version, action.description


def _writer(database_url: str, action_id: int, writer: int, start) -> dict[str, int]:
    engine = make_engine(database_url)
    actor = principal_for_email(engine, "demo-cso@example.org")
    counts = {"written": 0, "conflicts": 0, "locked": 0}
    start.wait()  # every writer starts at the same moment
    for edit in range(EDITS_EACH):
        for _attempt in range(MAX_ATTEMPTS):
            version, description = _read(engine, action_id)
            try:
                plans.update_action(
                    engine,
                    actor,
                    action_id,
                    version,
                    {"description": f"{description} [w{writer:02d}e{edit}]"},
                )
            except EditConflict:
                counts["conflicts"] += 1
                continue
            except OperationalError:  # "database is locked" would reach the user
                counts["locked"] += 1
                continue
            counts["written"] += 1
            break
    engine.dispose()
    return counts


def test_twenty_concurrent_writers_lose_no_update_and_never_see_a_locked_database(demo_db_url):
    engine = make_engine(demo_db_url)
    with session_scope(engine) as session:
        plan_id = session.scalar(select(func.min(Plan.id)))
    actor = principal_for_email(engine, "demo-cso@example.org")
    action_id = plans.add_action(
        engine,
        actor,
        plan_id,
        plans.ActionDraft("Shared action", 2, "Metropolitan Police", date(2027, 1, 8)),
    )

    context = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing shared
    with context.Manager() as manager, ProcessPoolExecutor(WRITERS, mp_context=context) as pool:
        start = manager.Barrier(WRITERS)
        results = list(
            pool.map(
                _writer,
                [demo_db_url] * WRITERS,
                [action_id] * WRITERS,
                range(WRITERS),
                [start] * WRITERS,
            )
        )

    version, description = _read(engine, action_id)
    tags = [f"[w{w:02d}e{e}]" for w in range(WRITERS) for e in range(EDITS_EACH)]
    missing = [tag for tag in tags if tag not in description]
    with session_scope(engine) as session:
        trail = session.scalar(
            select(func.count())
            .select_from(ActionUpdate)
            .where(ActionUpdate.action_id == action_id)
        )
    assert sum(r["written"] for r in results) == WRITERS * EDITS_EACH
    assert missing == []  # 0 lost updates
    assert sum(description.count(tag) for tag in tags) == WRITERS * EDITS_EACH  # none applied twice
    assert sum(r["locked"] for r in results) == 0  # 0 "database is locked" errors
    assert version == 1 + WRITERS * EDITS_EACH
    assert trail == 1 + WRITERS * EDITS_EACH  # "created" plus one update per edit
    # contention was real: most writers had to re-apply at least once
    assert sum(r["conflicts"] for r in results) >= WRITERS
