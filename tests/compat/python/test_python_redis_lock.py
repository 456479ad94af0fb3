"""python-redis-lock: `Lock` with expire, extend, auto-renewal, a blocked `acquire()` woken by
the release (its unlock script `LPUSH`es to a signal list the waiter `BLPOP`s), `reset_all`."""

import threading
import time

import pytest
import redis
import redis_lock

from conftest import run_workers

pytestmark = [pytest.mark.lib("python-redis-lock"),
              pytest.mark.requires("evalsha", "script", "lpush", "blpop")]


@pytest.fixture
def conn(servers):
    host, port = servers[0]
    client = redis.StrictRedis(host=host, port=port, socket_timeout=15)
    yield client
    client.close()


def test_acquire_release_and_owner(conn, key):
    lock = redis_lock.Lock(conn, key, expire=10)
    assert lock.acquire(blocking=False) is True
    assert lock.locked() is True
    assert lock.get_owner_id() == lock.id
    assert 0 < conn.ttl(f"lock:{key}") <= 10
    other = redis_lock.Lock(conn, key, expire=10)
    assert other.acquire(blocking=False) is False
    lock.release()
    assert lock.locked() is False
    assert other.acquire(blocking=False) is True
    other.release()


def test_extend(conn, key):
    lock = redis_lock.Lock(conn, key, expire=5)
    assert lock.acquire()
    lock.extend(expire=60)
    assert 55 <= conn.ttl(f"lock:{key}") <= 60
    lock.release()
    with pytest.raises(redis_lock.NotAcquired):
        lock.extend(expire=60)


def test_release_after_takeover_raises_not_acquired(conn, key):
    lock = redis_lock.Lock(conn, key, expire=1)
    assert lock.acquire()
    conn.delete(f"lock:{key}")  # as if it expired
    thief = redis_lock.Lock(conn, key, expire=10)
    assert thief.acquire(blocking=False)
    with pytest.raises(redis_lock.NotAcquired):
        lock.release()
    assert thief.get_owner_id() == thief.id
    thief.release()


def test_blocked_acquire_woken_by_release(servers, conn, key):
    holder = redis_lock.Lock(conn, key, expire=30)
    assert holder.acquire()
    host, port = servers[0]
    waited = {}

    def waiter():
        client = redis.StrictRedis(host=host, port=port, socket_timeout=40)
        lock = redis_lock.Lock(client, key, expire=30)
        started = time.monotonic()
        waited["acquired"] = lock.acquire(timeout=20)
        waited["seconds"] = time.monotonic() - started
        lock.release()
        client.close()

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    time.sleep(0.3)  # the waiter is in BLPOP now
    holder.release()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert waited["acquired"] is True
    # Woken by the release's LPUSH, not by the 20 s BLPOP timeout or the 30 s expiry.
    assert waited["seconds"] < 5


def test_auto_renewal(conn, key):
    lock = redis_lock.Lock(conn, key, expire=1, auto_renewal=True)
    assert lock.acquire()
    time.sleep(2.5)  # longer than expire: only the renewal keeps it
    assert lock.get_owner_id() == lock.id
    assert conn.ttl(f"lock:{key}") >= 0
    lock.release()
    assert lock.locked() is False


def test_context_manager(conn, key):
    with redis_lock.Lock(conn, key, expire=5) as lock:
        assert lock.locked()
    assert conn.exists(f"lock:{key}") == 0


@pytest.mark.requires("keys")
def test_reset_all(conn, key):
    locks = [redis_lock.Lock(conn, f"{key}:{i}", expire=60) for i in range(3)]
    for lock in locks:
        assert lock.acquire(blocking=False)
    redis_lock.reset_all(conn)
    for lock in locks:
        assert lock.locked() is False
    again = redis_lock.Lock(conn, f"{key}:0", expire=60)
    assert again.acquire(blocking=False)
    again.release()


def test_mutual_exclusion(servers, key, counter):
    host, port = servers[0]

    def worker(index):
        client = redis.StrictRedis(host=host, port=port, socket_timeout=40)
        for _ in range(8):
            with redis_lock.Lock(client, key, expire=30):
                counter.increment()
        client.close()

    run_workers(6, worker)
    assert counter.max_inside == 1
    assert counter.value() == 48
