// ioredis: the plain lock flow over RESP2, pipelining, and mutual exclusion.
import test from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { addrs, Counter, requires, sleep, uniqueKey, TEST_TIMEOUT_MS } from '../helpers.mjs';

const connect = () => new Redis({ ...addrs[0], maxRetriesPerRequest: 1, retryStrategy: () => null });

test('ioredis: connects, PING and INFO', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = connect();
  try {
    assert.equal(await client.ping(), 'PONG');
    assert.match(await client.info('server'), /redis_version:/);
  } finally {
    client.disconnect();
  }
});

test('ioredis: SET NX PX lock flow, release by DELIFEQ and DELEX',
  { timeout: TEST_TIMEOUT_MS, skip: await requires('delifeq', 'delex') }, async () => {
    const client = connect();
    const key = uniqueKey('ioredis-flow');
    try {
      assert.equal(await client.set(key, 'a', 'PX', 5000, 'NX'), 'OK');
      assert.equal(await client.set(key, 'b', 'PX', 5000, 'NX'), null);
      assert.equal(await client.get(key), 'a');
      const pttl = await client.pttl(key);
      assert.ok(pttl > 4000 && pttl <= 5000, `pttl ${pttl}`);
      assert.equal(await client.set(key, 'a', 'PX', 9000, 'XX'), 'OK');
      assert.ok((await client.pttl(key)) > 8000);
      assert.equal(await client.call('DELIFEQ', key, 'b'), 0);
      assert.equal(await client.call('DELIFEQ', key, 'a'), 1);
      assert.equal(await client.set(key, 'c', 'PX', 5000, 'NX'), 'OK');
      assert.equal(await client.call('DELEX', key, 'IFEQ', 'a'), 0);
      assert.equal(await client.call('DELEX', key, 'IFEQ', 'c'), 1);
      assert.equal(await client.exists(key), 0);
    } finally {
      client.disconnect();
    }
  });

test('ioredis: pipelined acquire, inspect, release', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = connect();
  const key = uniqueKey('ioredis-pipeline');
  try {
    const replies = await client.pipeline()
      .set(key, 'tok', 'PX', 30000, 'NX')
      .set(key, 'other', 'PX', 30000, 'NX')
      .get(key)
      .pexpire(key, 60000)
      .del(key)
      .exists(key)
      .exec();
    assert.deepEqual(replies, [[null, 'OK'], [null, null], [null, 'tok'], [null, 1], [null, 1], [null, 0]]);
  } finally {
    client.disconnect();
  }
});

test('ioredis: lock expiry frees the key', { timeout: TEST_TIMEOUT_MS }, async () => {
  const client = connect();
  const key = uniqueKey('ioredis-expiry');
  try {
    assert.equal(await client.set(key, 'a', 'PX', 100, 'NX'), 'OK');
    let acquired = null;
    for (let i = 0; i < 250 && acquired === null; i += 1) {
      acquired = await client.set(key, 'b', 'PX', 5000, 'NX');
      if (acquired === null) await sleep(20);
    }
    assert.equal(acquired, 'OK');
  } finally {
    client.disconnect();
  }
});

test('ioredis: mutual exclusion with SET NX PX and DELIFEQ',
  { timeout: TEST_TIMEOUT_MS, skip: await requires('delifeq') }, async () => {
    const key = uniqueKey('ioredis-mutex');
    const counter = new Counter();
    const worker = async (index) => {
      const client = connect();
      try {
        for (let i = 0; i < 10; i += 1) {
          let tries = 0;
          while ((await client.set(key, `w${index}`, 'PX', 10000, 'NX')) === null) {
            tries += 1;
            assert.ok(tries < 20000, 'could not acquire');
            await sleep(1);
          }
          await counter.increment();
          assert.equal(await client.call('DELIFEQ', key, `w${index}`), 1);
        }
      } finally {
        client.disconnect();
      }
    };
    await Promise.all([0, 1, 2, 3, 4, 5].map(worker));
    assert.equal(counter.maxInside, 1);
    assert.equal(counter.value, 60);
  });
