// redis-semaphore with ioredis: Mutex, Semaphore and MultiSemaphore (sorted sets driven by
// scripts), and mutual exclusion under Mutex.
import test from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { Mutex, Semaphore, MultiSemaphore } from 'redis-semaphore';
import { addrs, Counter, requires, uniqueKey, TEST_TIMEOUT_MS } from '../helpers.mjs';

const NEEDS = await requires('eval', 'evalsha', 'zadd', 'zcard', 'zremrangebyscore', 'zrem', 'zscore');
const OPTIONS = { lockTimeout: 5000, acquireTimeout: 3000, retryInterval: 10, refreshInterval: 0 };

const connect = () => new Redis({ ...addrs[0], maxRetriesPerRequest: 1, retryStrategy: () => null });

test('redis-semaphore: Mutex acquire, tryAcquire, release', { timeout: TEST_TIMEOUT_MS, skip: NEEDS }, async () => {
  const client = connect();
  const key = uniqueKey('mutex');
  try {
    const first = new Mutex(client, key, OPTIONS);
    const second = new Mutex(client, key, { ...OPTIONS, acquireTimeout: 200 });
    await first.acquire();
    assert.equal(first.isAcquired, true);
    assert.equal(await second.tryAcquire(), false);
    await assert.rejects(second.acquire(), /Acquire .* timeout/i);
    await first.release();
    assert.equal(await second.tryAcquire(), true);
    await second.release();
  } finally {
    client.disconnect();
  }
});

test('redis-semaphore: Semaphore limits holders', { timeout: TEST_TIMEOUT_MS, skip: NEEDS }, async () => {
  const client = connect();
  const key = uniqueKey('semaphore');
  try {
    const holders = [0, 1, 2].map(() => new Semaphore(client, key, 2, OPTIONS));
    await holders[0].acquire();
    await holders[1].acquire();
    assert.equal(await holders[2].tryAcquire(), false);
    assert.equal(await client.zcard(`semaphore:${key}`), 2);
    await holders[0].release();
    assert.equal(await holders[2].tryAcquire(), true);
    await holders[1].release();
    await holders[2].release();
    assert.equal(await client.zcard(`semaphore:${key}`), 0);
  } finally {
    client.disconnect();
  }
});

test('redis-semaphore: MultiSemaphore takes several permits at once', { timeout: TEST_TIMEOUT_MS, skip: NEEDS }, async () => {
  const client = connect();
  const key = uniqueKey('multi');
  try {
    const big = new MultiSemaphore(client, key, 3, 2, OPTIONS);
    const other = new MultiSemaphore(client, key, 3, 2, OPTIONS);
    const single = new Semaphore(client, key, 3, OPTIONS);
    await big.acquire();
    assert.equal(await client.zcard(`semaphore:${key}`), 2);
    assert.equal(await other.tryAcquire(), false);
    assert.equal(await single.tryAcquire(), true);
    await big.release();
    await single.release();
    assert.equal(await other.tryAcquire(), true);
    await other.release();
    assert.equal(await client.zcard(`semaphore:${key}`), 0);
  } finally {
    client.disconnect();
  }
});

test('redis-semaphore: mutual exclusion under Mutex', { timeout: TEST_TIMEOUT_MS, skip: NEEDS }, async () => {
  const key = uniqueKey('mutex-exclusion');
  const counter = new Counter();
  const worker = async () => {
    const client = connect();
    try {
      for (let i = 0; i < 8; i += 1) {
        const mutex = new Mutex(client, key, { ...OPTIONS, acquireTimeout: 30000, retryInterval: 2 });
        await mutex.acquire();
        await counter.increment();
        await mutex.release();
      }
    } finally {
      client.disconnect();
    }
  };
  await Promise.all([0, 1, 2, 3, 4].map(worker));
  assert.equal(counter.maxInside, 1);
  assert.equal(counter.value, 40);
});
