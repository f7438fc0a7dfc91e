"""Twenty people edit the same action at once on the real SQLite store: no edit is lost.

Each writer is its own process with its own connection, as app sessions on several servers
would be (``concurrent_action_writer.py``). Every writer appends its own tag to the action's
description, sending the version it read; a conflict makes it read again and re-apply, as the
page asks a person to. If any write overwrote another, a tag would be missing at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

from sqlalchemy import func, select

from dashboard import PROJECT_ROOT, plans
from dashboard.store.models import Action, ActionUpdate, Plan
from dashboard.store.session import make_engine, session_scope
from dashboard.users import principal_for_email

WRITERS = 20
EDITS_EACH = 5


def test_twenty_concurrent_writers_lose_no_update_and_never_see_a_locked_database(
    demo_db_url, tmp_path
):
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
    start = tmp_path / "start"
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.unit.concurrent_action_writer",
                demo_db_url,
                str(action_id),
                str(writer),
                str(EDITS_EACH),
                str(start),
            ],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for writer in range(WRITERS)
    ]
    start.touch()  # every writer is waiting for this: they all start at once
    results = []
    for process in writers:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))

    with session_scope(engine) as session:
        action = session.get(Action, action_id)
        version, description = action.version, action.description
        trail = session.scalar(
            select(func.count())
            .select_from(ActionUpdate)
            .where(ActionUpdate.action_id == action_id)
        )
    tags = [f"[w{w:02d}e{e}]" for w in range(WRITERS) for e in range(EDITS_EACH)]
    assert sum(r["written"] for r in results) == WRITERS * EDITS_EACH
    assert [tag for tag in tags if tag not in description] == []  # 0 lost updates
    assert sum(description.count(tag) for tag in tags) == WRITERS * EDITS_EACH  # none twice
    assert sum(r["locked"] for r in results) == 0  # 0 "database is locked" errors
    assert version == 1 + WRITERS * EDITS_EACH
    assert trail == 1 + WRITERS * EDITS_EACH  # "created" plus one update per edit
    # contention was real: the writers had to re-apply many times between them
    assert sum(r["conflicts"] for r in results) >= WRITERS
