"""Server processes for the tests, started and awaited by an event, never by polling.

``started`` runs a command with its stdout and stderr on one pipe, read line by line by a thread (and copied
to a log file when given), and returns once a line says the server is ready: ``dn-cds serve`` announces itself
(``dn-cds: serving <url>/cds-services``) from gunicorn's ``when_ready`` hook, once it listens
(cds_service/gunicorn_config.py); nginx logs ``start worker processes`` once its sockets are bound; PostgreSQL
logs ``database system is ready to accept connections``; the Node FHIR server prints its base URL as JSON. A
server that exits first fails at once with its output. ``READY_TIMEOUT`` is only a sanity bound for a server
that hangs: nothing waits for it to pass.

``dn_cds_serve`` and ``serving`` start ``dn-cds serve`` (gunicorn, several workers) on a free 127.0.0.1 port
in its own process group, so a test can SIGKILL master and workers at once; both stop it with SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cds_service.settings import Settings

READY_TIMEOUT = 120.0
"""Seconds a server may take to say it is ready before the test gives up (a sanity bound, not a wait)."""
STOP_TIMEOUT = 20.0
"""Seconds a server may take to stop after its stop signal before it is killed."""
ANNOUNCE = "dn-cds: serving "
"""How the line starts that ``dn-cds serve`` writes to stderr once gunicorn listens."""


class ServerFailed(RuntimeError):
    """The server exited, or said nothing that means ready within ``READY_TIMEOUT``."""


def free_port() -> int:
    """A loopback port free now (closed again before the server binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ProcessOutput:
    """A process's output, line by line as it is written: read by a thread, kept, copied to ``log_path``."""

    def __init__(self, stream: Iterator[str], log_path: Path | None = None) -> None:
        self.lines: list[str] = []
        self.ended = False
        self._changed = threading.Condition()
        self._log = log_path.open("a", encoding="utf-8") if log_path is not None else None
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: Iterator[str]) -> None:
        try:
            for line in stream:
                if self._log is not None:
                    self._log.write(line)
                    self._log.flush()
                with self._changed:
                    self.lines.append(line)
                    self._changed.notify_all()
        finally:
            with self._changed:
                self.ended = True
                self._changed.notify_all()

    def wait_for(
        self, ready: str | Callable[[str], bool], *, start: int = 0, timeout: float = READY_TIMEOUT
    ) -> str:
        """The first line from line number ``start`` on that contains ``ready`` (or satisfies it), as soon as
        it is written; :class:`ServerFailed` if the output ends (the process exited) or ``timeout`` passes
        first."""
        matches = ready if callable(ready) else lambda line: ready in line
        deadline = time.monotonic() + timeout
        checked = start
        with self._changed:
            while True:
                for line in self.lines[checked:]:
                    if matches(line):
                        return line
                checked = max(checked, len(self.lines))
                if self.ended:
                    raise ServerFailed(f"the process ended before it was ready:\n{self.text()[-4000:]}")
                # woken by the reader thread at each line and at the end; the deadline is a sanity bound
                if not self._changed.wait(deadline - time.monotonic()):
                    raise ServerFailed(f"not ready within {timeout:.0f} s:\n{self.text()[-4000:]}")

    def wait_for_lines(
        self, ready: Callable[[str], bool], count: int, *, start: int = 0, timeout: float = READY_TIMEOUT
    ) -> list[str]:
        """The first ``count`` lines from line number ``start`` on that satisfy ``ready``, as soon as the last
        of them is written (:meth:`wait_for`'s failures otherwise)."""
        found: list[str] = []
        checked = start
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found.extend(line for line in self.lines[checked:] if ready(line))
                checked = max(checked, len(self.lines))
                if len(found) >= count:
                    return found[:count]
                if self.ended:
                    raise ServerFailed(f"the process ended before {count} lines:\n{self.text()[-4000:]}")
                if not self._changed.wait(deadline - time.monotonic()):
                    raise ServerFailed(f"{len(found)} of {count} lines within {timeout:.0f} s")

    def text(self) -> str:
        """Everything written so far."""
        return "".join(self.lines)

    def close(self, timeout: float = STOP_TIMEOUT) -> None:
        """Wait for the end of the output (every process holding the pipe has exited), then close the log."""
        self._reader.join(timeout)
        if self._log is not None:
            self._log.close()


