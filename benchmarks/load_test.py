"""Load test of the real app: simulated readers and editors on app processes sharing PostgreSQL.

    python benchmarks/load_test.py --database-url postgresql+psycopg://postgres@127.0.0.1:55432/postgres
        [--duration 300] [--readers 20] [--editors 5] [--processes 2] [--seed N] [--report FILE]

What it does, in order (issue 9, item 3):

1. Refuses a URL that is not PostgreSQL, or whose host is not 127.0.0.1: the load never leaves
   this machine.
2. Creates a fresh database ``csm_load_<pid>`` on that server and runs
   ``python -m dashboard prepare`` into it (schema, demo data). ``--keep`` keeps it afterwards.
3. Starts ``--processes`` ``streamlit run streamlit_app.py`` servers on free 127.0.0.1 ports, all
   on that database, in demo mode, with tiles off and one cookie secret, as replicas behind a
   load balancer with sticky sessions would be. Users are given to them round-robin, editors
   first, so every process has editors and their edits meet in the one database.
4. Runs the users with asyncio for ``--duration`` seconds, each also bounded by
   ``--max-requests``, with seeded think times (``--think``, 5-15 s) and arrivals spread over
   ``--ramp-up``.
   Each user is a browser tab speaking Streamlit's websocket protocol
   (``benchmarks/streamlit_client.py``):

   - a **reader** is the demo partner (a Violence Strategic Delivery Group member): opens Map,
     Hotspots, Quarterly, Wards and CSOs or Plans, changes a filter now and then, opens a plan;
   - an **editor** is the demo CSO (on a plan's page, Actions tab) or the demo partner (on My
     actions, their agency's actions): opens an action, changes its status, writes a progress
     comment and presses "Save update". A conflict ("changed by someone else") is a refusal the
     page explains: the editor re-applies the change or discards it, as people do. When the form
     says someone else changed the action since it was opened, the editor usually asks for the
     latest first.
5. Stops the servers and checks the database for lost updates: every save an editor saw
   confirmed is in the action's audit trail (``action_update``) exactly once, with the status
   the editor chose; each action's versions run 1..n without gaps or repeats; each change's
   "before" is the previous change's "after"; and the action row equals its last update.
6. Prints a report (``--report FILE`` also writes it as JSON): per kind of user and page, the
   count and p50/p90/p95/p99/max latency of a rerun (sending the BackMsg until
   ``script_finished``), errors, saves, conflicts; then lost updates. An **error** is an exception
   element, an ``st.error``, a lost or refused connection, a timeout, a page without what the
   user came for, or a traceback in a server's log. Exit status 0 only with no error and no lost
   update; 1 otherwise; 2 when the arguments are refused.

The servers are stopped and the database dropped in ``finally`` blocks, also on Ctrl-C and on
SIGTERM. Timings belong here, never in tests (STYLE.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

# `python benchmarks/load_test.py` puts benchmarks/ on the path, not the project beside it
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.streamlit_client import (
    Screen,
    StreamlitClientError,
    StreamlitSession,
    Widget,
)
from dashboard import PROJECT_ROOT
from dashboard.plans import ACTION_STATUS_LABELS, OPEN_ACTION_STATUSES, ActionStatus

log = logging.getLogger("benchmarks.load_test")

SERVER_START_TIMEOUT_S = 90  # two servers importing geopandas at once on a busy two-core box
SERVER_STOP_TIMEOUT_S = 15
# how long a person reads a page before the next click: a dashboard reader looks at the map and
# tables for a while; ``--think 1 4`` makes a stress test of the same users
THINK_S = (5.0, 15.0)
READER_ROLE = "Demo partner, Metropolitan Police (partner)"  # an SVDG member
CSO_EDITOR_ROLE = "Demo CSO (cso)"
PARTNER_EDITOR_ROLE = READER_ROLE  # updates the Metropolitan Police's own actions
READER_PAGES = ("Map", "Hotspots", "Quarterly", "Wards and CSOs", "Plans")
ONE_PLAN = "Plans (one plan)"
# The filters a reader may change on each page (labels as shown); absent ones are skipped
READER_FILTERS = {
    "Map": ("Serious-violence category", "Knife-enabled only", "Wards", "Ward details"),
    "Hotspots": ("Look back", "Weekdays", "Weigh by harm", "Map view", "Area"),
    "Quarterly": ("Quarter (UK financial year)", "Suppress small numbers"),
    "Wards and CSOs": ("Wards", "Serious-violence category", "Knife-enabled only"),
    "Plans": ("Status",),
    ONE_PLAN: ("Evidence over the last", "Knife bins and Youth Bus stops within"),
}
FILTER_PROBABILITY = 0.5
OPEN_PLAN_PROBABILITY = 0.4
SHOW_LATEST_PROBABILITY = 0.7  # a stale form's note is usually heeded
REAPPLY_PROBABILITY = 0.5
DONE_PROBABILITY = 0.1  # CSOs now and then mark an action done (with a comment, so reopenable)
# The action forms' keys: f"{prefix}_g{generation}_status", prefix "action_<id>" or "mine_<id>"
STATUS_KEY = re.compile(r"(?P<prefix>(?:action|mine)_(?P<action_id>\d+))_g\d+_status")
SAVED_TEXT = "Update saved"
CONFLICT_TEXT = "changed by someone else"
STALE_FORM_TEXT = "Someone else has changed this since you opened it"
OPEN_LABELS = [ACTION_STATUS_LABELS[s] for s in ActionStatus if s in OPEN_ACTION_STATUSES]
STATUS_BY_LABEL = {label: status.value for status, label in ACTION_STATUS_LABELS.items()}
PERCENTILES = (50, 90, 95, 99)


class LoadTestRefused(Exception):
    """The arguments ask for something this load test will not do; the message says why."""


class UserFlowError(Exception):
    """The page did not offer what the simulated user came for (counted as an error)."""


class OutOfTime(Exception):
    """The user's time or request budget is spent."""


