// redlock 4 with ioredis over three instances: acquire, extend, release, the EVALSHA → NOSCRIPT →
// EVAL fallback (redlock matches the NOSCRIPT text), and mutual exclusion.
import test from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import Redlock from 'redlock';
import { addrs, Counter, requires, uniqueKey, TEST_TIMEOUT_MS } from '../helpers.mjs';

const SCRIPTS = await requires('eval', 'evalsha', 'script');

function clients() {
  return addrs.slice(0, 3).map((a) => new Redis({ ...a, maxRetriesPerRequest: 1, retryStrategy: () => null }));
}

function close(all) {
  for (const client of all) client.disconnect();
}

test('redlock: acquire, contend, extend, release over three instances',
  { timeout: TEST_TIMEOUT_MS, skip: SCRIPTS }, async () => {
    const servers = clients();
    const redlock = new Redlock(servers, { retryCount: 0 });
    redlock.on('clientError', () => {});
    const key = uniqueKey('redlock4');
    try {
      const lock = await redlock.acquire(key, 2000);
      for (const server of servers) assert.equal(await server.get(key), lock.value);
      await assert.rejects(redlock.acquire(key, 2000), (error) => error.name === 'LockError');
      const extended = await lock.extend(10000);
      for (const server of servers) {
        const pttl = await server.pttl(key);
        assert.ok(pttl > 9000 && pttl <= 10000, `pttl ${pttl}`);
      }
      await extended.unlock();
      for (const server of servers) assert.equal(await server.exists(key), 0);
      const again = await redlock.acquire(key, 2000);
      await redlock.release(again);
    } finally {
      close(servers);
    }
  });

test('redlock: EVALSHA of a flushed script falls back to EVAL',
  { timeout: TEST_TIMEOUT_MS, skip: SCRIPTS }, async () => {
    const servers = clients();
    const redlock = new Redlock(servers, { retryCount: 0 });
    const key = uniqueKey('redlock4-noscript');
    const errors = [];
    redlock.on('clientError', (error) => errors.push(error));
    try {
      for (const server of servers) assert.equal(await server.script('FLUSH'), 'OK');
      const lock = await redlock.acquire(key, 5000);
      for (const server of servers) assert.equal(await server.get(key), lock.value);
      await lock.unlock();
      for (const server of servers) assert.equal(await server.exists(key), 0);
      assert.deepEqual(errors.map((e) => e.message), []);
    } finally {
      close(servers);
    }
  });

test('redlock: mutual exclusion', { timeout: TEST_TIMEOUT_MS, skip: SCRIPTS }, async () => {
  const key = uniqueKey('redlock4-mutex');
  const counter = new Counter();
  const worker = async () => {
    const servers = clients();
    const redlock = new Redlock(servers, { retryCount: 2000, retryDelay: 5, retryJitter: 5 });
    redlock.on('clientError', () => {});
    try {
      for (let i = 0; i < 6; i += 1) {
        const lock = await redlock.acquire(key, 10000);
        await counter.increment();
        await lock.unlock();
      }
    } finally {
      close(servers);
    }
  };
  await Promise.all([0, 1, 2, 3, 4].map(worker));
  assert.equal(counter.maxInside, 1);
  assert.equal(counter.value, 30);
});
