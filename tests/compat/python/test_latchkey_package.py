"""latchkey's own Python package (python/, installed into this venv by tests/compat/run.sh):
the binary it installed, `Server`, `AsyncServer`, and the `latchkey` fixture its pytest plugin
registers by entry point. These tests start servers of their own (the runner's are not used)."""

import asyncio
import os
import subprocess
import sysconfig
import threading
import time

import pytest
import redis
import redis.asyncio

import latchkey as latchkey_package

pytestmark = pytest.mark.lib("latchkey (Python package)")


def test_the_binary_is_installed_into_the_environment():
    installed = os.path.join(sysconfig.get_path("scripts"), "latchkey")
    assert os.access(installed, os.X_OK)
    assert latchkey_package.find_binary() == installed
    version = subprocess.run([installed, "--version"], capture_output=True, text=True,
                             timeout=30)
    assert version.returncode == 0
    assert version.stdout.startswith("latchkey ")


def test_server_context_manager_with_redis_py():
    with latchkey_package.Server() as server:
        assert server.running
        assert server.host == "127.0.0.1"
        assert server.port > 0
        assert server.url == f"redis://127.0.0.1:{server.port}"
        r = redis.Redis.from_url(server.url, socket_timeout=10)
        assert r.set("lock:orders", "token-1", nx=True, px=30000) is True
        assert r.set("lock:orders", "token-2", nx=True, px=30000) is None
        lock = r.lock("lock:redis-py", timeout=30)
        assert lock.acquire(blocking=False)
        lock.release()
        assert r.execute_command("DELIFEQ", "lock:orders", "token-1") == 1
        r.close()
        assert server.execute("SET", "k", "v") == "OK"
        assert server.execute("GET", "k") == b"v"
        with pytest.raises(latchkey_package.ReplyError, match="unknown command"):
            server.execute("NO-SUCH-COMMAND")
    assert not server.running
    assert server.stop() == 0  # a second stop is harmless


def test_server_flags_and_password():
    with latchkey_package.Server("--databases", "4", password="s3cret") as server:
        assert server.url == f"redis://:s3cret@127.0.0.1:{server.port}"
        r = redis.Redis.from_url(server.url, socket_timeout=10)
        assert r.config_get("databases") == {"databases": "4"}
        r.close()
        assert server.execute("PING") == "PONG"


def test_a_server_that_cannot_start_says_why():
    with pytest.raises(latchkey_package.ServerError, match="--no-such-flag"):
        latchkey_package.Server("--no-such-flag").start()


def test_async_server_with_redis_asyncio():
    async def scenario():
        async with latchkey_package.AsyncServer() as server:
            r = redis.asyncio.from_url(server.url)
            assert await r.set("lock:job", "me", nx=True, px=3000) is True
            assert await server.advance(5000) == "OK"
            assert await r.get("lock:job") is None
            lock = r.lock("lock:async", timeout=30)
            assert await lock.acquire(blocking=False)
            await lock.release()
            assert await server.flushall() == "OK"
            assert await r.dbsize() == 0
            await r.aclose()
        return server

    server = asyncio.run(scenario())
    assert not server.running


def test_fixture_gives_a_running_server(latchkey):
    r = redis.Redis.from_url(latchkey.url, socket_timeout=10)
    assert r.ping() is True
    r.set("left:behind", "by this test")
    r.close()


def test_fixture_is_flushed_before_each_test(latchkey, latchkey_server):
    assert latchkey is latchkey_server  # one server for the session
    r = redis.Redis.from_url(latchkey.url, socket_timeout=10)
    assert r.dbsize() == 0
    r.close()


def test_fixture_advance_expires_a_lock(latchkey):
    r = redis.Redis.from_url(latchkey.url, socket_timeout=10)
    assert r.set("lock:job", "me", nx=True, px=3000) is True
    assert latchkey.advance(5000) == "OK"
    assert r.get("lock:job") is None
    r.close()


def test_fixture_advance_grants_a_waiting_lock_acquire(latchkey):
    r = redis.Redis.from_url(latchkey.url, socket_timeout=30)
    first = r.execute_command("LOCK.ACQUIRE", "lock:job", "a", "PX", 3000)
    granted = []
    waiter = threading.Thread(target=lambda: granted.append(redis.Redis.from_url(
        latchkey.url, socket_timeout=30).execute_command(
            "LOCK.ACQUIRE", "lock:job", "b", "PX", 3000, "WAIT", 600000)), daemon=True)
    waiter.start()
    for _ in range(500):  # until the waiter is in line
        info = latchkey.execute("LOCK.INFO", "lock:job")  # a flat RESP2 array
        if info[info.index(b"waiters") + 1] == 1:
            break
        time.sleep(0.01)
    latchkey.advance(5000)
    waiter.join(timeout=30)
    assert granted and granted[0] > first
    assert r.get("lock:job") == b"b"
    r.close()
