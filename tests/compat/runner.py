#!/usr/bin/env python3
"""The compatibility suite's runner: one fresh set of latchkey servers per suite.

For each suite it starts `target/release/latchkey --port 0` a few times (Redlock suites need
three independent instances, plus a spare that a test may stop), reads each port from the start
line `latchkey listening on 127.0.0.1:PORT`, runs the suite with the addresses in
`LATCHKEY_ADDRS` and the process ids in `LATCHKEY_PIDS`, then stops every server by its pid.

Every test reports one result (passed, skipped with a reason, failed) under the name of the
library it drives; tests that need a command the running server lacks are skipped, the check
being `COMMAND INFO <cmd>` against that server, so they run by themselves once it lands.

The runner prints each suite's counts, the compatibility table (library, version, what is
tested, result) that docs/compatibility.md carries, checks that page's table lists every library
with its pinned version, and ends with `compat: N passed, N failed, N skipped`. It exits non-zero when any
suite failed, any server did not start, crashed, or did not stop cleanly.

Standard library only: it runs before the virtualenv exists.
"""

import argparse
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPAT = os.path.join(ROOT, "tests", "compat")
VENV = os.path.join(ROOT, "target", "compat-venv")
LOGS = os.path.join(ROOT, "target", "compat-logs")
START_LINE = re.compile(rb"^latchkey listening on 127\.0\.0\.1:(\d+)\s*$")
RESULT_LINE = re.compile(r"^compat-result: (passed|skipped|failed) \[([^\]]+)\] (.*)$")
TAP_LINE = re.compile(r"^(ok|not ok) \d+ - (.*?)(?: # (SKIP|TODO)\b ?(.*))?$")
TEST_NAME = re.compile(r"^([^:]+): (.*)$")

# What the compatibility table (docs/compatibility.md) says about each library: (name, source of
# its version, what is tested). The source is "pypi:<name>" (tests/compat/python/requirements.txt),
# "npm:<name>" (tests/compat/node/package.json; a `file:` dependency takes the version in that
# folder's package.json), "crate:<name>" (Cargo.lock), "local:python" (latchkey's own Python
# package, versioned as the crate) or "deb:<program>" (the installed Debian package, whose
# version the runner reads at run time).
LIBRARIES = [
    ("redis-py", "pypi:redis",
     "`Lock` and `redis.asyncio.lock.Lock`: blocking/non-blocking acquire, timeout, extend, "
     "reacquire, `LockNotOwnedError`, RESP2 and RESP3; `Script` EVALSHA→NOSCRIPT→load; "
     "mutual exclusion"),
    ("python-redis-lock", "pypi:python-redis-lock",
     "`Lock` with expire, extend, auto-renewal, a blocked `acquire()` woken by the release, "
     "`reset_all`, mutual exclusion"),
    ("pottery", "pypi:pottery",
     "`Redlock` over three instances: acquire, extend, release, quorum with one instance stopped, "
     "mutual exclusion"),
    ("aioredlock", "pypi:aioredlock",
     "`Aioredlock` over three instances: lock, extend, unlock, is_locked, contention"),
    ("redlock", "npm:redlock",
     "v4 with ioredis over three instances: acquire, extend, release, NOSCRIPT→EVAL fallback, "
     "mutual exclusion"),
    ("@sesamecare-oss/redlock", "npm:@sesamecare-oss/redlock",
     "acquire, extend, release, `using` with auto-extension, three instances, mutual exclusion"),
    ("ioredis", "npm:ioredis",
     "RESP2 lock flow: `SET NX PX`, contention, `DELIFEQ`/`DELEX`, extend, pipelining"),
    ("redis-semaphore", "npm:redis-semaphore",
     "`Mutex`, `Semaphore`, `MultiSemaphore`: acquire, tryAcquire, release, limits"),
    ("node-redis", "npm:redis",
     "RESP2 and RESP3: `SET NX PX`, release by `DELEX` and by script, mutual exclusion"),
    ("redis (Rust)", "crate:redis",
     "RESP2 and RESP3: lock flow, `Script` with EVALSHA→SCRIPT LOAD recovery, mutual exclusion"),
    ("rslock", "crate:rslock",
     "`LockManager` over three instances: lock, extend, unlock, guard, mutual exclusion"),
    ("latchkey (Python package)", "local:python",
     "`pip install ./python` into the suite's venv: the installed binary, `Server` and "
     "`AsyncServer` with redis-py's sync and asyncio clients, the pytest `latchkey` fixture "
     "(flushed per test, `advance`)"),
    ("latchkey-server", "npm:latchkey-server",
     "`js/` installed with npm: `startLatchkey()` with node-redis and ioredis, a lock taken and "
     "released, `advance`, `flushall`, password, `stop`"),
    ("redis-cli", "deb:redis-cli",
     "scripted session with exact replies, `--pipe` bulk load"),
    ("redis-benchmark", "deb:redis-benchmark",
     "smoke runs: `-t set,get`, `SET lock:__rand_int__ tok NX PX 30000`, EVALSHA"),
]