@dataclass
class StartedProcess:
    """A started server: its process, its output, and the line that said it was ready."""

    process: subprocess.Popen[str]
    output: ProcessOutput
    ready_line: str
    own_process_group: bool = False

    def stop(self, stop_signal: signal.Signals = signal.SIGTERM) -> int:
        """Send ``stop_signal`` (to the whole process group if it has its own) unless it has exited; kill it
        if it has not stopped within ``STOP_TIMEOUT``; wait for the end of its output. Its exit status."""
        if self.process.poll() is None:
            self._signal(stop_signal)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait()
        self.output.close()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode

    def _signal(self, sent: signal.Signals) -> None:
        try:
            if self.own_process_group:
                os.killpg(self.process.pid, sent)
            else:
                self.process.send_signal(sent)
        except ProcessLookupError:
            pass  # the group is already gone (a test killed it)


def start(
    command: Sequence[str],
    ready: str | Callable[[str], bool],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log_path: Path | None = None,
    own_process_group: bool = False,
) -> StartedProcess:
    """Start ``command`` and return once a line of its output contains (or satisfies) ``ready``; the caller
    stops it (:meth:`StartedProcess.stop`). If it exits or hangs first it is stopped and :class:`ServerFailed`
    raised, with its output."""
    process = subprocess.Popen(
        list(command),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=own_process_group,
    )
    assert process.stdout is not None
    output = ProcessOutput(process.stdout, log_path)
    server = StartedProcess(process, output, "", own_process_group)
    try:
        server.ready_line = output.wait_for(ready)
    except BaseException:
        server.stop(signal.SIGKILL)
        raise
    return server


@contextmanager
def started(
    command: Sequence[str],
    ready: str | Callable[[str], bool],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log_path: Path | None = None,
    own_process_group: bool = False,
    stop_signal: signal.Signals = signal.SIGTERM,
) -> Iterator[StartedProcess]:
    """:func:`start` for a ``with`` block, stopped with ``stop_signal`` at its end."""
    server = start(command, ready, env=env, cwd=cwd, log_path=log_path, own_process_group=own_process_group)
    try:
        yield server
    finally:
        server.stop(stop_signal)


@dataclass
class ServedService:
    """A running ``dn-cds serve``: its base URL, its master process and its output (gunicorn's and the
    service's log lines)."""

    url: str
    process: subprocess.Popen[str]
    output: ProcessOutput


def service_environment(**values: str) -> dict[str, str]:
    """This process's environment without any ``DN_CDS_*`` setting, then ``values``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DN_CDS_")}
    env.update(values)
    return env


@contextmanager
def dn_cds_serve(
    settings: Mapping[str, str], *, log_path: Path | None = None, workers: int = 2
) -> Iterator[ServedService]:
    """``dn-cds serve`` on a free loopback port with ``workers`` workers and the ``DN_CDS_*`` ``settings``
    (nothing else from the developer's environment), in its own process group; returns once it announces
    itself, stops it (SIGTERM to the group) at the end."""
    port = free_port()
    env = service_environment(DN_CDS_HOST="127.0.0.1", DN_CDS_PORT=str(port), DN_CDS_WORKERS=str(workers))
    env.update(settings)
    command = [sys.executable, "-m", "cds_service", "serve"]
    with started(command, ANNOUNCE, env=env, log_path=log_path, own_process_group=True) as server:
        yield ServedService(f"http://127.0.0.1:{port}", server.process, server.output)


@contextmanager
def serving_service(
    settings: Settings, log_path: Path, workers: int = 4, env_overrides: Mapping[str, str] | None = None
) -> Iterator[ServedService]:
    """``dn-cds serve`` with the data directory, database and pseudonym key of ``settings``, for the store's
    load tests and benchmark (its URL, master process and output). Authentication is off and the log level
    WARNING unless ``env_overrides`` (``DN_CDS_*`` values) say otherwise; its output goes to ``log_path``."""
    values = {
        "DN_CDS_AUTH": "off",
        "DN_CDS_DATA_DIR": str(settings.data_dir),
        "DN_CDS_PSEUDONYM_KEY": settings.pseudonym_key,
        "DN_CDS_LOG_LEVEL": "WARNING",
        # gunicorn's metrics files beside the log (pytest removes them), also when a test SIGKILLs the server
        "PROMETHEUS_MULTIPROC_DIR": str(log_path.with_name(f"{log_path.stem}-metrics")),
    }
    if settings.database_url:
        values["DN_CDS_DATABASE_URL"] = settings.database_url
    values.update(env_overrides or {})
    with dn_cds_serve(values, log_path=log_path, workers=workers) as served:
        yield served


@contextmanager
def serving(
    settings: Settings, log_path: Path, workers: int = 4, env_overrides: Mapping[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """:func:`serving_service`, as its URL and master process."""
    with serving_service(settings, log_path, workers, env_overrides) as served:
        yield served.url, served.process
