"""The action plan's progress by VRU theme as it stood on a day, with a RAG status by stated rules.

The Delivery Group reads a quarter after it has ended, so the figures are those of the quarter's
last day: actions entered later are left out, and changes made later are undone from the
append-only update trails (``plans.update_trails``). Pure functions over frames.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd

from dashboard.frames import require_columns
from dashboard.plans import FLAG_OVERDUE, VRU_THEMES, action_flag
from dashboard.store.models import ActionStatus

RAG_RED, RAG_AMBER, RAG_GREEN, RAG_NONE = "Red", "Amber", "Green", "No actions"
STARTING_SOON_DAYS = 30
RAG_RULES = (
    f"{RAG_RED}: an action of the theme is overdue, or more than a quarter of its open actions "
    "are at risk.",
    f"{RAG_AMBER}: an action is at risk, or an open action due within {STARTING_SOON_DAYS} days "
    "has not started.",
    f"{RAG_GREEN}: every open action is on track or not yet due, and none is overdue.",
    f"{RAG_NONE}: no plan has an action under the theme yet.",
)
TRACKED_FIELDS = ("status", "due_on", "vru_theme", "owner_agency", "description")
PROGRESS_COLUMNS = [
    "vru_theme",
    "theme",
    "actions",
    "done",
    "on_track",
    "not_started",
    "at_risk",
    "overdue",
    "dropped",
    "rag",
    "why",
]
_OPEN = {str(s) for s in (ActionStatus.NOT_STARTED, ActionStatus.ON_TRACK, ActionStatus.AT_RISK)}


def _day(value: object) -> date:
    return pd.Timestamp(value).date()


def actions_as_of(actions: pd.DataFrame, updates: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """The actions as they stood at the end of ``as_of``, with their ``flag`` on that day.

    ``actions`` is ``plans.actions()`` (the current state); ``updates`` the action trail from
    ``plans.update_trails`` (``action_id``, ``id``, ``changed_at``, ``changes`` JSON). An action
    whose "created" entry is after ``as_of`` is left out; every later change to a tracked field
    (``TRACKED_FIELDS``) is undone, newest first, back to its old value. An action without a
    trail is taken as it is now.
    """
    require_columns(actions, ("action_id", *TRACKED_FIELDS), "actions")
    require_columns(updates, ("action_id", "id", "changed_at", "changes"), "updates")
    rows = actions.set_index("action_id", drop=False)
    records = {int(key): dict(row) for key, row in rows.iterrows()}
    later = updates[pd.to_datetime(updates["changed_at"]).dt.date > as_of]
    for update in later.sort_values("id", ascending=False).itertuples(index=False):
        record = records.get(int(update.action_id))
        if record is None:
            continue
        changes = json.loads(update.changes)
        if "created" in changes:
            records.pop(int(update.action_id))  # entered after the day: not in the plan yet
            continue
        for name, (old, _new) in changes.items():
            if name in TRACKED_FIELDS:
                record[name] = date.fromisoformat(old) if name == "due_on" and old else old
    frame = pd.DataFrame(list(records.values()), columns=actions.columns)
    if frame.empty:
        return frame.assign(flag=pd.Series(dtype=object))
    frame["vru_theme"] = frame["vru_theme"].astype(int)
    frame["theme"] = frame["vru_theme"].map(VRU_THEMES)
    frame["status"] = frame["status"].map(lambda value: str(getattr(value, "value", value)))
    frame["flag"] = [
        action_flag(ActionStatus(status), _day(due), as_of)
        for status, due in zip(frame["status"], frame["due_on"], strict=True)
    ]
    return frame.reset_index(drop=True)


def _rag(counts: dict[str, int], starting_soon: int) -> tuple[str, str]:
    open_count = counts["not_started"] + counts["on_track"] + counts["at_risk"] + counts["overdue"]
    if not counts["actions"]:
        return RAG_NONE, "no actions"
    if counts["overdue"]:
        return RAG_RED, f"{counts['overdue']} overdue"
    if open_count and counts["at_risk"] * 4 > open_count:
        return RAG_RED, f"{counts['at_risk']} of {open_count} open actions at risk"
    if counts["at_risk"]:
        return RAG_AMBER, f"{counts['at_risk']} at risk"
    if starting_soon:
        return RAG_AMBER, f"{starting_soon} due within {STARTING_SOON_DAYS} days, not started"
    if open_count:
        return RAG_GREEN, f"{open_count} open, all on track or not yet due"
    return RAG_GREEN, "all done or dropped"


def theme_progress(actions_on_day: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Per VRU theme (all eight, in order): counts by state and a RAG status with its reason.

    ``actions_on_day`` is ``actions_as_of(..., as_of)``. An overdue action counts as overdue
    only (not also as not started or on track); ``RAG_RULES`` say how the colour is chosen.
    """
    require_columns(actions_on_day, ("vru_theme", "status", "flag", "due_on"), "actions_on_day")
    rows = []
    for theme, name in VRU_THEMES.items():
        mine = actions_on_day[actions_on_day["vru_theme"] == theme]
        overdue = mine["flag"] == FLAG_OVERDUE
        status = mine["status"].astype(str)
        counts = {
            "actions": len(mine),
            "done": int((status == str(ActionStatus.DONE)).sum()),
            "on_track": int(((status == str(ActionStatus.ON_TRACK)) & ~overdue).sum()),
            "not_started": int(((status == str(ActionStatus.NOT_STARTED)) & ~overdue).sum()),
            "at_risk": int(((status == str(ActionStatus.AT_RISK)) & ~overdue).sum()),
            "overdue": int(overdue.sum()),
            "dropped": int((status == str(ActionStatus.DROPPED)).sum()),
        }
        soon = as_of + timedelta(days=STARTING_SOON_DAYS)
        starting_soon = int(
            (
                (status == str(ActionStatus.NOT_STARTED))
                & ~overdue
                & (pd.to_datetime(mine["due_on"]).dt.date <= soon)
            ).sum()
        )
        rag, why = _rag(counts, starting_soon)
        rows.append({"vru_theme": theme, "theme": name, **counts, "rag": rag, "why": why})
    return pd.DataFrame(rows, columns=PROGRESS_COLUMNS)


