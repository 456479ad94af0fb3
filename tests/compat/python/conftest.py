"""Shared fixtures for the Python compatibility suite.

The runner (tests/compat/runner.py) starts the servers and passes their addresses in
`LATCHKEY_ADDRS` (and their process ids in `LATCHKEY_PIDS`). Each test module names the library
it drives with `pytestmark = pytest.mark.lib(...)`; a test marked `requires("evalsha", ...)` is
skipped, with the reason, when the running server's `COMMAND INFO` does not know one of those
commands, so it starts running by itself once the command lands.

At the end every test's result is printed as one `compat-result:` line the runner reads.
"""

import os
import socket
import threading
import time
import uuid

import pytest

_command_cache = {}
_results = {}


def addrs():
    raw = os.environ.get("LATCHKEY_ADDRS", "")
    if not raw:
        pytest.exit("LATCHKEY_ADDRS is not set: run the suite through tests/compat/run.sh", 2)
    return [(host, int(port)) for host, port in (a.rsplit(":", 1) for a in raw.split(","))]


def pids():
    return [int(p) for p in os.environ.get("LATCHKEY_PIDS", "").split(",") if p]


def server_knows(command):
    """Whether the first server's `COMMAND INFO <command>` has an entry (not a nil)."""
    command = command.lower()
    if command not in _command_cache:
        host, port = addrs()[0]
        name = command.encode()
        request = b"*3\r\n$7\r\nCOMMAND\r\n$4\r\nINFO\r\n$%d\r\n%s\r\n" % (len(name), name)
        with socket.create_connection((host, port), timeout=5) as conn:
            conn.sendall(request)
            reply = b""
            while len(reply) < 9:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                reply += chunk
        # Unknown: `*1\r\n*-1\r\n` (RESP2 nil array); known: `*1\r\n*10\r\n...`.
        _command_cache[command] = reply.startswith(b"*1\r\n*") and not reply.startswith(
            b"*1\r\n*-1\r\n")
    return _command_cache[command]


def pytest_runtest_setup(item):
    for marker in item.iter_markers("requires"):
        missing = [c for c in marker.args if not server_knows(c)]
        if missing:
            pytest.skip(f"requires {', '.join(missing)} (not in the server's COMMAND INFO)")


def pytest_runtest_logreport(report):
    entry = _results.setdefault(report.nodeid, {"status": "not run", "reason": ""})
    if report.failed:
        entry["status"] = "failed"
    elif report.when == "call" and report.passed and entry["status"] == "not run":
        entry["status"] = "passed"
    elif report.skipped and entry["status"] != "failed":
        entry["status"] = "skipped"
        longrepr = report.longrepr
        entry["reason"] = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)


def pytest_collection_modifyitems(items):
    for item in items:
        marker = item.get_closest_marker("lib")
        _results.setdefault(item.nodeid, {"status": "not run", "reason": ""})["lib"] = (
            marker.args[0] if marker else "?")


def pytest_terminal_summary(terminalreporter):
    write = terminalreporter.write_line
    counts = {"passed": 0, "skipped": 0, "failed": 0}
    for nodeid, entry in _results.items():
        if "lib" not in entry:
            continue
        if entry["status"] == "not run":  # the session ended before it ran
            entry["status"] = "failed"
        counts[entry["status"]] += 1
        test = nodeid.split("::", 1)[-1]
        reason = entry["reason"].removeprefix("Skipped: ")
        suffix = f" :: {reason}" if entry["status"] == "skipped" else ""
        write(f"compat-result: {entry['status']} [{entry['lib']}] {test}{suffix}")
    write(f"python suite: {counts['passed']} passed, {counts['failed']} failed, "
          f"{counts['skipped']} skipped")


@pytest.fixture
def key(request):
    """A key name unique to this test run, so tests never see each other's keys."""
    return f"compat:{request.node.name}:{uuid.uuid4().hex[:8]}"


@pytest.fixture
def servers():
    return addrs()


class Counter:
    """A counter kept outside latchkey, in a file, updated by a deliberate read-sleep-write:
    two holders overlapping inside the lock lose an increment, so the final value proves
    mutual exclusion. `inside`/`max_inside` count overlapping holders directly as well."""

    def __init__(self, path):
        self.path = path
        with open(path, "w") as f:
            f.write("0")
        self._guard = threading.Lock()
        self.inside = 0
        self.max_inside = 0

    def increment(self, pause_s=0.002):
        with self._guard:
            self.inside += 1
            self.max_inside = max(self.max_inside, self.inside)
        with open(self.path) as f:
            value = int(f.read())
        time.sleep(pause_s)
        with open(self.path, "w") as f:
            f.write(str(value + 1))
        with self._guard:
            self.inside -= 1

    def value(self):
        with open(self.path) as f:
            return int(f.read())


def run_workers(count, target):
    """Runs `target(index)` on `count` threads and re-raises the first error."""
    errors = []

    def wrapped(index):
        try:
            target(index)
        except BaseException as error:  # noqa: BLE001 - reported to the test
            errors.append(error)

    threads = [threading.Thread(target=wrapped, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a worker did not finish within 120 s"
    if errors:
        raise errors[0]


@pytest.fixture
def counter(tmp_path):
    return Counter(str(tmp_path / "counter"))