# --- arguments and the database ------------------------------------------------------------------


def check_database_url(raw: str) -> URL:
    """The URL as SQLAlchemy reads it; LoadTestRefused unless PostgreSQL on 127.0.0.1."""
    try:
        url = make_url(raw)
    except ArgumentError as error:
        raise LoadTestRefused(f"--database-url {raw!r} is not a database URL: {error}") from error
    if url.get_backend_name() != "postgresql":
        raise LoadTestRefused(
            f"the load test runs on PostgreSQL only (two app processes share one database); "
            f"--database-url names a {url.get_backend_name()} database. Give a server URL such "
            "as postgresql+psycopg://postgres@127.0.0.1:55432/postgres"
        )
    if url.host != "127.0.0.1":
        raise LoadTestRefused(
            f"the load must never leave this machine: the database host must be 127.0.0.1, "
            f"not {url.host or 'a Unix socket'!r}"
        )
    if url.drivername == "postgresql":  # SQLAlchemy's default driver is psycopg2; we have psycopg 3
        url = url.set(drivername="postgresql+psycopg")
    return url


def database_name() -> str:
    """A name for this run's database: unique to the process."""
    return f"csm_load_{os.getpid()}"


def _on_server(server_url: URL, statement: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE refuse to run in one)."""
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def create_database(server_url: URL, name: str) -> URL:
    """Create the empty database ``name`` on the server ``server_url`` names; its URL."""
    _on_server(server_url, f'CREATE DATABASE "{name}"')
    return server_url.set(database=name)


def drop_database(server_url: URL, name: str) -> None:
    """Drop ``name``, closing any connection still open to it (PostgreSQL 13+)."""
    _on_server(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare_store(database_url: URL, workdir: Path) -> None:
    """Run ``python -m dashboard prepare`` on the new database (schema and demo data).

    ``PUBLIC_DIR`` goes to ``workdir``: prepare also publishes the knife-bin snapshot, and the
    repository's own ``data/public`` is not this run's to overwrite.
    """
    env = {
        **os.environ,
        "DATABASE_URL": database_url.render_as_string(hide_password=False),
        "PUBLIC_DIR": str(workdir / "public"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "dashboard", "prepare"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"`python -m dashboard prepare` failed:\n{done.stdout}{done.stderr}")


# --- the app processes ---------------------------------------------------------------------------


@dataclass
class AppServer:
    """One ``streamlit run`` process and where its output goes."""

    number: int
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    number: int,
    database_url: URL,
    cookie_secret: str,
    workdir: Path,
    extra_env: dict[str, str] | None = None,
) -> AppServer:
    """Start one app process on a free 127.0.0.1 port (not waiting for it).

    ``extra_env`` holds further Streamlit settings (``--server-env``); they cannot move the
    server off 127.0.0.1 or off this run's database, which are set last.
    """
    port = free_port()
    log_path = workdir / f"streamlit-{number}-{port}.log"
    env = {
        **os.environ,
        # a deployment does not watch its source; here other people edit the checkout meanwhile
        "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        **(extra_env or {}),
        "DATABASE_URL": database_url.render_as_string(hide_password=False),
        "DEMO_MODE": "1",
        "MAP_TILES": "none",
        "PUBLIC_DIR": str(workdir / "public"),
        "STREAMLIT_SERVER_HEADLESS": "true",
        "STREAMLIT_SERVER_ADDRESS": "127.0.0.1",
        "STREAMLIT_SERVER_PORT": str(port),
        "STREAMLIT_SERVER_COOKIE_SECRET": cookie_secret,  # the same on every replica
    }
    with log_path.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return AppServer(number=number, port=port, process=process, log_path=log_path)


def wait_until_healthy(servers: list[AppServer]) -> None:
    """Poll each server's ``/_stcore/health``; RuntimeError (with its output) if one fails."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    waiting = list(servers)
    while waiting:
        for server in list(waiting):
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"app process {server.number} exited with {server.process.returncode}:\n"
                    f"{server.log_path.read_text()}"
                )
            try:
                with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        waiting.remove(server)
                        log.info("app process %d healthy at %s", server.number, server.url)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
        if waiting and time.monotonic() > deadline:
            names = ", ".join(str(s.number) for s in waiting)
            raise RuntimeError(
                f"app process(es) {names} not healthy in {SERVER_START_TIMEOUT_S} s:\n"
                + "\n".join(s.log_path.read_text() for s in waiting)
            )
        if waiting:
            time.sleep(0.3)  # polling a server's health, not guessing a start-up delay


