"""Runs a Procfile's processes and keeps each one running on its own (``bin/supervise``, which
``bin/stack`` starts): a process that dies is started again after a short pause while the others go
on serving; Ctrl-C or SIGTERM stops them all.

- Each process runs ``bash -c <command>`` in the Procfile's folder, in a process group of its own,
  its output (stdout and stderr) printed line by line after its name, as honcho printed it. Bash, not
  Debian's sh: bash execs a lone command, so the pid the supervisor names is the server itself (a
  ``kill -9`` of that pid is a crash of the server, not of a shell around it).
- One that exits, whatever its status, is started again after ``--backoff`` seconds (1). An exit
  within ``QUICK_EXIT_SECONDS`` of starting doubles the pause (up to ``MAX_PAUSE_SECONDS``), and after
  ``--retries`` (5) such exits in a row the process is given up on, loudly: a restart storm is a bug
  to read about, not to hide. When every process has been given up on, the supervisor exits with 1.
- A process that dies leaves nothing behind: what remains of its process group (a Celery worker's
  pool, say) is killed before it is started again.
- SIGINT or SIGTERM sends SIGTERM to every process group, and SIGKILL to those still there after
  ``--grace`` seconds (10); a second signal kills at once. Every process also gets SIGTERM from the
  kernel if the supervisor itself dies (Linux's parent-death signal), so none is left orphaned.

It uses the standard library only. Production hosts supervise with systemd instead (deploy/systemd).
"""

import argparse
import contextlib
import ctypes
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

SHELL = shutil.which("bash") or "/bin/sh"
QUICK_EXIT_SECONDS = 10.0
MAX_PAUSE_SECONDS = 30.0
_PR_SET_PDEATHSIG = 1


@dataclass
class ProcfileEntry:
    name: str
    command: str


def procfile_read(path: Path) -> list[ProcfileEntry]:
    """The ``name: command`` lines of a Procfile, in order; blank lines and ``#`` comments skipped."""
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, colon, command = stripped.partition(":")
        if not colon or not name.strip() or not command.strip() or " " in name.strip():
            raise ValueError(f"{path}, line {number}: expected 'name: command', got {line!r}")
        entries.append(ProcfileEntry(name=name.strip(), command=command.strip()))
    if not entries:
        raise ValueError(f"{path} names no process")
    return entries


@dataclass
class Process:
    entry: ProcfileEntry
    label: str
    popen: subprocess.Popen | None = None
    started_at: float = 0.0
    quick_exits: int = 0
    restart_at: float | None = 0.0  # None: not to be started again
    given_up: bool = False


@dataclass
class OutputStream:
    """The read end of one run's output pipe; it stays open until every writer (the process and any
    children it forked) has closed it, so nothing printed before a crash is lost."""

    label: str
    fd: int
    pending: bytes = field(default=b"")


