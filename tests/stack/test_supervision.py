"""bin/stack under its supervisor (bin/supervise, core.supervisor): a process that dies is started
again on its own while the others keep serving, a process that keeps dying at once is given up on,
a stop leaves no process behind, and the stack starts again at once on the port it just left.

The supervisor's own tests run a Procfile of shell loops (any database); the full stack's run
bin/stack itself on the test database and the test's own Redis server (PostgreSQL only)."""

import contextlib
import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from .processes import PROJECT, free_port, wait_until

STARTED = re.compile(r"supervise +\| (\S+)\.1 started \(pid (\d+)\)")


class Supervised:
    """``bin/stack`` or ``bin/supervise`` as a process of the test's, its output in a file."""

    def __init__(self, argv: list[str], *, env: dict, log_path: Path):
        self.log_path = log_path
        log = open(log_path, "ab")  # noqa: SIM115 - the process keeps it
        self.process = subprocess.Popen(
            argv, cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def started(self) -> list[tuple[str, int]]:
        """(name, pid) of every start, in order."""
        return [(name, int(pid)) for name, pid in STARTED.findall(self.output())]

    def pid(self, name: str) -> int | None:
        pids = [pid for started, pid in self.started() if started == name]
        return pids[-1] if pids else None

    def new_pid(self, name: str, *, other_than: int, timeout: float) -> int:
        return wait_until(
            lambda: (self.pid(name) not in (None, other_than)) and self.pid(name),
            timeout=timeout,
            message=f"{name} to be started again\n{self.output()}",
        )

    def stop(self, number: int = signal.SIGTERM, *, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(number)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """The test's last word: whatever is left of it and its children (a failing test's)."""
        for _, pid in self.started():
            _signal_group(pid, signal.SIGKILL)
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def printed(output: str, name: str, text: str) -> int:
    """How many lines of ``output`` are ``text`` printed by process ``name`` (after its prefix)."""
    return len(re.findall(rf"^\S+ {re.escape(name)}\.1 +\| {re.escape(text)}", output, re.MULTILINE))


def _signal_group(group: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, number)


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@pytest.fixture
def supervise(tmp_path):
    """Runs ``bin/supervise`` on a Procfile written by the test, with short pauses."""
    running = []

    def start(procfile: str, *options: str) -> Supervised:
        path = tmp_path / "Procfile"
        path.write_text(procfile)
        supervised = Supervised(
            [str(PROJECT / "bin" / "supervise"), str(path), *options],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            log_path=tmp_path / "supervise.log",
        )
        running.append(supervised)
        return supervised

    yield start
    for supervised in running:
        supervised.kill()


def test_it_starts_a_dying_process_again_and_gives_up_on_a_storm_while_the_others_run(supervise):
    supervised = supervise(
        "steady: while true; do echo tick; sleep 0.2; done\ncrashing: echo boom; exit 3\n",
        "--backoff",
        "0.05",
        "--retries",
        "4",
    )

    wait_until(
        lambda: "crashing.1 exited 4 times in a row" in supervised.output(),
        timeout=30,
        message=f"the supervisor to give up\n{supervised.output()}",
    )
    output = supervised.output()
    starts = supervised.started()
    assert [name for name, _ in starts].count("crashing") == 4, output
    # A pause before each restart, doubled after each quick exit: 0.1 s, 0.2 s, 0.4 s.
    assert re.findall(r"crashing\.1 starts again in (\S+) s", output) == ["0.1", "0.2", "0.4"], output
    assert printed(output, "crashing", "boom") == 4, output  # prefixed by the process's name
    steady = supervised.pid("steady")
    assert [name for name, _ in starts].count("steady") == 1, output
    assert group_alive(steady)
    ticks = printed(output, "steady", "tick")
    wait_until(lambda: printed(supervised.output(), "steady", "tick") > ticks, timeout=10, message="ticks")
    assert supervised.process.poll() is None  # still supervising what it has not given up on

    assert supervised.stop() == 0
    assert not group_alive(steady)


def test_a_stop_terminates_every_process_then_kills_what_ignores_it_and_leaves_no_orphan(supervise):
    supervised = supervise(
        # A process that forks a child of its own, and one that shrugs off SIGTERM.
        "parent: sleep 300 & echo child $!; wait\n"
        "stubborn: trap 'echo ignoring TERM' TERM; echo ready; while true; do sleep 0.1; done\n",
        "--grace",
        "1",
    )
    wait_until(
        lambda: "| child " in supervised.output() and printed(supervised.output(), "stubborn", "ready"),
        timeout=30,
        message=f"both processes\n{supervised.output()}",
    )
    child = int(re.search(r"\| child (\d+)", supervised.output()).group(1))
    groups = [pid for _, pid in supervised.started()]

    began = time.monotonic()
    assert supervised.stop() == 0
    stopped_in = time.monotonic() - began

    output = supervised.output()
    assert "ignoring TERM" in output  # SIGTERM first…
    assert "sending SIGKILL to stubborn.1" in output  # …then SIGKILL once the grace period is over
    assert 1 <= stopped_in < 6, stopped_in  # --grace 1; the bound leaves room for a busy machine
    assert not any(group_alive(group) for group in groups), output
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


def test_it_refuses_a_port_that_a_server_listens_on(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        started = subprocess.run(
            [str(PROJECT / "bin" / "stack")],
            env={**os.environ, "PORT": str(port), "NEXEVO_SETUP": "0"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert started.returncode == 1
    assert f"Port {port} on 127.0.0.1 is taken; choose another" in started.stderr


# The full stack


@pytest.fixture
def full_stack(stack, tmp_path):
    """Starts ``bin/stack`` on the test database, the test's own Redis server and the given port."""
    running = []

    def start(port: int) -> Supervised:
        supervised = Supervised(
            [str(PROJECT / "bin" / "stack")],
            env={
                **stack.env,
                "PORT": str(port),
                "NEXEVO_SETUP": "0",
                "CELERY_CONCURRENCY": "1",
                "NEXEVO_WORKER_HEARTBEAT_SECONDS": "1",
            },
            log_path=tmp_path / f"stack-{len(running)}.log",
        )
        running.append(supervised)
        return supervised

    yield start
    for supervised in running:
        supervised.kill()


def healthz(base_url: str) -> dict | None:
    try:
        answer = httpx.get(f"{base_url}/healthz", timeout=5)
    except httpx.HTTPError:
        return None
    return answer.json() if answer.status_code == 200 else None


def serving(supervised: Supervised, base_url: str, *, timeout: float) -> dict:
    """/healthz's 200: the web server answers, with the database, Redis and a worker's heartbeat."""

    def healthy():
        assert supervised.process.poll() is None, supervised.output()
        return healthz(base_url)

    return wait_until(healthy, timeout=timeout, message=f"the stack to serve\n{supervised.output()}")


class Prober(threading.Thread):
    """Asks /healthz every 0.1 s and counts the times the web server did not answer at all."""

    def __init__(self, base_url: str):
        super().__init__(daemon=True)
        self.base_url = base_url
        self.answered = 0
        self.unanswered = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                httpx.get(f"{self.base_url}/healthz", timeout=5)
                self.answered += 1
            except httpx.HTTPError:
                self.unanswered += 1
            self.done.wait(0.1)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.join()


def test_a_killed_process_comes_back_while_the_others_serve_and_a_stop_frees_the_port_at_once(full_stack):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    supervised = full_stack(port)
    serving(supervised, base_url, timeout=120)
    pids = {name: supervised.pid(name) for name in ("web", "worker", "beat", "recorder")}
    # The pids the supervisor names are the servers themselves (the Procfile's bin/ scripts exec).
    assert "uvicorn" in command_line(pids["web"])
    assert "celery" in command_line(pids["worker"])
    assert "recordusage" in command_line(pids["recorder"])

    # The recorder: the web server answers throughout; nothing else is started again.
    with Prober(base_url) as prober:
        os.kill(pids["recorder"], signal.SIGKILL)
        recorder = supervised.new_pid("recorder", other_than=pids["recorder"], timeout=30)
        wait_until(
            lambda: printed(supervised.output(), "recorder", "Recording the usage journal") == 2,
            timeout=60,
            message=f"the new recorder\n{supervised.output()}",
        )
    assert prober.answered > 0 and prober.unanswered == 0
    assert {name: supervised.pid(name) for name in ("web", "worker", "beat")} == {
        name: pids[name] for name in ("web", "worker", "beat")
    }

    # The worker: its new self beats (/healthz reads the heartbeat) while the web server answers.
    with Prober(base_url) as prober:
        killed_at = datetime.now(UTC).replace(microsecond=0)
        os.kill(pids["worker"], signal.SIGKILL)
        worker = supervised.new_pid("worker", other_than=pids["worker"], timeout=30)

        def beating_again():
            health = healthz(base_url)
            return health and datetime.fromisoformat(health["worker"]["last_heartbeat"]) > killed_at

        wait_until(beating_again, timeout=60, message=f"the new worker's heartbeat\n{supervised.output()}")
    assert prober.answered > 0 and prober.unanswered == 0
    assert not group_alive(pids["worker"])  # its pool went with it
    assert (supervised.pid("web"), supervised.pid("recorder")) == (pids["web"], recorder)

    # The web server: down for the pause and its start, then serving again; the rest untouched.
    os.kill(pids["web"], signal.SIGKILL)
    web = supervised.new_pid("web", other_than=pids["web"], timeout=30)
    with httpx.Client(base_url=base_url, timeout=10) as client:
        serving(supervised, base_url, timeout=60)
        assert "uvicorn" in command_line(web)
        assert (supervised.pid("worker"), supervised.pid("recorder"), supervised.pid("beat")) == (
            worker,
            recorder,
            pids["beat"],
        )
        assert group_alive(worker) and group_alive(recorder)

        # A stop while this keep-alive connection is open: the server closes it, which leaves the
        # connection in TIME_WAIT on the port for a minute. Every process goes.
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
        assert supervised.stop() == 0
    assert not any(group_alive(pid) for _, pid in supervised.started()), supervised.output()
    with socket.socket() as plain, pytest.raises(OSError) as refused:
        plain.bind(("127.0.0.1", port))
    assert refused.value.errno == errno.EADDRINUSE, "no TIME_WAIT left: the test no longer shows the case"

    # Started again at once on the same port, it serves (before, it exited with "Port … is taken").
    began = time.monotonic()
    again = full_stack(port)
    serving(again, base_url, timeout=90)
    # Migrations, then the four processes' start: about 20 s on a busy 2-core machine, less on a
    # quiet one; the bound leaves a busy machine's margin.
    assert time.monotonic() - began < 60
    assert "is taken" not in again.output()


# Production: deploy/systemd

UNITS = PROJECT / "deploy" / "systemd"
INSTALLED_AT = "/srv/nexevo"


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_every_procfile_process_has_a_unit_that_starts_it_through_the_same_script():
    procfile = {
        name.strip(): command.split()[0]
        for name, _, command in (
            line.partition(":")
            for line in (PROJECT / "Procfile").read_text().splitlines()
            if line.strip() and not line.startswith("#")
        )
    }
    units = {path.name: unit_settings(path) for path in UNITS.glob("*.service")}
    assert {name.split(".")[0].removeprefix("nexevo-").rstrip("@") for name in units} == {
        *procfile,
        "prepare",
    }

    for name, settings in units.items():
        (command,) = settings["ExecStart"]
        program = command.split()[0]
        assert program.startswith(f"{INSTALLED_AT}/bin/"), name
        script = PROJECT / program.removeprefix(f"{INSTALLED_AT}/")
        assert script.is_file() and os.access(script, os.X_OK), name
        assert settings["EnvironmentFile"] == ["/etc/nexevo/nexevo.env"], name
        assert settings["WorkingDirectory"] == [INSTALLED_AT], name
        process = name.split(".")[0].removeprefix("nexevo-").rstrip("@")
        if process != "prepare":  # the long-running ones, each restarted on its own
            assert program.removeprefix(f"{INSTALLED_AT}/") == procfile[process], name
            assert settings["Restart"] == ["always"], name
            assert "nexevo-prepare.service" in settings["Requires"], name
    assert units["nexevo-web@.service"]["ExecStart"] == [f"{INSTALLED_AT}/bin/web --host 127.0.0.1 --port %i"]


def test_systemd_finds_nothing_wrong_with_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("needs systemd-analyze (Debian's systemd package)")
    # The units as installed from this checkout, so that systemd can check their ExecStart.
    for path in [*UNITS.glob("*.service"), *UNITS.glob("*.target")]:
        text = path.read_text().replace(INSTALLED_AT, str(PROJECT))
        (tmp_path / path.name).write_text(
            text.replace("/etc/nexevo/nexevo.env", str(UNITS / "nexevo.env.example"))
        )
    units = sorted(path.name for path in tmp_path.iterdir() if not path.name.endswith("@.service"))

    verified = subprocess.run(
        [analyze, "verify", "--man=no", *units, "nexevo-web@8001.service", "nexevo-web@8002.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert verified.returncode == 0, verified.stderr
    assert verified.stderr == "", verified.stderr  # not even a warning (an unknown key, say)