def cpu_seconds(server: AppServer) -> float | None:
    """User plus system CPU time the server process has used so far (Linux /proc), in s."""
    try:
        fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # after the command name: state is field 3, utime and stime fields 14 and 15 (proc(5))
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_servers(servers: list[AppServer]) -> None:
    """Terminate every server (SIGTERM, then SIGKILL after a grace period)."""
    for server in servers:
        if server.process.poll() is None:
            server.process.terminate()
    for server in servers:
        try:
            server.process.wait(timeout=SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def server_log_tracebacks(servers: list[AppServer]) -> list[str]:
    """The tracebacks (and exception lines after them) each server wrote to its output."""
    found = []
    for server in servers:
        lines = server.log_path.read_text(errors="replace").splitlines()
        for number, line in enumerate(lines):
            if line.startswith("Traceback"):
                tail = lines[number : number + 60]
                end = next(
                    (i for i, t in enumerate(tail[1:], 1) if t and not t.startswith(" ")),
                    len(tail) - 1,
                )
                context = lines[max(0, number - 2) : number]
                found.append(
                    f"app process {server.number}:\n" + "\n".join([*context, *tail[: end + 1]])
                )
    return found


def saves_logged(servers: list[AppServer]) -> int:
    """How many action updates the servers logged ("action N updated: ...", dashboard.plans)."""
    pattern = re.compile(r"dashboard\.plans: action \d+ updated")
    return sum(
        len(pattern.findall(server.log_path.read_text(errors="replace"))) for server in servers
    )


# --- what the users did ----------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One completed rerun: who, where, what, how long (ms), on which process."""

    kind: str
    user: str
    page: str
    action: str
    latency_ms: float
    process: int


@dataclass(frozen=True)
class Problem:
    """One error a user met."""

    kind: str
    user: str
    page: str
    action: str
    what: str


@dataclass(frozen=True)
class ConfirmedEdit:
    """A save the editor saw confirmed on the page ("Update saved ...")."""

    action_id: int
    token: str
    status: str  # ActionStatus value the editor chose
    user: str
    process: int


@dataclass
class Recorder:
    """Everything the users did, for the report and the lost-update check."""

    samples: list[Sample] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    saves: Counter = field(default_factory=Counter)  # (kind, page) -> saves confirmed
    conflicts: Counter = field(default_factory=Counter)  # (kind, page) -> saves refused
    reapplied_saves: int = 0
    discarded_after_conflict: int = 0
    show_latest_clicks: int = 0
    confirmed: list[ConfirmedEdit] = field(default_factory=list)
    requests_by_process: Counter = field(default_factory=Counter)

    def problem(self, kind: str, user: str, page: str, action: str, what: str) -> None:
        self.problems.append(Problem(kind, user, page, action, what))
        log.warning("%s %s on %s (%s): %s", kind, user, page, action, what.splitlines()[0])


def page_label(screen: Screen) -> str:
    """The page a screen shows, with a plan's own page told apart from the list of plans."""
    title = screen.page_title or "(unknown page)"
    if title == "Plans" and re.search(r"(^|&)plan=\d+", screen.query_string):
        return ONE_PLAN
    return title


# --- the simulated users ----------------------------------------------------------------------


@dataclass
class SimulatedUser:
    """One person in one browser tab, stuck to one app process."""

    kind: str  # "reader" or "editor"
    name: str
    role: str  # the demo user's label in the menu
    server: AppServer
    rng: random.Random
    deadline: float
    max_requests: int
    recorder: Recorder
    run_timeout_s: float
    start_delay_s: float = 0.0
    think_s: tuple[float, float] = THINK_S
    session: StreamlitSession | None = None
    requests: int = 0
    edits: int = 0

    async def run(self) -> None:
        """Sign in, then act and think until the time or the request budget is spent."""
        await asyncio.sleep(self.start_delay_s)
        try:
            while self._has_budget():
                try:
                    if self.session is None or not self.session.usable:
                        await self._sign_in()
                    await self.step()
                except OutOfTime:
                    break
                except (StreamlitClientError, UserFlowError) as error:
                    page = page_label(self.session.screen) if self.session else "(none)"
                    self.recorder.problem(self.kind, self.name, page, "flow", repr(error))
                    if self.session is not None and not self.session.usable:
                        await self.session.close()
                        self.session = None
                await self.think()
        finally:
            if self.session is not None:
                await self.session.close()

    def _has_budget(self) -> bool:
        return time.monotonic() < self.deadline and self.requests < self.max_requests

    async def think(self, low: float | None = None, high: float | None = None) -> None:
        """Read the page for a while (seeded; ``think_s`` unless given), never past the deadline."""
        pause = self.rng.uniform(
            self.think_s[0] if low is None else low, self.think_s[1] if high is None else high
        )
        await asyncio.sleep(max(0.0, min(pause, self.deadline - time.monotonic())))

    async def request(
        self, action: str, call: Callable[[], Awaitable[Screen]], expect_errors: bool = False
    ) -> Screen:
        """One interaction: timed, checked for exceptions and ``st.error``, recorded."""
        if not self._has_budget():
            raise OutOfTime
        assert self.session is not None
        self.requests += 1
        self.recorder.requests_by_process[self.server.number] += 1
        screen = await call()
        page = page_label(screen)
        self.recorder.samples.append(
            Sample(
                self.kind,
                self.name,
                page,
                action,
                screen.latency_s * 1000,
                self.server.number,
            )
        )
        for exception in screen.exceptions:
            self.recorder.problem(self.kind, self.name, page, action, f"exception: {exception}")
        if not expect_errors:
            for body in screen.alert_bodies("error"):
                self.recorder.problem(self.kind, self.name, page, action, f"st.error: {body}")
        if screen.page_not_found:
            self.recorder.problem(self.kind, self.name, page, action, "page not found")
        return screen

    async def _sign_in(self) -> None:
        """A new tab: open the app (the demo analyst), then pick this user in the demo menu."""
        self.session = StreamlitSession(self.server.url, run_timeout_s=self.run_timeout_s)
        if not self._has_budget():
            raise OutOfTime
        self.requests += 1  # a connection attempt counts against the budget
        await self.session.connect()
        session = self.session
        await self.request("open app", lambda: session.open(""))
        screen = await self.request("sign in", lambda: session.change("Demo user", self.role))
        if not any(self.role.split(" (")[0] in body for body in screen.alert_bodies("warning")):
            raise UserFlowError(f"the demo banner does not name {self.role} after switching")

    async def step(self) -> None:
        """One visit: overridden by readers and editors."""
        raise NotImplementedError

    # helpers shared by both kinds

    async def change_a_filter(self, screen: Screen) -> Screen | None:
        """Change one of the page's filters to a random value, as a reader would."""
        session = self.session
        assert session is not None
        candidates = [
            widget
            for label in READER_FILTERS.get(page_label(screen), ())
            for widget in screen.find_widgets(label)
            if not widget.form_id
        ]
        if not candidates:
            return None
        widget = self.rng.choice(candidates)
        value = self._random_value(widget)
        return await self.request("filter", lambda: session.change(widget, value))

    def _random_value(self, widget: Widget) -> object:
        options = list(widget.options)
        if widget.kind == "multiselect":
            low = 1 if widget.label == "Status" else 0  # no plans at all tells a reader nothing
            return self.rng.sample(options, k=self.rng.randint(low, min(3, len(options))))
        if widget.kind in ("selectbox", "radio", "button_group", "slider") and options:
            return self.rng.choice(options)
        if widget.kind == "checkbox":
            assert self.session is not None
            return not self.session.current_value(widget)
        raise UserFlowError(f"no way to pick a value for the {widget.kind} {widget.label!r}")


@dataclass
class Reader(SimulatedUser):
    """Reads the dashboards a Violence Strategic Delivery Group member reads."""

    async def step(self) -> None:
        session = self.session
        assert session is not None
        page = self.rng.choice(READER_PAGES)
        screen = await self.request("open", lambda: session.open(page))
        if self.rng.random() < FILTER_PROBABILITY:
            await self.think()
            changed = await self.change_a_filter(screen)
            screen = changed or screen
        if page == "Plans" and self.rng.random() < OPEN_PLAN_PROBABILITY:
            links = [link for link in screen.page_links if link.label == "Open the plan"]
            if not links:  # the status filter this reader chose matches no plan: fine
                return
            await self.think()
            link = self.rng.choice(links)
            screen = await self.request("open plan", lambda: session.follow(link))
            if self.rng.random() < FILTER_PROBABILITY:
                await self.think()
                await self.change_a_filter(screen)


@dataclass
class Editor(SimulatedUser):
    """Updates actions: a CSO on a plan's page, a partner on My actions."""

    run_tag: str = ""

    async def step(self) -> None:
        session = self.session
        assert session is not None
        if self.role == CSO_EDITOR_ROLE:
            screen = await self.request("open", lambda: session.open("Plans"))
            links = [link for link in screen.page_links if link.label == "Open the plan"]
            if not links:
                raise UserFlowError("the Plans page lists no plan to open")
            await self.think()
            link = self.rng.choice(links)
            screen = await self.request("open plan", lambda: session.follow(link))
        else:
            screen = await self.request("open", lambda: session.open("My actions"))
            if not screen.find_widgets("Status", key=STATUS_KEY):
                # all their agency's actions are closed: list those too, to reopen one
                toggle = screen.widget("Include done and dropped actions")
                screen = await self.request("filter", lambda: session.change(toggle, True))
        for _ in range(self.rng.randint(1, 3)):
            await self.think()
            screen = await self.edit_one(screen)

    async def edit_one(self, screen: Screen) -> Screen:
        """Change one action's status with a progress comment and save it; handle a conflict."""
        session = self.session
        assert session is not None
        forms = screen.find_widgets("Status", key=STATUS_KEY)
        if not forms:
            raise UserFlowError(f"{page_label(screen)} shows no action this user may update")
        status = self.rng.choice(forms)
        found = STATUS_KEY.fullmatch(status.key or "")
        assert found is not None
        prefix, action_id = found["prefix"], int(found["action_id"])
        form_key = re.compile(rf"{prefix}_g\d+_status")
        box = screen.block_path(status)
        stale = any(STALE_FORM_TEXT in body for body in screen.alert_bodies("info", under=box))
        if stale and self.rng.random() < SHOW_LATEST_PROBABILITY:
            latest = screen.widget("Show the latest", kind="button", under=box)
            screen = await self.request("show latest", lambda: session.click(latest))
            self.recorder.show_latest_clicks += 1
            fresh = screen.find_widgets("Status", key=form_key)
            if not fresh:  # someone closed it meanwhile, so My actions no longer lists it
                return screen
            status = fresh[0]
            box = screen.block_path(status)
            await self.think(0.5, 1.5)
        current = session.current_value(status)
        choices = [label for label in OPEN_LABELS if label != current]
        if (
            self.role == CSO_EDITOR_ROLE
            and current != "Done"
            and self.rng.random() < DONE_PROBABILITY
        ):
            choices = ["Done"]
        new_label = self.rng.choice(choices)
        self.edits += 1
        token = f"LT-{self.run_tag}-{self.name}-{self.edits}"
        comment = screen.widget("Comment (kept in the history)", under=box)
        await session.change(status, new_label)  # form widgets: staged until Save
        await session.change(comment, f"{token}: progress noted, status now {new_label}")
        save = screen.widget("Save update", kind="button", under=box)
        screen = await self.request("save", lambda: session.click(save))
        return await self._outcome(screen, action_id, prefix, token, new_label)

    async def _outcome(
        self, screen: Screen, action_id: int, prefix: str, token: str, new_label: str
    ) -> Screen:
        session = self.session
        assert session is not None
        edit = ConfirmedEdit(
            action_id, token, STATUS_BY_LABEL[new_label], self.name, self.server.number
        )
        if self._confirmed(screen, edit):
            return screen
        if not any(CONFLICT_TEXT in body for body in screen.alert_bodies("warning")):
            shown = "; ".join(f"{kind}: {body[:100]}" for kind, body, _path in screen.alerts)
            gone = not screen.find_widgets("Status", key=re.compile(rf"{prefix}_g\d+_status"))
            where = f" (action {action_id} is no longer on the page)" if gone else ""
            raise UserFlowError(
                f"a save was neither confirmed nor refused{where}; the page showed {shown}"
            )
        self.recorder.conflicts[(self.kind, page_label(screen))] += 1
        await self.think(0.5, 2.0)  # reads what the other person changed
        if self.rng.random() < REAPPLY_PROBABILITY:
            again = screen.widget("Re-apply my changes", key=f"{prefix}_pending_again")
            screen = await self.request("re-apply", lambda: session.click(again))
            if self._confirmed(screen, edit):
                self.recorder.reapplied_saves += 1
                return screen
            if not any(CONFLICT_TEXT in body for body in screen.alert_bodies("warning")):
                shown = "; ".join(f"{kind}: {body[:100]}" for kind, body, _path in screen.alerts)
                raise UserFlowError(f"a re-applied save was neither confirmed nor refused: {shown}")
            self.recorder.conflicts[(self.kind, page_label(screen))] += 1
        drop = screen.widget("Discard my changes", key=f"{prefix}_pending_drop")
        self.recorder.discarded_after_conflict += 1
        return await self.request("discard", lambda: session.click(drop))

    def _confirmed(self, screen: Screen, edit: ConfirmedEdit) -> bool:
        """True, and the save recorded, when the page confirms ``edit`` was saved."""
        if not any(SAVED_TEXT in body for body in screen.alert_bodies("success")):
            return False
        self.recorder.saves[(self.kind, page_label(screen))] += 1
        self.recorder.confirmed.append(edit)
        return True


def make_users(
    readers: int,
    editors: int,
    servers: list[AppServer],
    seed: int,
    deadline: float,
    max_requests: int,
    ramp_up_s: float,
    run_timeout_s: float,
    recorder: Recorder,
    run_tag: str,
    think_s: tuple[float, float] = THINK_S,
) -> list[SimulatedUser]:
    """Editors first, then readers, dealt round-robin to the servers; arrivals spread, seeded."""
    users: list[SimulatedUser] = []
    total = readers + editors
    for number in range(total):
        server = servers[number % len(servers)]
        delay = ramp_up_s * number / max(1, total)
        common = {
            "server": server,
            "deadline": deadline,
            "max_requests": max_requests,
            "recorder": recorder,
            "run_timeout_s": run_timeout_s,
            "start_delay_s": delay,
            "think_s": think_s,
        }
        if number < editors:
            name = f"editor{number + 1}"
            role = CSO_EDITOR_ROLE if number % 2 == 0 else PARTNER_EDITOR_ROLE
            rng = random.Random(f"{seed}-{name}")
            users.append(
                Editor(kind="editor", name=name, role=role, rng=rng, run_tag=run_tag, **common)
            )
        else:
            name = f"reader{number - editors + 1}"
            rng = random.Random(f"{seed}-{name}")
            users.append(Reader(kind="reader", name=name, role=READER_ROLE, rng=rng, **common))
    return users


async def run_users(users: list[SimulatedUser], duration_s: float, recorder: Recorder) -> None:
    """Run every user to the end, logging progress every 30 s."""

    async def progress() -> None:
        started = time.monotonic()
        while True:
            await asyncio.sleep(30)
            log.info(
                "%.0f s of %.0f: %d reruns, %d saves, %d conflicts, %d errors",
                time.monotonic() - started,
                duration_s,
                len(recorder.samples),
                sum(recorder.saves.values()),
                sum(recorder.conflicts.values()),
                len(recorder.problems),
            )

    reporter = asyncio.create_task(progress())
    try:
        await asyncio.gather(*(user.run() for user in users))
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter


# --- lost updates -------------------------------------------------------------------------------


@dataclass
class IntegrityReport:
    """What the database says about the edits: problems are lost updates or broken trails."""

    actions: int = 0
    updates: int = 0
    confirmed_checked: int = 0
    stored_not_confirmed: int = 0
    lost_updates: list[str] = field(default_factory=list)
    trail_problems: list[str] = field(default_factory=list)


def _json_value(value: object) -> object:
    return value.isoformat() if hasattr(value, "isoformat") else value


def check_lost_updates(
    database_url: URL, confirmed: list[ConfirmedEdit], run_tag: str
) -> IntegrityReport:
    """Check every confirmed save and every action's audit trail in the database.

    - each confirmed save's comment token is in that action's trail exactly once, and the
      status right after it is the one the editor chose;
    - each action's update versions are 1..n in the order written, and the row's version is n;
    - each change's old value is the previous change's new value (no write based on stale data);
    - the row's fields equal the last value its trail gives them.
    """
    fields = ("status", "due_on", "owner_name", "owner_agency", "description", "vru_theme")
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(f"SELECT id, version, {', '.join(fields)} FROM action ORDER BY id")
            ).mappings()
            actions = {row["id"]: dict(row) for row in rows}
            trail = connection.execute(
                text(
                    "SELECT id, action_id, version, changes, comment FROM action_update "
                    "ORDER BY action_id, id"
                )
            ).mappings()
            updates: dict[int, list[dict]] = defaultdict(list)
            for row in trail:
                updates[row["action_id"]].append(dict(row))
    finally:
        engine.dispose()

    report = IntegrityReport(actions=len(actions), updates=sum(map(len, updates.values())))
    status_after: dict[tuple[int, str], object] = {}  # (action, token) -> status after it
    for action_id, row in actions.items():
        history = updates.get(action_id, [])
        versions = [update["version"] for update in history]
        if versions != list(range(1, len(history) + 1)):
            repeats = [
                update
                for before, update in itertools.pairwise(history)
                if update["version"] == before["version"]
            ]
            note = ""
            if repeats and all(json.loads(u["changes"]) == {} for u in repeats):
                note = "; each repeat is a comment-only update (changes {}), saved without a bump"
            report.trail_problems.append(
                f"action {action_id}: versions in the order written are {versions}, "
                f"not 1..{len(history)}{note}"
            )
        if history and row["version"] != history[-1]["version"]:
            report.trail_problems.append(
                f"action {action_id}: the row is at version {row['version']}, its last update "
                f"at {history[-1]['version']}"
            )
        # the status before the trail first changed it (the row's, if it never did)
        status_before = row["status"]
        for update in history:
            pair = json.loads(update["changes"]).get("status")
            if pair is not None:
                status_before = pair[0]
                break
        running: dict[str, object] = {}
        for update in history:
            changes = json.loads(update["changes"])
            for name, pair in changes.items():
                if name == "created":
                    continue
                old, new = pair
                if name in running and running[name] != old:
                    report.trail_problems.append(
                        f"action {action_id} version {update['version']}: {name} changed from "
                        f"{old!r}, but the version before had left it {running[name]!r}"
                    )
                running[name] = new
            comment = update["comment"] or ""
            for token in re.findall(rf"LT-{re.escape(run_tag)}-\S+?(?=:)", comment):
                status_after[(action_id, token)] = running.get("status", status_before)
        for name, value in running.items():
            stored = _json_value(row[name])
            if stored != value:
                report.trail_problems.append(
                    f"action {action_id}: {name} is {stored!r} in the row but {value!r} after "
                    "its last update"
                )

    tokens = Counter(
        (update["action_id"], token)
        for history in updates.values()
        for update in history
        for token in re.findall(rf"LT-{re.escape(run_tag)}-\S+?(?=:)", update["comment"] or "")
    )
    seen_tokens = set()
    for edit in confirmed:
        report.confirmed_checked += 1
        where = (edit.action_id, edit.token)
        seen_tokens.add(where)
        count = tokens.get(where, 0)
        if count == 0:
            report.lost_updates.append(
                f"{edit.user}'s save {edit.token} on action {edit.action_id} (process "
                f"{edit.process}) was confirmed on the page but is not in the audit trail"
            )
        elif count > 1:
            report.lost_updates.append(
                f"{edit.user}'s save {edit.token} on action {edit.action_id} is in the trail "
                f"{count} times"
            )
        elif status_after.get(where) != edit.status:
            report.lost_updates.append(
                f"{edit.user}'s save {edit.token} on action {edit.action_id} set the status to "
                f"{edit.status!r}, but the trail has {status_after.get(where)!r} right after it"
            )
    report.stored_not_confirmed = sum(1 for where in tokens if where not in seen_tokens)
    return report


