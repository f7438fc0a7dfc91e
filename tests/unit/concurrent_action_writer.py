"""One of the writers of ``test_plan_concurrency``, run as its own process.

``python -m tests.unit.concurrent_action_writer DATABASE_URL ACTION_ID WRITER EDITS START_FILE``
waits for START_FILE to appear (so every writer starts at once), then appends its tags to the
action's description, re-reading and re-applying after each conflict as a person would. It
prints its counts as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from sqlalchemy.exc import OperationalError

from dashboard import plans
from dashboard.errors import EditConflict
from dashboard.store.models import Action
from dashboard.store.session import make_engine, session_scope
from dashboard.users import principal_for_email

MAX_ATTEMPTS = 1_000  # a writer that never gets through would be a defect of its own
START_WAIT_S = 120


def main(database_url: str, action_id: int, writer: int, edits: int, start_file: Path) -> None:
    engine = make_engine(database_url)
    actor = principal_for_email(engine, "demo-cso@example.org")
    counts = {"written": 0, "conflicts": 0, "locked": 0}
    deadline = time.monotonic() + START_WAIT_S
    while not start_file.exists() and time.monotonic() < deadline:
        time.sleep(0.005)  # a start line: polling a file is the simplest barrier across processes
    for edit in range(edits):
        for _attempt in range(MAX_ATTEMPTS):
            with session_scope(engine) as session:
                action = session.get(Action, action_id)
                version, description = action.version, action.description
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
    sys.stdout.write(json.dumps(counts) + "\n")


if __name__ == "__main__":
    url, action, writer_number, edit_count, start = sys.argv[1:6]
    main(url, int(action), int(writer_number), int(edit_count), Path(start))
