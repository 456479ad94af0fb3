"""pottery `Redlock` over three latchkey instances: acquire, extend, release, contention, and the
quorum still reached with one instance stopped mid-test."""

import os
import signal
import socket
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from pottery import Redlock
from pottery.exceptions import ReleaseUnlockedLock, TooManyExtensions

from conftest import pids, run_workers

pytestmark = [pytest.mark.lib("pottery"), pytest.mark.requires("evalsha", "script")]


def clients(addresses):
    # No retries with back-off: a stopped instance fails fast instead of stalling the quorum.
    return {redis.Redis(host=host, port=port, socket_timeout=5, socket_connect_timeout=2,
                        retry=Retry(NoBackoff(), 0))
            for host, port in addresses}


def test_acquire_extend_release(servers, key):
    masters = clients(servers[:3])
    lock = Redlock(key=key, masters=masters, auto_release_time=2, num_extensions=2)
    assert lock.acquire(blocking=False) is True
    # pottery returns once a quorum answered; the third SET may still be in flight.
    assert sum(master.get(lock.key) is not None for master in masters) >= 2
    assert 0 < lock.locked() <= 2000
    other = Redlock(key=key, masters=masters, auto_release_time=2)
    assert other.acquire(blocking=False) is False
    assert other.acquire(timeout=0.3) is False
    lock.extend()
    lock.extend()
    with pytest.raises(TooManyExtensions):
        lock.extend()
    lock.release()
    assert lock.locked() == 0
    with pytest.raises(ReleaseUnlockedLock):
        lock.release()
    assert other.acquire(blocking=False) is True
    other.release()


def test_expiry_lets_another_in(servers, key):
    masters = clients(servers[:3])
    short = Redlock(key=key, masters=masters, auto_release_time=0.2)
    assert short.acquire(blocking=False)
    other = Redlock(key=key, masters=masters, auto_release_time=5)
    started = time.monotonic()
    assert other.acquire(timeout=5) is True
    assert time.monotonic() - started < 4
    other.release()


def test_context_manager(servers, key):
    masters = clients(servers[:3])
    with Redlock(key=key, masters=masters, auto_release_time=5) as lock:
        assert lock.locked() > 0
    # The release returns at quorum too: wait (bounded) for the third instance's DEL.
    deadline = time.monotonic() + 5
    while any(m.exists(lock.key) for m in masters):
        assert time.monotonic() < deadline, "the lock outlived its release"
        time.sleep(0.01)


def test_quorum_with_one_instance_stopped(servers, key):
    # The runner's fourth instance is the spare this test may stop.
    addresses = [servers[0], servers[1], servers[3]]
    masters = clients(addresses)
    lock = Redlock(key=key, masters=masters, auto_release_time=30)
    assert lock.acquire(blocking=False) is True
    stop_server(pids()[3], servers[3])
    assert lock.locked() > 0  # two of three still hold it
    lock.extend()
    lock.release()
    second = Redlock(key=key, masters=masters, auto_release_time=30)
    assert second.acquire(blocking=False) is True  # quorum: 2 of 3
    third = Redlock(key=key, masters=masters, auto_release_time=30)
    assert third.acquire(blocking=False) is False
    second.release()


def test_mutual_exclusion(servers, key, counter):
    def worker(index):
        masters = clients(servers[:3])
        for _ in range(6):
            lock = Redlock(key=key, masters=masters, auto_release_time=10)
            assert lock.acquire(timeout=30)
            counter.increment()
            lock.release()

    run_workers(5, worker)
    assert counter.max_inside == 1
    assert counter.value() == 30


def stop_server(pid, address):
    """Stops one latchkey instance by its pid and waits until its port refuses connections."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(address, timeout=0.5).close()
        except OSError:
            return
        time.sleep(0.05)
    raise AssertionError(f"server {pid} still accepts connections 10 s after SIGTERM")