# --- the report ---------------------------------------------------------------------------------


def latency_row(latencies_ms: list[float]) -> dict[str, float | int]:
    """Count, percentiles and max of some latencies (ms, one decimal)."""
    if not latencies_ms:
        return {"count": 0, **{f"p{p}": float("nan") for p in PERCENTILES}, "max": float("nan")}
    values = np.asarray(latencies_ms)
    cuts = np.percentile(values, PERCENTILES)
    return {
        "count": len(latencies_ms),
        **{f"p{p}": round(float(c), 1) for p, c in zip(PERCENTILES, cuts, strict=True)},
        "max": round(float(values.max()), 1),
    }


def build_report(
    recorder: Recorder,
    integrity: IntegrityReport | None,
    tracebacks: list[str],
    settings: dict[str, object],
    logged_saves: int | None,
) -> dict[str, object]:
    """The whole result as plain data (what ``--report`` writes)."""
    by_page: dict[tuple[str, str], list[float]] = defaultdict(list)
    by_action: dict[tuple[str, str], list[float]] = defaultdict(list)
    for sample in recorder.samples:
        for key in ((sample.kind, sample.page), (sample.kind, "all"), ("all", "all")):
            by_page[key].append(sample.latency_ms)
        by_action[(sample.kind, sample.action)].append(sample.latency_ms)
    errors: Counter = Counter()
    for problem in recorder.problems:
        for key in ((problem.kind, problem.page), (problem.kind, "all"), ("all", "all")):
            errors[key] += 1

    def tally(counter: Counter, kind: str, page: str) -> int:
        if kind == "all":
            return sum(counter.values())
        if page == "all":
            return sum(n for (k, _p), n in counter.items() if k == kind)
        return counter.get((kind, page), 0)

    keys = sorted(
        set(by_page) | set(errors),
        key=lambda k: (k[0] == "all", k[0], k[1] == "all", k[1]),
    )
    rows = [
        {
            "kind": kind,
            "page": page,
            **latency_row(by_page.get((kind, page), [])),
            "errors": errors.get((kind, page), 0),
            "saves": tally(recorder.saves, kind, page),
            "conflicts": tally(recorder.conflicts, kind, page),
        }
        for kind, page in keys
    ]
    actions = [
        {"kind": kind, "action": action, **latency_row(values)}
        for (kind, action), values in sorted(by_action.items())
    ]
    lost = len(integrity.lost_updates) if integrity is not None else None
    trail = len(integrity.trail_problems) if integrity is not None else None
    error_count = len(recorder.problems) + len(tracebacks)
    return {
        "settings": settings,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "by_page": rows,
        "by_action": actions,
        "requests_by_process": dict(sorted(recorder.requests_by_process.items())),
        "edits": {
            "saves_confirmed": sum(recorder.saves.values()),
            "conflicts": sum(recorder.conflicts.values()),
            "saved_on_reapply": recorder.reapplied_saves,
            "discarded_after_conflict": recorder.discarded_after_conflict,
            "show_latest_clicks": recorder.show_latest_clicks,
            "saves_logged_by_servers": logged_saves,
        },
        "integrity": asdict(integrity) if integrity is not None else None,
        "errors": error_count,
        "lost_updates": lost,
        "trail_problems": trail,
        "problems": [asdict(p) for p in recorder.problems],
        "server_tracebacks": tracebacks,
        "passed": error_count == 0 and lost == 0 and trail == 0,
    }


