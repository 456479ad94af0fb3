"""aioredlock (on aioredis 1.x) over three latchkey instances: lock, extend, unlock, is_locked,
contention between two managers."""

import asyncio

import pytest
from aioredlock import Aioredlock, LockError

pytestmark = [pytest.mark.lib("aioredlock"), pytest.mark.requires("evalsha", "script")]


def manager(servers):
    return Aioredlock([{"host": h, "port": p} for h, p in servers[:3]], retry_count=2,
                      retry_delay_min=0.05, retry_delay_max=0.1)


def run(coroutine):
    asyncio.run(asyncio.wait_for(coroutine, 60))


def test_lock_extend_unlock(servers, key):
    async def flow():
        first, second = manager(servers), manager(servers)
        try:
            lock = await first.lock(key, lock_timeout=5)
            assert lock.valid
            assert await first.is_locked(key) is True
            assert await second.is_locked(key) is True
            with pytest.raises(LockError):
                await second.lock(key, lock_timeout=5)
            await first.extend(lock, lock_timeout=10)
            assert lock.valid
            await first.unlock(lock)
            assert lock.valid is False
            assert await second.is_locked(key) is False
            again = await second.lock(key, lock_timeout=5)
            await second.unlock(again)
        finally:
            await first.destroy()
            await second.destroy()

    run(flow())


def test_context_manager_and_expiry(servers, key):
    async def flow():
        locks = manager(servers)
        try:
            async with await locks.lock(key, lock_timeout=5) as lock:
                assert lock.valid
                assert await locks.is_locked(key)
            assert await locks.is_locked(key) is False
            short = await locks.lock(f"{key}:short", lock_timeout=0.3)
            assert short.valid
            await asyncio.sleep(0.6)
            assert await locks.is_locked(f"{key}:short") is False
        finally:
            await locks.destroy()

    run(flow())


def test_mutual_exclusion(servers, key, counter):
    async def worker():
        # aioredlock keeps the instances it won in a split vote until their TTL runs out (it
        # retries with the same identifier rather than releasing). With three or more
        # contenders on three instances every contender can hold one instance, and all wait
        # for the TTL, again and again on a loaded machine; two contenders always leave one of
        # them a majority, so the check measures exclusion rather than that livelock.
        locks = Aioredlock([{"host": h, "port": p} for h, p in servers[:3]], retry_count=3000,
                           retry_delay_min=0.005, retry_delay_max=0.02)
        try:
            for _ in range(10):
                lock = await locks.lock(key, lock_timeout=1)
                # asyncio: the read-sleep-write of the counter must not interleave.
                await asyncio.to_thread(counter.increment)
                await locks.unlock(lock)
        finally:
            await locks.destroy()

    async def flow():
        await asyncio.gather(*(worker() for _ in range(2)))

    run(flow())
    assert counter.max_inside == 1
    assert counter.value() == 20