@dataclass
class Suite:
    name: str
    command: list
    cwd: str
    instances: int
    parse: str  # "results" (compat-result lines) or "tap"


@dataclass
class Outcome:
    suite: str
    results: list = field(default_factory=list)  # (status, library, test, reason)
    problems: list = field(default_factory=list)  # suite-level failures (server, exit code)
    seconds: float = 0.0

    def count(self, status):
        return sum(1 for r in self.results if r[0] == status)

    @property
    def failed(self):
        return self.count("failed") + len(self.problems)


def suites():
    python = os.path.join(VENV, "bin", "python")
    return {
        "python": Suite("python", [python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                   os.path.join(COMPAT, "python")], ROOT, 4, "results"),
        "node": Suite("node", ["node", "--test", "--test-reporter=tap", "--test-concurrency=1",
                               "--test-timeout=120000"],
                      os.path.join(COMPAT, "node"), 4, "tap"),
        # The client side builds in the test profile (already built by `cargo test`); the
        # servers it talks to are the release binary.
        "rust": Suite("rust", ["cargo", "test", "--quiet", "--test", "compat_rust"],
                      ROOT, 3, "results"),
        "tools": Suite("tools", ["bash", os.path.join(COMPAT, "tools", "run.sh")], ROOT, 1,
                       "results"),
    }