def format_report(report: dict[str, object]) -> str:
    """The report as text: a table per page, a table per action, the edits and the verdict."""
    settings = report["settings"]
    assert isinstance(settings, dict)
    lines = [
        f"Load test: {settings['readers']} readers and {settings['editors']} editors on "
        f"{settings['processes']} app processes sharing PostgreSQL ({settings['database']}), "
        f"{settings['duration_s']:.0f} s, seed {settings['seed']}, "
        f"think {settings['think_s'][0]:g}-{settings['think_s'][1]:g} s, "
        f"at most {settings['max_requests']} requests per user; "
        f"ran {settings['elapsed_s']:.0f} s",
    ]
    cpu = settings.get("server_cpu_s") or []
    lines.append(
        f"Machine: {settings.get('cpu_count')} CPUs, load average (1/5/15 min) "
        f"{settings.get('load_average_before')} before the users, "
        f"{settings.get('load_average_after')} after; the app processes used "
        + ", ".join(f"{used} s" for used in cpu)
        + " of CPU while the users ran"
    )
    if settings.get("server_env"):
        lines.append(f"App processes ran with {', '.join(settings['server_env'])}")
    lines += ["Latency of one rerun (BackMsg sent until script_finished), ms", ""]
    columns = ["count", *(f"p{p}" for p in PERCENTILES), "max"]
    header = ["kind", "page", *columns, "errors", "saves", "conflicts"]
    table = [header]
    for row in report["by_page"]:  # type: ignore[union-attr]
        table.append(
            [
                row["kind"],
                row["page"],
                *(_cell(row[c]) for c in columns),
                str(row["errors"]),
                str(row["saves"]),
                str(row["conflicts"]),
            ]
        )
    lines += _aligned(table)
    lines += ["", "By action, ms"]
    table = [["kind", "action", *columns]]
    for row in report["by_action"]:  # type: ignore[union-attr]
        table.append([row["kind"], row["action"], *(_cell(row[c]) for c in columns)])
    lines += _aligned(table)
    edits = report["edits"]
    assert isinstance(edits, dict)
    by_process = report["requests_by_process"]
    assert isinstance(by_process, dict)
    lines += [
        "",
        "Requests by app process: "
        + ", ".join(f"process {n}: {count}" for n, count in by_process.items()),
        f"Edits: {edits['saves_confirmed']} saves confirmed on the page "
        f"({edits['saved_on_reapply']} of them re-applied after a conflict); "
        f"{edits['conflicts']} refused with a conflict message "
        f"({edits['discarded_after_conflict']} then discarded); "
        f"{edits['show_latest_clicks']} stale forms refreshed with 'Show the latest'; "
        f"the servers logged {edits['saves_logged_by_servers']} action updates",
    ]
    integrity = report["integrity"]
    if integrity is None:
        lines.append("Lost updates: not checked (the run did not finish)")
    else:
        assert isinstance(integrity, dict)
        lines.append(
            f"Lost updates: {report['lost_updates']} (each of the {integrity['confirmed_checked']} "
            "saves confirmed on the page is in its action's audit trail once, with the status "
            f"chosen; {integrity['stored_not_confirmed']} stored saves were not seen confirmed, "
            "as a user's time ran out or an error hid the answer)"
        )
        lines += [f"  LOST: {text_}" for text_ in integrity["lost_updates"]]
        lines.append(
            f"Audit trail problems: {report['trail_problems']} (in the {integrity['actions']} "
            f"actions and {integrity['updates']} updates: versions 1..n without gaps or repeats, "
            "each change starting from the one before, each row equal to its last update)"
        )
        lines += [f"  TRAIL: {text_}" for text_ in integrity["trail_problems"]]
    problems = report["problems"]
    assert isinstance(problems, list)
    tracebacks = report["server_tracebacks"]
    assert isinstance(tracebacks, list)
    lines.append(
        f"Errors: {report['errors']} ({len(problems)} met by users, "
        f"{len(tracebacks)} tracebacks in the servers' logs)"
    )
    for problem in problems[:30]:
        lines.append(
            f"  {problem['kind']} {problem['user']} on {problem['page']} ({problem['action']}): "
            f"{problem['what']}"
        )
    if len(problems) > 30:
        lines.append(f"  ... and {len(problems) - 30} more (all in --report)")
    for traceback in tracebacks[:5]:
        lines.append("  " + traceback.replace("\n", "\n  "))
    lines.append(f"Result: {'PASS' if report['passed'] else 'FAIL'}")
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "-" if np.isnan(value) else f"{value:,.0f}"
    return str(value)