def open_actions_due(actions_on_day: pd.DataFrame, first: date, last: date) -> pd.DataFrame:
    """Open actions due from ``first`` to ``last`` inclusive (e.g. next quarter), soonest first."""
    require_columns(actions_on_day, ("status", "due_on", "action_id"), "actions_on_day")
    due = pd.to_datetime(actions_on_day["due_on"]).dt.date
    chosen = actions_on_day[
        actions_on_day["status"].astype(str).isin(_OPEN) & (due >= first) & (due <= last)
    ]
    return chosen.sort_values(["due_on", "action_id"]).reset_index(drop=True)


def plans_opened_and_closed(
    plans_frame: pd.DataFrame, plan_updates: pd.DataFrame, first: date, last: date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Plans that started from ``first`` to ``last``, and plans closed in that time.

    A plan counts as closed on the day its status was last changed to closed (from the trail,
    ``plans.update_trails``), and only if it is still closed.
    """
    require_columns(plans_frame, ("plan_id", "title", "status", "started_on"), "plans_frame")
    require_columns(plan_updates, ("plan_id", "changed_at", "changes"), "plan_updates")
    started = pd.to_datetime(plans_frame["started_on"]).dt.date
    opened = plans_frame[(started >= first) & (started <= last)]
    closed_on: dict[int, date] = {}
    for update in plan_updates.itertuples(index=False):
        change = json.loads(update.changes).get("status")
        if change and change[1] == "closed":
            closed_on[int(update.plan_id)] = _day(update.changed_at)
    still_closed = plans_frame[plans_frame["status"].astype(str) == "closed"]
    when = still_closed["plan_id"].map(closed_on)
    closed = still_closed.assign(closed_on=when)
    closed = closed[closed["closed_on"].notna()]
    closed = closed[[first <= day <= last for day in closed["closed_on"]]]
    return opened.reset_index(drop=True), closed.reset_index(drop=True)
