"""redis-py 8: the plain lock flow, `Lock`, `redis.asyncio.lock.Lock` and `Script`, over RESP2
and RESP3 connections."""

import asyncio
import threading
import time
import uuid

import pytest
import redis
import redis.asyncio
import redis.asyncio.lock
from redis.exceptions import LockNotOwnedError, NoScriptError

from conftest import run_workers

pytestmark = pytest.mark.lib("redis-py")

SCRIPTS = ("evalsha", "script")
PROTOCOLS = [pytest.param(2, id="resp2"), pytest.param(3, id="resp3")]


@pytest.fixture(params=PROTOCOLS)
def r(request, servers):
    host, port = servers[0]
    client = redis.Redis(host=host, port=port, protocol=request.param, socket_timeout=10)
    yield client
    client.close()


def test_handshake_and_info(r):
    assert r.ping() is True
    assert r.connection_pool.connection_kwargs["protocol"] in (2, 3)
    info = r.info("server")
    assert "redis_version" in info


@pytest.mark.requires("delifeq", "delex")
def test_set_nx_px_lock_flow(r, key):
    token, other = uuid.uuid4().hex, uuid.uuid4().hex
    assert r.set(key, token, nx=True, px=5000) is True
    assert r.set(key, other, nx=True, px=5000) is None
    assert r.get(key) == token.encode()
    assert 4000 < r.pttl(key) <= 5000
    # extend with SET XX PX and with PEXPIRE
    assert r.set(key, token, xx=True, px=8000) is True
    assert 7000 < r.pttl(key) <= 8000
    assert r.pexpire(key, 9000) is True
    # compare-and-delete without a script
    assert r.execute_command("DELIFEQ", key, other) == 0
    assert r.execute_command("DELIFEQ", key, token) == 1
    assert r.exists(key) == 0
    assert r.set(key, other, nx=True, px=5000) is True
    assert r.execute_command("DELEX", key, "IFEQ", token) == 0
    assert r.execute_command("DELEX", key, "IFEQ", other) == 1


def test_set_nx_px_expiry_frees_the_lock(r, key):
    assert r.set(key, "a", nx=True, px=100) is True
    deadline = time.monotonic() + 5
    while r.set(key, "b", nx=True, px=5000) is None:
        assert time.monotonic() < deadline, "the lock never expired"
        time.sleep(0.02)
    assert r.get(key) == b"b"


@pytest.mark.requires("delifeq")
def test_mutual_exclusion_set_nx_px_delifeq(servers, key, counter):
    host, port = servers[0]

    def worker(index):
        client = redis.Redis(host=host, port=port, socket_timeout=10)
        token = f"worker-{index}"
        for _ in range(10):
            deadline = time.monotonic() + 30
            while not client.set(key, token, nx=True, px=10000):
                assert time.monotonic() < deadline, "could not acquire within 30 s"
                time.sleep(0.001)
            counter.increment()
            assert client.execute_command("DELIFEQ", key, token) == 1
        client.close()

    run_workers(6, worker)
    assert counter.max_inside == 1
    assert counter.value() == 60


@pytest.mark.requires(*SCRIPTS)
def test_lock_acquire_release(r, key):
    lock = r.lock(key, timeout=5)
    assert lock.acquire(blocking=False) is True
    assert lock.owned() and lock.locked()
    assert r.get(key) == lock.local.token
    other = r.lock(key, timeout=5)
    assert other.acquire(blocking=False) is False
    lock.release()
    assert r.exists(key) == 0
    assert other.acquire(blocking=False) is True
    other.release()


@pytest.mark.requires(*SCRIPTS)
def test_lock_blocking_timeout_and_wakeup(r, key):
    # thread_local=False: the release happens on another thread.
    holder = r.lock(key, timeout=10, thread_local=False)
    assert holder.acquire()
    waiter = r.lock(key, timeout=10, sleep=0.01)
    started = time.monotonic()
    assert waiter.acquire(blocking=True, blocking_timeout=0.3) is False
    assert time.monotonic() - started >= 0.29
    releaser = threading.Timer(0.2, holder.release)
    releaser.start()
    started = time.monotonic()
    assert waiter.acquire(blocking=True, blocking_timeout=5) is True
    assert time.monotonic() - started < 4
    releaser.join(timeout=5)
    waiter.release()


@pytest.mark.requires(*SCRIPTS)
def test_lock_timeout_expires(r, key):
    lock = r.lock(key, timeout=0.2)
    assert lock.acquire(blocking=False)
    assert 0 < r.pttl(key) <= 200
    other = r.lock(key, timeout=5, sleep=0.01)
    assert other.acquire(blocking=True, blocking_timeout=3) is True
    with pytest.raises(LockNotOwnedError):
        lock.release()
    other.release()


