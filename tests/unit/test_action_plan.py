"""The action plan by VRU theme as it stood on a day: later changes undone, RAG rules, due lists."""

from __future__ import annotations

import json
from datetime import date, datetime

import pandas as pd
import pytest

from dashboard import plans
from dashboard.access import Role
from dashboard.action_plan import (
    RAG_AMBER,
    RAG_GREEN,
    RAG_NONE,
    RAG_RED,
    RAG_RULES,
    actions_as_of,
    open_actions_due,
    plans_opened_and_closed,
    theme_progress,
)
from dashboard.store.session import make_engine

DAY = date(2026, 9, 30)  # the end of 2026/27 Q2


def action(action_id: int, theme: int, status: str, due_on: str, **extra: object) -> dict:
    return {
        "action_id": action_id,
        "vru_theme": theme,
        "status": status,
        "due_on": date.fromisoformat(due_on),
        "owner_agency": "Council",
        "description": f"Action {action_id}",
        **extra,
    }


def trail(*entries: tuple[int, int, str, dict]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "action_id": action_id,
                "id": update_id,
                "changed_at": datetime.fromisoformat(at),
                "changes": json.dumps(changes),
            }
            for action_id, update_id, at, changes in entries
        ]
    )


def test_later_changes_are_undone_and_later_actions_left_out():
    now = pd.DataFrame(
        [
            action(1, 2, "done", "2026-10-15"),  # marked done in October, due date moved then
            action(2, 3, "on_track", "2026-12-01"),  # created in October
            action(3, 3, "at_risk", "2026-09-01"),  # untouched since before the day
        ]
    )
    updates = trail(
        (1, 1, "2026-06-01T09:00", {"created": [None, {}]}),
        (1, 4, "2026-10-02T10:00", {"due_on": ["2026-09-15", "2026-10-15"]}),
        (1, 5, "2026-10-20T10:00", {"status": ["at_risk", "done"]}),
        (2, 2, "2026-10-05T09:00", {"created": [None, {}]}),
        (3, 3, "2026-06-01T09:00", {"created": [None, {}]}),
    )

    then = actions_as_of(now, updates, DAY)

    assert then["action_id"].tolist() == [1, 3]
    first = then.iloc[0]
    assert (first["status"], first["due_on"]) == ("at_risk", date(2026, 9, 15))
    assert first["flag"] == "Overdue"  # at risk and past due on 30 Sep
    assert then.iloc[1]["flag"] == "Overdue"
    assert list(then["theme"]) == [plans.VRU_THEMES[2], plans.VRU_THEMES[3]]


def test_a_change_made_on_the_day_itself_counts():
    now = pd.DataFrame([action(1, 1, "done", "2026-10-01")])
    updates = trail((1, 7, "2026-09-30T17:45", {"status": ["on_track", "done"]}))

    assert actions_as_of(now, updates, DAY).iloc[0]["status"] == "done"


@pytest.mark.parametrize(
    ("rows", "rag", "why"),
    [
        ([], RAG_NONE, "no actions"),
        ([("on_track", "2026-08-01")], RAG_RED, "1 overdue"),
        (
            [("at_risk", "2026-12-01"), ("on_track", "2026-12-01"), ("on_track", "2026-12-01")],
            RAG_RED,
            "1 of 3 open actions at risk",
        ),
        (
            [("at_risk", "2026-12-01")] + [("on_track", "2026-12-01")] * 3,
            RAG_AMBER,
            "1 at risk",
        ),
        ([("not_started", "2026-10-20"), ("done", "2026-09-01")], RAG_AMBER, "1 due within"),
        ([("not_started", "2026-12-20"), ("on_track", "2026-11-01")], RAG_GREEN, "2 open"),
        ([("done", "2026-07-01"), ("dropped", "2026-07-01")], RAG_GREEN, "all done or dropped"),
    ],
)
def test_the_rag_rules(rows, rag, why):
    frame = pd.DataFrame(
        [action(index, 5, status, due) for index, (status, due) in enumerate(rows, start=1)],
        columns=["action_id", "vru_theme", "status", "due_on", "owner_agency", "description"],
    )
    frame["flag"] = [
        plans.action_flag(plans.ActionStatus(s), d, DAY)
        for s, d in zip(frame["status"], frame["due_on"], strict=True)
    ]

    progress = theme_progress(frame, DAY).set_index("vru_theme")

    assert progress.loc[5, "rag"] == rag
    assert why in progress.loc[5, "why"]
    assert progress.loc[5, "actions"] == len(rows)
    assert len(progress) == 8  # every theme, with or without actions
    assert (progress.drop(index=5)["rag"] == RAG_NONE).all()


