"""Run a command against a throwaway PostgreSQL + PostGIS server: ``make test-postgres`` uses it.

``python -m tests.postgres_server COMMAND...`` makes a new cluster in a temporary folder, starts
it on 127.0.0.1 and a free port, runs COMMAND with ``TEST_DATABASE_URL`` naming the server, then
stops it and removes the folder, whatever COMMAND did; the exit code is COMMAND's. The cluster
trades durability for speed (no fsync): it holds test data only. Debian's ``postgresql`` and
``postgresql-NN-postgis-3`` packages provide what it needs.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

SPEED_OVER_SAFETY = ("fsync=off", "full_page_writes=off", "synchronous_commit=off")


def server_binaries() -> Path:
    """The newest installed PostgreSQL's bin folder (Debian keeps one per major version)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        sys.exit("PostgreSQL is not installed: apt-get install postgresql postgresql-15-postgis-3")
    return Path(initdb).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the ``postgres`` account then."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def main(command: list[str]) -> int:
    if not command:
        sys.exit("usage: python -m tests.postgres_server COMMAND [ARGS...]")
    binaries = server_binaries()
    folder = Path(tempfile.mkdtemp(prefix="csm-postgres-"))
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        for path in (folder, sockets):
            os.chown(path, account.pw_uid, account.pw_gid)
    port = free_port()
    settings = " ".join(f"-c {setting}" for setting in SPEED_OVER_SAFETY)
    pg_ctl = str(binaries / "pg_ctl")
    try:
        subprocess.run(
            as_server_user(
                [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 {settings}"
        subprocess.run(
            as_server_user(
                [pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        print(f"PostgreSQL {binaries.parent.name} for the tests at {url}", flush=True)  # noqa: T201
        return subprocess.run(command, env={**os.environ, "TEST_DATABASE_URL": url}).returncode
    finally:
        subprocess.run(
            as_server_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
