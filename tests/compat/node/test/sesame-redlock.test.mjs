// @sesamecare-oss/redlock with ioredis over three instances: acquire, extend, release, `using`
// with automatic extension, and mutual exclusion.
import test from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { Redlock } from '@sesamecare-oss/redlock';
import { addrs, Counter, eventually, requires, sleep, uniqueKey, TEST_TIMEOUT_MS } from '../helpers.mjs';

const SCRIPTS = await requires('eval', 'evalsha', 'script');

function clients() {
  return addrs.slice(0, 3).map((a) => new Redis({ ...a, maxRetriesPerRequest: 1, retryStrategy: () => null }));
}

function close(all) {
  for (const client of all) client.disconnect();
}

test('@sesamecare-oss/redlock: acquire, contend, extend, release over three instances',
  { timeout: TEST_TIMEOUT_MS, skip: SCRIPTS }, async () => {
    const servers = clients();
    const redlock = new Redlock(servers, { retryCount: 0 });
    redlock.on('error', () => {});
    const key = uniqueKey('sesame');
    try {
      const lock = await redlock.acquire([key], 2000);
      // Each call resolves once a quorum answered: the third instance may lag a little.
      await eventually(async () => {
        for (const server of servers) assert.equal(await server.get(key), lock.value);
      });
      await assert.rejects(redlock.acquire([key], 2000), (error) => error.name === 'ExecutionError');
      const extended = await lock.extend(10000);
      await eventually(async () => {
        for (const server of servers) {
          const pttl = await server.pttl(key);
          assert.ok(pttl > 9000 && pttl <= 10000, `pttl ${pttl}`);
        }
      });
      await extended.release();
      await eventually(async () => {
        for (const server of servers) assert.equal(await server.exists(key), 0);
      });
      const two = await redlock.acquire([`${key}:a`, `${key}:b`], 2000);
      await eventually(async () => {
        for (const server of servers) assert.equal(await server.exists(`${key}:a`, `${key}:b`), 2);
      });
      await redlock.release(two);
      await eventually(async () => {
        for (const server of servers) assert.equal(await server.exists(`${key}:a`, `${key}:b`), 0);
      });
    } finally {
      close(servers);
    }
  });

test('@sesamecare-oss/redlock: using() extends the lock automatically',
  { timeout: TEST_TIMEOUT_MS, skip: SCRIPTS }, async () => {
    const servers = clients();
    const redlock = new Redlock(servers, { retryCount: 0, automaticExtensionThreshold: 400 });
    redlock.on('error', () => {});
    const key = uniqueKey('sesame-using');
    try {
      const result = await redlock.using([key], 1000, async (signal, context) => {
        await sleep(2500); // well past the 1000 ms lease
        assert.equal(signal.aborted, false);
        assert.ok(context.extensions >= 2, `extensions ${context.extensions}`);
        for (const server of servers) assert.ok((await server.pttl(key)) > 0);
        return 'done';
      });
      assert.equal(result, 'done');
      await eventually(async () => {
        for (const server of servers) assert.equal(await server.exists(key), 0);
      });
    } finally {
      close(servers);
    }
  });

test('@sesamecare-oss/redlock: mutual exclusion', { timeout: TEST_TIMEOUT_MS, skip: SCRIPTS }, async () => {
  const key = uniqueKey('sesame-mutex');
  const counter = new Counter();
  const worker = async () => {
    const servers = clients();
    // A short lease: a contender that won only a minority of instances leaves its key there
    // until the lease runs out, which holds up everyone else.
    const redlock = new Redlock(servers, { retryCount: 3000, retryDelay: 10, retryJitter: 10 });
    redlock.on('error', () => {});
    try {
      for (let i = 0; i < 6; i += 1) {
        await redlock.using([key], 1000, async () => counter.increment());
      }
    } finally {
      close(servers);
    }
  };
  // Two contenders over three instances: one of them always wins a majority. With more, every
  // instance can go to a different contender, and the retries can split the votes for longer
  // than the retry window (a Redlock livelock, seen in about one run in five with five).
  await Promise.all([0, 1].map(worker));
  assert.equal(counter.maxInside, 1);
  assert.equal(counter.value, 12);
});