def test_an_overdue_action_counts_once():
    frame = pd.DataFrame(
        [action(1, 2, "on_track", "2026-08-01"), action(2, 2, "done", "2026-08-01")]
    )
    frame["flag"] = ["Overdue", "Done"]

    row = theme_progress(frame, DAY).set_index("vru_theme").loc[2]

    assert (row["overdue"], row["on_track"], row["done"]) == (1, 0, 1)


def test_the_rules_name_every_colour():
    text = " ".join(RAG_RULES)
    for colour in (RAG_RED, RAG_AMBER, RAG_GREEN, RAG_NONE):
        assert colour in text


def test_open_actions_due_next_quarter_soonest_first():
    frame = pd.DataFrame(
        [
            action(1, 1, "on_track", "2026-12-31"),
            action(2, 1, "done", "2026-11-01"),  # done: not listed
            action(3, 1, "not_started", "2026-10-01"),
            action(4, 1, "at_risk", "2027-01-01"),  # the quarter after
        ]
    )

    due = open_actions_due(frame, date(2026, 10, 1), date(2026, 12, 31))

    assert due["action_id"].tolist() == [3, 1]


def test_plans_opened_and_closed_in_the_quarter():
    frame = pd.DataFrame(
        {
            "plan_id": [1, 2, 3, 4],
            "title": ["A", "B", "C", "D"],
            "status": ["open", "closed", "closed", "closed"],
            "started_on": [date(2026, 7, 1), date(2026, 1, 5), date(2026, 8, 1), date(2025, 1, 1)],
        }
    )
    updates = pd.DataFrame(
        {
            "plan_id": [2, 3, 4],
            "changed_at": [
                datetime.fromisoformat("2026-09-30T16:00"),
                datetime.fromisoformat("2026-10-01T09:00"),
                datetime.fromisoformat("2026-08-01T09:00"),
            ],
            "changes": [
                json.dumps({"status": ["open", "closed"], "outcome": [None, "Fewer fights"]}),
                json.dumps({"status": ["monitoring", "closed"]}),
                json.dumps({"status": ["open", "closed"]}),
            ],
        }
    )

    opened, closed = plans_opened_and_closed(frame, updates, date(2026, 7, 1), DAY)

    assert opened["title"].tolist() == ["A", "C"]
    assert closed["title"].tolist() == ["B", "D"]
    assert closed["closed_on"].tolist() == [date(2026, 9, 30), date(2026, 8, 1)]


def test_the_demo_plan_as_it_stood_at_the_end_of_a_quarter(demo_db_url: str):
    engine = make_engine(demo_db_url)
    today = date(2026, 11, 27)
    current = plans.actions(engine, Role.ANALYST, today)
    action_trail, plan_trail = plans.update_trails(engine, Role.ANALYST)

    then = actions_as_of(current, action_trail, DAY)
    progress = theme_progress(then, DAY)

    assert len(action_trail) == len(current)  # one "created" entry each in the demo
    # the demo's plans started from Oct 2025 to May 2026: all their actions existed by 30 Sep
    assert len(then) == len(current) == 23
    assert progress["actions"].sum() == 23
    assert set(progress["rag"]) <= {RAG_RED, RAG_AMBER, RAG_GREEN, RAG_NONE}
    assert not plan_trail.empty