@pytest.mark.requires(*SCRIPTS)
def test_lock_extend_and_reacquire(r, key):
    lock = r.lock(key, timeout=2)
    assert lock.acquire(blocking=False)
    assert lock.extend(3) is True  # adds 3 s to what is left
    assert 4000 < r.pttl(key) <= 5000
    assert lock.extend(1, replace_ttl=True) is True
    assert 0 < r.pttl(key) <= 1000
    time.sleep(0.1)
    assert lock.reacquire() is True  # back to the lock's own timeout
    assert 1500 < r.pttl(key) <= 2000
    lock.release()


@pytest.mark.requires(*SCRIPTS)
def test_lock_not_owned_after_expiry_and_takeover(r, key):
    lock = r.lock(key, timeout=0.1)
    assert lock.acquire(blocking=False)
    time.sleep(0.25)
    thief = r.lock(key, timeout=5)
    assert thief.acquire(blocking=False) is True
    assert lock.owned() is False
    with pytest.raises(LockNotOwnedError):
        lock.extend(1)
    with pytest.raises(LockNotOwnedError):
        lock.reacquire()
    with pytest.raises(LockNotOwnedError):
        lock.release()
    assert r.get(key) == thief.local.token  # the failed calls left the thief's lock alone
    thief.release()
    assert r.exists(key) == 0


@pytest.mark.requires(*SCRIPTS)
def test_lock_context_manager(r, key):
    with r.lock(key, timeout=5, blocking_timeout=2) as lock:
        assert lock.owned()
    assert r.exists(key) == 0


@pytest.mark.requires(*SCRIPTS)
def test_mutual_exclusion_lock(servers, key, counter):
    host, port = servers[0]

    def worker(index):
        client = redis.Redis(host=host, port=port, protocol=2 + index % 2, socket_timeout=10)
        for _ in range(8):
            with client.lock(key, timeout=10, sleep=0.002, blocking_timeout=30):
                counter.increment()
        client.close()

    run_workers(6, worker)
    assert counter.max_inside == 1
    assert counter.value() == 48


@pytest.mark.requires(*SCRIPTS)
def test_script_noscript_recovery(r):
    body = "return {KEYS[1], ARGV[1]}"
    script = r.register_script(body)
    assert r.script_flush() is True
    # EVALSHA of an unloaded script: NOSCRIPT, then SCRIPT LOAD and EVALSHA again.
    assert script(keys=["k"], args=["v"]) == [b"k", b"v"]
    assert r.script_exists(script.sha) == [True]
    with pytest.raises(NoScriptError) as error:
        r.evalsha("ffffffffffffffffffffffffffffffffffffffff", 0)
    assert str(error.value) == "No matching script. Please use EVAL."
    assert r.eval(body, 1, "a", "b") == [b"a", b"b"]


@pytest.mark.requires(*SCRIPTS)
@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_asyncio_lock(servers, key, protocol):
    host, port = servers[0]

    async def flow():
        client = redis.asyncio.Redis(host=host, port=port, protocol=protocol)
        try:
            lock = redis.asyncio.lock.Lock(client, key, timeout=2, sleep=0.01)
            assert await lock.acquire(blocking=False) is True
            assert await lock.owned()
            other = redis.asyncio.lock.Lock(client, key, timeout=2, sleep=0.01)
            assert await other.acquire(blocking=False) is False
            assert await other.acquire(blocking=True, blocking_timeout=0.2) is False
            assert await lock.extend(3) is True
            assert 4000 < await client.pttl(key) <= 5000
            assert await lock.reacquire() is True
            assert 1500 < await client.pttl(key) <= 2000
            waiter = asyncio.create_task(other.acquire(blocking=True, blocking_timeout=5))
            await asyncio.sleep(0.1)
            await lock.release()
            assert await asyncio.wait_for(waiter, 10) is True
            await other.release()
            # expired and taken over
            short = redis.asyncio.lock.Lock(client, key, timeout=0.1)
            assert await short.acquire(blocking=False)
            await asyncio.sleep(0.25)
            thief = redis.asyncio.lock.Lock(client, key, timeout=5)
            assert await thief.acquire(blocking=False)
            with pytest.raises(LockNotOwnedError):
                await short.extend(1)
            with pytest.raises(LockNotOwnedError):
                await short.release()
            await thief.release()
            assert await client.exists(key) == 0
        finally:
            await client.aclose()

    asyncio.run(asyncio.wait_for(flow(), 60))
