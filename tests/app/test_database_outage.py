"""The database goes away and comes back: the page says so plainly, then works again by itself.

On PostgreSQL the app reaches the server through a TCP relay started here on 127.0.0.1; closing
the relay (and cutting the connections it carries) is the outage, opening it again on the same
port is the return. On SQLite the store is a file: the outage is a file that cannot be opened
or read as a database.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from streamlit.testing.v1 import AppTest

from dashboard.store.session import UNREACHABLE_MESSAGE
from tests.app.conftest import ANALYST, metric, signed_in
from tests.stores import on_postgresql, sqlite_only

PASSWORD = "Pa55-not-for-screens"  # the test server trusts 127.0.0.1 and ignores it
CHUNK_BYTES = 65536
DIRECTORY = "a directory where the file was"
NOT_A_DATABASE = "a file that is not a database"


class Relay:
    """Pipes every connection made to 127.0.0.1:``port`` through to ``target``, until closed."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0  # chosen by the system on the first open, kept after that
        self._stop = threading.Event()
        self._accepting: threading.Thread | None = None
        self._pipes: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []

    def open(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # the cut connections linger in TIME_WAIT on this port; reopening must not wait for them
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        listener.settimeout(0.05)  # how often the accept loop looks at the stop flag
        self.port = listener.getsockname()[1]
        self._stop.clear()
        self._accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._accepting.start()

    def close(self) -> None:
        """Stop listening and cut every connection: to the app, the server is gone."""
        self._stop.set()
        if self._accepting is not None:
            self._accepting.join(timeout=10)  # it closes the listener as it ends
            self._accepting = None
        for sock in self._sockets:
            _cut(sock)
        for pipe in self._pipes:  # each ends when its sockets are cut
            pipe.join(timeout=10)
        self._sockets, self._pipes = [], []

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while not self._stop.is_set():
                try:
                    client, _address = listener.accept()
                except TimeoutError:
                    continue
                client.settimeout(None)
                server = socket.create_connection(self.target)
                self._sockets += [client, server]
                for source, sink in ((client, server), (server, client)):
                    pipe = threading.Thread(target=_pipe, args=(source, sink), daemon=True)
                    pipe.start()
                    self._pipes.append(pipe)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(CHUNK_BYTES):
            sink.sendall(data)
    except OSError:
        pass  # the relay cut it
    _cut(sink)


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already cut
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def shown(at: AppTest) -> str:
    """Every text the page shows, main area and sidebar."""
    return "\n".join(
        str(element.value)
        for elements in (at.title, at.markdown, at.caption, at.error, at.warning, at.info)
        for element in elements
    )


def assert_the_map_works(at: AppTest, incidents_shown: int | None = None) -> int:
    assert not at.exception, at.exception
    assert not at.error, [error.value for error in at.error]
    assert at.title[0].value == "Wandsworth: community safety map"
    count = metric(at, "Incidents shown")
    assert count > 0
    if incidents_shown is not None:
        assert count == incidents_shown
    return count


def assert_the_outage_is_reported(at: AppTest, caplog: pytest.LogCaptureFixture) -> None:
    assert not at.exception, at.exception  # no traceback for the user
    assert [error.value for error in at.error] == [UNREACHABLE_MESSAGE]
    assert not at.metric  # the page stopped there
    assert "unreachable" in caplog.text  # the technical reason is in the log


@pytest.fixture
def relay(seeded_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Relay]:
    """The app's DATABASE_URL (with a password in it) goes through a relay to the test server."""
    server = make_url(seeded_db)
    relay = Relay((server.host or "127.0.0.1", server.port or 5432))
    relay.open()
    through = server.set(port=relay.port, password=PASSWORD)
    monkeypatch.setenv("DATABASE_URL", through.render_as_string(hide_password=False))
    yield relay
    relay.close()


@pytest.mark.skipif(
    not on_postgresql(), reason="needs a database server to lose: run on PostgreSQL"
)
def test_the_page_says_the_database_cannot_be_reached_and_works_again_when_it_returns(
    relay, caplog
):
    at = signed_in(ANALYST)
    incidents_shown = assert_the_map_works(at.run())

    relay.close()
    caplog.clear()
    at.run()

    assert_the_outage_is_reported(at, caplog)
    assert "Connection refused" in caplog.text
    assert f"postgres:***@127.0.0.1:{relay.port}/" in caplog.text  # which database, no password
    assert PASSWORD not in shown(at)
    assert PASSWORD not in caplog.text

    relay.open()  # the same address as before
    at.run()

    assert_the_map_works(at, incidents_shown)


@contextlib.contextmanager
def unreadable(store: Path, outage: str) -> Iterator[None]:
    """Put what ``outage`` says where the store's file was; put the file back afterwards."""
    away = store.with_name(f"{store.name}.away")
    store.rename(away)
    try:
        if outage == DIRECTORY:
            store.mkdir()
        else:
            store.write_text("Crime ID,Month\n", encoding="utf-8")
        yield
    finally:
        if store.is_dir():
            shutil.rmtree(store)
        else:
            store.unlink(missing_ok=True)
        away.rename(store)


@sqlite_only
@pytest.mark.parametrize("outage", [DIRECTORY, NOT_A_DATABASE])
def test_a_sqlite_file_that_cannot_be_opened_is_reported_until_it_is_back(
    seeded_db, outage, caplog
):
    at = signed_in(ANALYST)
    with unreadable(Path(make_url(seeded_db).database or ""), outage):
        at.run()

        assert_the_outage_is_reported(at, caplog)

    at.run()  # the file is back

    assert_the_map_works(at)
