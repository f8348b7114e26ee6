"""A private PostgreSQL server for tests and benchmarks: initdb in a temporary directory, started on
127.0.0.1 on a free port, stopped and deleted afterwards.

PostgreSQL refuses to run as root; as root the server runs as the unprivileged user ``nobody`` (setpriv).
The server binaries come from ``DN_CDS_TEST_POSTGRESQL_BIN``, else the newest /usr/lib/postgresql/*/bin
(Debian's postgresql package; scripts/install-postgresql.sh installs it), else ``initdb`` on PATH.
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from support.servers import StartedProcess, free_port, start

USER = "dn_cds"
READY = "database system is ready to accept connections"
"""What the server logs once it accepts connections (LC_ALL=C: never translated)."""
_names = itertools.count(1)


def find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``, or ``None`` when PostgreSQL is not installed."""
    if configured := os.environ.get("DN_CDS_TEST_POSTGRESQL_BIN"):
        return Path(configured)
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.parent.name)],
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@dataclass
class PostgresServer:
    """A running private server; ``url(name)`` names one of its databases."""

    directory: Path
    port: int
    running: StartedProcess
    log_path: Path
    databases: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)  # how it was started, to start it again (restart)
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def process(self) -> subprocess.Popen[str]:
        return self.running.process

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "test") -> str:
        """A new empty database; its SQLAlchemy URL."""
        name = f"{prefix}_{os.getpid()}_{next(_names)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres") as connection:
            connection.autocommit = True
            connection.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        self.databases.append(name)
        return self.url(name)

    def shut_down(self) -> None:
        """Fast shutdown (SIGINT); the cluster's files stay, for :meth:`start_again`."""
        self.running.stop(signal.SIGINT)

    def start_again(self) -> None:
        """Start the shut-down server again on the same port and files; return once it accepts connections."""
        self.running = start(
            self.command, READY, env=self.environment, cwd=self.directory, log_path=self.log_path
        )

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then delete the cluster's files."""
        self.shut_down()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_server(bindir: Path, *, durable: bool = False) -> PostgresServer:
    """initdb + postgres on 127.0.0.1:<free port>. ``durable=False`` turns fsync off (faster tests; a killed
    *client* process loses nothing either way); benchmarks pass ``durable=True`` for production settings."""
    directory = Path(tempfile.mkdtemp(prefix="dn-cds-postgresql-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(directory, nobody.pw_uid, nobody.pw_gid)
        prefix = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    data = directory / "data"
    log_path = directory / "server.log"
    environment = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": str(directory)}
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8",
         "--no-locale", *([] if durable else ["--no-sync"])],
        check=True, capture_output=True, env=environment, cwd=directory,
    )  # fmt: skip
    port = free_port()
    options = [
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "unix_socket_directories=",
        "-c",
        "max_connections=200",
    ]
    if not durable:
        options += ["-c", "fsync=off", "-c", "full_page_writes=off"]
    command = [*prefix, str(bindir / "postgres"), "-D", str(data), "-p", str(port), *options]
    try:
        running = start(command, READY, env=environment, cwd=directory, log_path=log_path)
    except RuntimeError:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return PostgresServer(directory, port, running, log_path, command=command, environment=environment)