def _aligned(table: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return [
        "  ".join(
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in table
    ]


# --- the whole run --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Load test: readers and editors on app processes sharing one PostgreSQL."
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL"),
        required="TEST_DATABASE_URL" not in os.environ,
        help="a PostgreSQL server on 127.0.0.1 (any database on it; the role must be allowed to "
        "create databases): this run makes its own database there and drops it "
        "(default: TEST_DATABASE_URL, as tests/postgres_server.py sets it)",
    )
    parser.add_argument("--duration", type=float, default=300.0, help="seconds (default 300)")
    parser.add_argument("--readers", type=int, default=20, help="simulated readers (default 20)")
    parser.add_argument("--editors", type=int, default=5, help="simulated editors (default 5)")
    parser.add_argument("--processes", type=int, default=2, help="app processes (default 2)")
    parser.add_argument("--seed", type=int, default=1, help="seeds every user's choices")
    parser.add_argument(
        "--max-requests", type=int, default=300, help="reruns per user at most (default 300)"
    )
    parser.add_argument(
        "--think",
        type=float,
        nargs=2,
        default=list(THINK_S),
        metavar=("LOW", "HIGH"),
        help="seconds a user reads a page before the next click, drawn between LOW and HIGH "
        f"(default {THINK_S[0]:g} {THINK_S[1]:g}; 1 4 makes a stress test)",
    )
    parser.add_argument(
        "--ramp-up", type=float, default=20.0, help="seconds over which users arrive (default 20)"
    )
    parser.add_argument(
        "--run-timeout", type=float, default=120.0, help="seconds one rerun may take (default 120)"
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="STREAMLIT_NAME=VALUE",
        help="a Streamlit setting for the app processes, e.g. STREAMLIT_RUNNER_MAGIC_ENABLED=false "
        "(repeatable; only STREAMLIT_* names)",
    )
    parser.add_argument("--report", type=Path, help="also write the report here as JSON")
    parser.add_argument(
        "--keep", action="store_true", help="keep the database made for the run (for inspection)"
    )
    args = parser.parse_args(argv)
    for name in ("duration", "processes", "max_requests", "run_timeout"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    for name in ("readers", "editors"):
        if getattr(args, name) < 0:
            parser.error(f"--{name} cannot be negative")
    for setting in args.server_env:
        name, equals, _value = setting.partition("=")
        if not equals or not re.fullmatch(r"STREAMLIT_[A-Z0-9_]+", name):
            parser.error(f"--server-env takes STREAMLIT_NAME=VALUE, got {setting!r}")
    if not 0 <= args.think[0] <= args.think[1]:
        parser.error("--think takes LOW HIGH with 0 <= LOW <= HIGH")
    if args.readers + args.editors == 0:
        parser.error("give at least one reader or editor")
    if args.duration > 3600 or args.readers + args.editors > 200 or args.processes > 8:
        parser.error("this load test is bounded: at most 3600 s, 200 users and 8 processes")
    return args


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, so the ``finally`` blocks stop the servers and drop the DB.

    SIGINT gets Python's own handler back too: a shell starts a background job with SIGINT
    ignored, and ``kill -INT`` should still stop the run cleanly.
    """

    def interrupt(_signal: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous_term = signal.signal(signal.SIGTERM, interrupt)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = parse_args(argv)
    try:
        server_url = check_database_url(args.database_url)
    except LoadTestRefused as refused:
        sys.stderr.write(f"load_test: refused: {refused}\n")
        return 2
    name = database_name()
    workdir = Path(tempfile.mkdtemp(prefix="csm-load-"))
    servers: list[AppServer] = []
    created = False
    with sigterm_as_interrupt():
        try:
            database_url = create_database(server_url, name)
            created = True
            log.info("database %s created on %s:%s", name, server_url.host, server_url.port)
            prepare_store(database_url, workdir)
            log.info("demo data loaded (python -m dashboard prepare)")
            cookie_secret = secrets.token_hex(32)
            extra_env = dict(setting.split("=", 1) for setting in args.server_env)
            servers = [
                start_server(number + 1, database_url, cookie_secret, workdir, extra_env)
                for number in range(args.processes)
            ]
            wait_until_healthy(servers)
            recorder = Recorder()
            run_tag = f"{os.getpid()}"
            started = time.monotonic()
            users = make_users(
                args.readers,
                args.editors,
                servers,
                args.seed,
                started + args.duration,
                args.max_requests,
                min(args.ramp_up, args.duration / 2),
                args.run_timeout,
                recorder,
                run_tag,
                (args.think[0], args.think[1]),
            )
            log.info(
                "running %d readers and %d editors for %.0f s",
                args.readers,
                args.editors,
                args.duration,
            )
            load_before = os.getloadavg()
            cpu_before = [cpu_seconds(server) for server in servers]
            asyncio.run(run_users(users, args.duration, recorder))
            elapsed_s = time.monotonic() - started
            cpu_used = [
                None if before is None or after is None else round(after - before, 1)
                for before, after in zip(
                    cpu_before, (cpu_seconds(server) for server in servers), strict=True
                )
            ]
            load_after = os.getloadavg()
            stop_servers(servers)
            tracebacks = server_log_tracebacks(servers)
            logged = saves_logged(servers)
            integrity = check_lost_updates(database_url, recorder.confirmed, run_tag)
            settings = {
                "readers": args.readers,
                "editors": args.editors,
                "processes": args.processes,
                "duration_s": args.duration,
                "elapsed_s": round(elapsed_s, 1),
                "seed": args.seed,
                "max_requests": args.max_requests,
                "ramp_up_s": args.ramp_up,
                "think_s": list(args.think),
                "database": f"{server_url.host}:{server_url.port}/{name}",
                "ports": [server.port for server in servers],
                "server_env": args.server_env,
                "cpu_count": os.cpu_count(),
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in load_after],
                "server_cpu_s": cpu_used,
            }
            report = build_report(recorder, integrity, tracebacks, settings, logged)
            sys.stdout.write(format_report(report))
            if args.report:
                args.report.write_text(json.dumps(report, indent=2, default=str) + "\n")
                log.info("report written to %s", args.report)
            return 0 if report["passed"] else 1
        except KeyboardInterrupt:
            sys.stderr.write("load_test: interrupted; stopping the servers\n")
            return 130
        finally:
            stop_servers(servers)
            if created and not args.keep:
                drop_database(server_url, name)
                log.info("database %s dropped", name)
            elif created:
                log.info("database %s kept (--keep)", name)
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