class Supervisor:
    def __init__(
        self,
        entries: list[ProcfileEntry],
        *,
        cwd: Path,
        grace: float = 10.0,
        backoff: float = 1.0,
        retries: int = 5,
        out=None,
    ):
        self.processes = [Process(entry=entry, label=f"{entry.name}.1") for entry in entries]
        self.cwd = cwd
        self.grace = grace
        self.backoff = backoff
        self.retries = retries
        self.out = out or sys.stdout
        self.width = max(len("supervise"), *(len(process.label) for process in self.processes))
        self.selector = selectors.DefaultSelector()
        self.signals: list[int] = []

    # Output

    def emit(self, label: str, text: str) -> None:
        self.out.write(f"{time.strftime('%H:%M:%S')} {label:<{self.width}} | {text}\n")
        self.out.flush()

    def say(self, text: str) -> None:
        self.emit("supervise", text)

    def read(self, stream: OutputStream) -> None:
        try:
            chunk = os.read(stream.fd, 65536)
        except BlockingIOError:
            return
        if chunk:
            *lines, stream.pending = (stream.pending + chunk).split(b"\n")
            for line in lines:
                self.emit(stream.label, line.decode(errors="replace").rstrip("\r"))
            return
        if stream.pending:
            self.emit(stream.label, stream.pending.decode(errors="replace"))
        self.selector.unregister(stream.fd)
        os.close(stream.fd)

    def pump(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            if isinstance(key.data, OutputStream):
                self.read(key.data)
            else:  # the wake-up pipe of a signal: its bytes are the signals' numbers
                with contextlib.suppress(BlockingIOError):
                    self.signals.extend(os.read(key.fd, 64))

    # Processes

    def start(self, process: Process) -> None:
        read_end, write_end = os.pipe()
        supervisor_pid = os.getpid()

        def in_child():
            _die_with(supervisor_pid)

        process.popen = subprocess.Popen(  # noqa: S603 - the Procfile is the project's own
            [SHELL, "-c", process.entry.command],
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=write_end,
            start_new_session=True,
            preexec_fn=in_child,  # one thread here, so a function between fork and exec is safe
        )
        os.close(write_end)
        os.set_blocking(read_end, False)
        self.selector.register(read_end, selectors.EVENT_READ, OutputStream(process.label, read_end))
        process.started_at = time.monotonic()
        process.restart_at = None
        self.say(f"{process.label} started (pid {process.popen.pid}): {process.entry.command}")

    def reap(self, process: Process) -> bool:
        """Whether the process has exited (its leftovers are then killed and its exit logged)."""
        if process.popen is None or process.popen.poll() is None:
            return False
        _group_kill(process.popen.pid)
        code = process.popen.returncode
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        self.say(f"{process.label} {how} (pid {process.popen.pid})")
        process.popen = None
        return True

    def schedule_restart(self, process: Process) -> None:
        ran_for = time.monotonic() - process.started_at
        process.quick_exits = process.quick_exits + 1 if ran_for < QUICK_EXIT_SECONDS else 0
        if process.quick_exits >= self.retries:
            process.given_up = True
            self.say(
                f"{process.label} exited {process.quick_exits} times in a row within "
                f"{QUICK_EXIT_SECONDS:g} s of starting: not starting it again (its output is above); "
                "the others keep running"
            )
            return
        pause = min(self.backoff * 2**process.quick_exits, MAX_PAUSE_SECONDS)
        process.restart_at = time.monotonic() + pause
        self.say(f"{process.label} starts again in {pause:g} s")

    def run(self) -> int:
        """Supervises until a signal (then returns 0) or until every process is given up on (1)."""
        wake_read, wake_write = os.pipe()
        for end in (wake_read, wake_write):
            os.set_blocking(end, False)
        self.selector.register(wake_read, selectors.EVENT_READ, None)
        previous_wakeup = signal.set_wakeup_fd(wake_write)
        # The handlers do nothing: the wake-up pipe carries the signal's number to the loop.
        handlers = {
            number: signal.signal(number, lambda *_: None) for number in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            while not self.signals:
                now = time.monotonic()
                for process in self.processes:
                    if process.restart_at is not None and process.restart_at <= now:
                        self.start(process)
                    elif self.reap(process):
                        self.schedule_restart(process)
                if all(process.given_up for process in self.processes):
                    self.say("every process has been given up on; stopping")
                    self.stop()
                    return 1
                self.pump(timeout=0.2)
            self.say(f"{signal.Signals(self.signals[0]).name} received: stopping every process")
            self.stop()
            return 0
        finally:
            for number, handler in handlers.items():
                signal.signal(number, handler)
            signal.set_wakeup_fd(previous_wakeup)
            for end in (wake_read, wake_write):
                os.close(end)

    def stop(self) -> None:
        """SIGTERM to every running process group; SIGKILL to what is left after the grace period or
        at a second signal; then the rest of their output."""
        running = [process for process in self.processes if process.popen is not None]
        for process in running:
            _signal_group(process.popen.pid, signal.SIGTERM)
        signals_before = len(self.signals)
        deadline = time.monotonic() + self.grace
        killed = False
        while any(process.popen is not None for process in running):
            if not killed and (time.monotonic() >= deadline or len(self.signals) > signals_before):
                left = [process for process in running if process.popen is not None]
                self.say(f"sending SIGKILL to {', '.join(process.label for process in left)}")
                for process in left:
                    _signal_group(process.popen.pid, signal.SIGKILL)
                killed = True
            for process in running:
                self.reap(process)
            self.pump(timeout=0.1)
        # The last lines; a process that left its group (a daemon) may hold its pipe open for good.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and any(
            isinstance(key.data, OutputStream) for key in self.selector.get_map().values()
        ):
            self.pump(timeout=0.1)


def _signal_group(group: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, number)


def _group_kill(group: int, *, timeout: float = 2.0) -> None:
    """SIGKILL to what is left of a process group, and a short wait until it is gone (its processes
    are orphans by now, reaped by init), so nothing of it outlives the supervisor's word."""
    _signal_group(group, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)


def _die_with(parent_pid: int) -> None:
    """In a child before exec: SIGTERM when the supervisor dies, even by SIGKILL (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bin/supervise", description="Run a Procfile's processes, each started again when it dies."
    )
    parser.add_argument("procfile", nargs="?", default="Procfile", type=Path)
    parser.add_argument("--grace", type=float, default=10.0, help="seconds from SIGTERM to SIGKILL (10)")
    parser.add_argument("--backoff", type=float, default=1.0, help="first pause before a restart (1 s)")
    parser.add_argument("--retries", type=int, default=5, help="quick exits in a row before giving up (5)")
    arguments = parser.parse_args(argv)
    try:
        entries = procfile_read(arguments.procfile)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    supervisor = Supervisor(
        entries,
        cwd=arguments.procfile.resolve().parent,
        grace=arguments.grace,
        backoff=arguments.backoff,
        retries=arguments.retries,
    )
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