class ServerProcess:
    """One `latchkey --port 0` child, with its port read from the start line.

    With `reference=True` it is a real `redis-server` instead (on a free port the runner
    picks), to check that the suite's expectations hold against Redis itself."""

    def __init__(self, binary, log_path, reference=False):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        if reference:
            port = free_port()
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--daemonize", "no"],
                stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
            self.port = port
            wait_for_port(port, self)
            return
        self.proc = subprocess.Popen([binary, "--port", "0", "--bind", "127.0.0.1"],
                                     stdout=subprocess.PIPE, stderr=self.log,
                                     stdin=subprocess.DEVNULL)
        self.port = self._read_port(timeout_s=15)

    def _read_port(self, timeout_s):
        deadline = time.monotonic() + timeout_s
        line = b""
        while time.monotonic() < deadline and not line.endswith(b"\n"):
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                byte = os.read(self.proc.stdout.fileno(), 1)
                if not byte:
                    break
                line += byte
            elif self.proc.poll() is not None:
                break
        match = START_LINE.match(line)
        if not match:
            self.stop()
            raise RuntimeError(f"no start line from latchkey (got {line!r}); see {self.log_path}")
        return int(match.group(1))

    def stop(self):
        """SIGTERM, then a bounded wait; returns a problem description or None."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
                self.log.close()
                return f"server pid {self.proc.pid} did not stop within 15 s of SIGTERM"
        self.log.close()
        if self.proc.returncode != 0:
            return (f"server pid {self.proc.pid} exited with {self.proc.returncode} "
                    f"(see {self.log_path})")
        return None


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, server, timeout_s=15):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if server.proc.poll() is not None:
                break
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"redis-server did not start on port {port}; see {server.log_path}")


def parse_results(output, kind):
    results = []
    if kind == "results":
        for line in output.splitlines():
            match = RESULT_LINE.match(line.strip())
            if match:
                status, library, rest = match.groups()
                test, _, reason = rest.partition(" :: ")
                results.append((status, library, test, reason))
        return results
    for line in output.splitlines():
        # Test names are "library: what"; other TAP lines (a file's own entry) count only
        # when they fail, e.g. a file that does not load.
        match = TAP_LINE.match(line.strip())
        if not match:
            continue
        ok, name, directive, reason = match.groups()
        name = name.replace("\\#", "#")
        named = TEST_NAME.match(name)
        if not named and ok == "ok":
            continue
        library, test = named.groups() if named else ("?", name)
        if directive == "SKIP":
            results.append(("skipped", library, test, reason or ""))
        elif ok == "ok":
            results.append(("passed", library, test, ""))
        else:
            results.append(("failed", library, test, ""))
    return results


def run_suite(suite, binary, reference=False):
    outcome = Outcome(suite.name)
    servers = []
    started = time.monotonic()
    print(f"\n=== suite {suite.name} ===", flush=True)
    try:
        for index in range(suite.instances):
            log_path = os.path.join(LOGS, f"{suite.name}-{index}.log")
            servers.append(ServerProcess(binary, log_path, reference))
    except (RuntimeError, OSError) as error:
        outcome.problems.append(str(error))
    if not outcome.problems:
        env = dict(os.environ)
        env["LATCHKEY_ADDRS"] = ",".join(f"127.0.0.1:{s.port}" for s in servers)
        env["LATCHKEY_PIDS"] = ",".join(str(s.proc.pid) for s in servers)
        # The Python package's tests run the binary `pip install ./python` put in the venv;
        # every other suite gets the release build.
        if suite.name != "python":
            env["LATCHKEY_BIN"] = binary
        else:
            env.pop("LATCHKEY_BIN", None)
        env["PYTHONUNBUFFERED"] = "1"
        print(f"servers: {env['LATCHKEY_ADDRS']} (pids {env['LATCHKEY_PIDS']})", flush=True)
        output = run_command(suite, env, outcome)
        outcome.results = parse_results(output, suite.parse)
        if not outcome.results:
            outcome.problems.append("the suite reported no results")
    for server in servers:
        problem = server.stop()
        if problem:
            outcome.problems.append(problem)
    outcome.seconds = time.monotonic() - started
    for problem in outcome.problems:
        print(f"suite {suite.name}: FAILED: {problem}", flush=True)
    print(f"suite {suite.name}: {outcome.count('passed')} passed, {outcome.failed} failed, "
          f"{outcome.count('skipped')} skipped ({outcome.seconds:.0f} s)", flush=True)
    return outcome


def run_command(suite, env, outcome, timeout_s=900):
    """Runs the suite's command, echoing its output, and returns that output."""
    proc = subprocess.Popen(suite.command, cwd=suite.cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    chunks = []
    deadline = time.monotonic() + timeout_s
    while True:
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            outcome.problems.append(f"the suite ran past {timeout_s} s and was stopped")
            break
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            data = os.read(proc.stdout.fileno(), 65536)
            if not data:
                break
            chunks.append(data)
            sys.stdout.write(data.decode("utf-8", "replace"))
            sys.stdout.flush()
    code = proc.wait(timeout=30)
    if code != 0:
        outcome.problems.append(f"the suite's command exited with {code}")
    return b"".join(chunks).decode("utf-8", "replace")


# --- versions and the compatibility table -------------------------------------------------

def pinned_versions():
    """Library versions as the project pins them: registry:name -> version."""
    versions = {}
    with open(os.path.join(COMPAT, "python", "requirements.txt")) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                name, version = line.split("==", 1)
                versions[f"pypi:{name.strip().lower()}"] = version.strip()
    with open(os.path.join(COMPAT, "node", "package.json")) as f:
        for name, version in json.load(f).get("dependencies", {}).items():
            if version.startswith("file:"):
                folder = os.path.join(COMPAT, "node", version[len("file:"):])
                with open(os.path.join(folder, "package.json")) as package:
                    version = json.load(package)["version"]
            versions[f"npm:{name}"] = version
    versions["local:python"] = crate_version()
    with open(os.path.join(ROOT, "Cargo.lock")) as f:
        lock = f.read()
    for name, version in re.findall(r'\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"',
                                    lock):
        # Several versions of one crate may be locked; the table names the one the project
        # declares (redis) or the only one (rslock).
        versions.setdefault(f"crate:{name}", []).append(version)
    declared = declared_crate_versions()
    for name, versions_locked in list(versions.items()):
        if not name.startswith("crate:"):
            continue
        wanted = declared.get(name[len("crate:"):])
        chosen = [v for v in versions_locked if wanted and v.startswith(wanted)]
        versions[name] = (chosen or versions_locked)[0]
    for program in ("redis-cli", "redis-benchmark"):
        versions[f"deb:{program}"] = tool_version(program)
    return versions


def crate_version():
    """latchkey's own version (the workspace's, in Cargo.toml), which the Python package takes."""
    with open(os.path.join(ROOT, "Cargo.toml")) as f:
        match = re.search(r'^version = "([^"]+)"', f.read(), re.M)
    return match.group(1) if match else "?"


def declared_crate_versions():
    """`name = "x.y"` requirements from Cargo.toml's dev-dependencies."""
    declared = {}
    with open(os.path.join(ROOT, "Cargo.toml")) as f:
        text = f.read()
    for name, version in re.findall(r'^(redis|rslock)\s*=\s*\{[^}]*version\s*=\s*"([^"]+)"',
                                    text, re.M):
        declared[name] = version.lstrip("=^~")
    return declared


def tool_version(program):
    path = shutil.which(program)
    if not path:
        return "not installed"
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    match = re.search(r"(\d+\.\d+\.\d+)", out)
    return f"{match.group(1)} (Debian redis-tools)" if match else "unknown"


def table(outcomes, versions):
    by_library = {}
    for outcome in outcomes:
        for status, library, _, _ in outcome.results:
            counts = by_library.setdefault(library, {"passed": 0, "skipped": 0, "failed": 0})
            counts[status] += 1
    lines = ["| library | version | what is tested | result |", "|---|---|---|---|"]
    for name, source, tested in LIBRARIES:
        counts = by_library.get(name)
        if counts is None:
            result = "not run"
        else:
            result = f"{counts['passed']} passed, {counts['failed']} failed"
            if counts["skipped"]:
                result += f", {counts['skipped']} skipped (need commands not yet built)"
        lines.append(f"| {name} | {versions.get(source, '?')} | {tested} | {result} |")
    return "\n".join(lines)


TABLE_PAGE = os.path.join("docs", "compatibility.md")


def check_table_page(versions):
    """Every library of the table appears in the documented table (docs/compatibility.md) with
    the pinned version."""
    problems = []
    try:
        with open(os.path.join(ROOT, TABLE_PAGE)) as f:
            page = f.read()
    except OSError as error:
        return [f"cannot read {TABLE_PAGE}: {error}"]
    rows = {}
    for line in page.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 4:
            rows[cells[0]] = cells[1]
    for name, source, _ in LIBRARIES:
        if name not in rows:
            problems.append(f"{TABLE_PAGE}'s compatibility table has no row for {name}")
            continue
        if source.startswith("deb:"):
            continue  # Debian's version, not pinned by the project
        want = versions.get(source)
        if rows[name] != want:
            problems.append(f"{TABLE_PAGE} lists {name} {rows[name]}, the suite pins {want}")
    # And every pinned library is in the table.
    named = {source for _, source, _ in LIBRARIES}
    with open(os.path.join(COMPAT, "node", "package.json")) as f:
        for dep in json.load(f).get("dependencies", {}):
            if f"npm:{dep}" not in named:
                problems.append(f"package.json pins {dep}, which the table does not list")
    for source in ("pypi:redis", "pypi:python-redis-lock", "pypi:pottery", "pypi:aioredlock",
                   "crate:rslock"):
        if source not in versions:
            problems.append(f"{source} is not pinned")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", action="append", choices=sorted(suites()),
                        help="run only this suite (repeatable)")
    parser.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "latchkey"))
    parser.add_argument("--reference", action="store_true",
                        help="run against redis-server instead of latchkey, to check the "
                             "suite's own expectations")
    parser.add_argument("--table", action="store_true",
                        help="print the compatibility table from the last run and exit")
    args = parser.parse_args()
    os.makedirs(LOGS, exist_ok=True)
    report_path = os.path.join(LOGS, "results.json")
    versions = pinned_versions()

    if args.table:
        with open(report_path) as f:
            outcomes = [Outcome(o["suite"], [tuple(r) for r in o["results"]], o["problems"])
                        for o in json.load(f)]
        print(table(outcomes, versions))
        return 0

    outcomes = [run_suite(suites()[name], args.bin, args.reference) for name in (args.suite or suites())]
    if not args.reference:  # the table describes latchkey, never the reference server
        with open(report_path, "w") as f:
            json.dump([{"suite": o.suite, "results": o.results, "problems": o.problems}
                       for o in outcomes], f, indent=1)

    table_problems = check_table_page(versions)
    print("\n=== compatibility table ===")
    print(table(outcomes, versions))
    print("\n=== suites ===")
    print(f"{'suite':8} {'passed':>7} {'skipped':>8} {'failed':>7} {'seconds':>8}")
    for o in outcomes:
        print(f"{o.suite:8} {o.count('passed'):>7} {o.count('skipped'):>8} {o.failed:>7} "
              f"{o.seconds:>8.0f}")
    skipped = [(o.suite, r) for o in outcomes for r in o.results if r[0] == "skipped"]
    if skipped:
        print("\nskipped:")
        for suite, (_, library, test, reason) in skipped:
            print(f"  {suite}: [{library}] {test}: {reason}")
    failed_tests = [(o.suite, r) for o in outcomes for r in o.results if r[0] == "failed"]
    problems = [(o.suite, p) for o in outcomes for p in o.problems]
    problems += [("docs", p) for p in table_problems]
    if failed_tests or problems:
        print("\nfailed:")
        for suite, (_, library, test, _) in failed_tests:
            print(f"  {suite}: [{library}] {test}")
        for suite, problem in problems:
            print(f"  {suite}: {problem}")
    passed = sum(o.count("passed") for o in outcomes) + (0 if table_problems else 1)
    failed = sum(o.failed for o in outcomes) + len(table_problems)
    skipped_count = len(skipped)
    print(f"\ncompat: {passed} passed, {failed} failed, {skipped_count} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
