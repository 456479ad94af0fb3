"""pytest plugin (registered by the package's `pytest11` entry point): the `latchkey` fixture.

    def test_lock(latchkey):
        r = redis.Redis.from_url(latchkey.url)
        ...
        latchkey.advance(5000)   # the server's clock jumps 5 s: no sleep

One server per test session (`latchkey_server`, session-scoped), flushed with `FLUSHALL` before
each test that asks for `latchkey`, so tests start from an empty keyspace without paying for a
start each time. Extra server flags come from the `latchkey_args` ini option (or
`--latchkey-arg`), the binary from `latchkey_bin` (else see `latchkey.find_binary`).

For asyncio tests the same fixture serves: `redis.asyncio.from_url(latchkey.url)`. Code that
wants a server of its own inside an event loop uses `latchkey.AsyncServer`.
"""

import shlex

import pytest

from ._server import Server


def pytest_addoption(parser):
    group = parser.getgroup("latchkey")
    group.addoption("--latchkey-arg", action="append", default=[], dest="latchkey_arg",
                    help="an extra command-line flag for the latchkey fixture's server "
                         "(repeatable; split like a shell word list)")
    parser.addini("latchkey_args", type="args", default=[],
                  help="extra command-line flags for the latchkey fixture's server")
    parser.addini("latchkey_bin", default="",
                  help="the latchkey binary for the fixture (default: the installed one)")


@pytest.fixture(scope="session")
def latchkey_server(pytestconfig):
    """The session's latchkey server (not flushed between tests; prefer `latchkey`)."""
    args = list(pytestconfig.getini("latchkey_args"))
    for extra in pytestconfig.getoption("latchkey_arg"):
        args += shlex.split(extra)
    binary = pytestconfig.getini("latchkey_bin") or None
    with Server(*args, binary=binary) as server:
        yield server


@pytest.fixture
def latchkey(latchkey_server):
    """The session's latchkey server, emptied (`FLUSHALL`) for this test: `.url`, `.port`,
    `.advance(ms)`, `.execute(*args)`."""
    latchkey_server.flushall()
    return latchkey_server
