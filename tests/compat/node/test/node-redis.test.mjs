// node-redis 5: the basic lock flow over RESP2 and RESP3, release by DELEX and by script.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'redis';
import { addrs, Counter, requires, sleep, uniqueKey, TEST_TIMEOUT_MS } from '../helpers.mjs';

const RELEASE = 'if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end';

async function connect(resp) {
  const { host, port } = addrs[0];
  const client = createClient({
    RESP: resp,
    socket: { host, port, connectTimeout: 5000, reconnectStrategy: false },
  });
  client.on('error', () => {});
  await client.connect();
  return client;
}

for (const resp of [2, 3]) {
  test(`node-redis: RESP${resp} SET NX PX, contention, release by DELEX`,
    { timeout: TEST_TIMEOUT_MS, skip: await requires('delex') }, async () => {
      const client = await connect(resp);
      const key = uniqueKey('node-redis');
      try {
        assert.equal(await client.ping(), 'PONG');
        assert.equal(await client.set(key, 'tok', { NX: true, PX: 5000 }), 'OK');
        assert.equal(await client.set(key, 'other', { NX: true, PX: 5000 }), null);
        assert.equal(await client.get(key), 'tok');
        const pttl = await client.pTTL(key);
        assert.ok(pttl > 4000 && pttl <= 5000, `pttl ${pttl}`);
        assert.equal(await client.pExpire(key, 9000), 1);
        assert.equal(await client.sendCommand(['DELEX', key, 'IFEQ', 'other']), 0);
        assert.equal(await client.sendCommand(['DELEX', key, 'IFEQ', 'tok']), 1);
        assert.equal(await client.exists(key), 0);
      } finally {
        client.destroy();
      }
    });

  test(`node-redis: RESP${resp} release by script (EVAL and EVALSHA)`,
    { timeout: TEST_TIMEOUT_MS, skip: await requires('eval', 'evalsha', 'script') }, async () => {
      const client = await connect(resp);
      const key = uniqueKey('node-redis-script');
      try {
        assert.equal(await client.set(key, 'tok', { NX: true, PX: 5000 }), 'OK');
        assert.equal(await client.eval(RELEASE, { keys: [key], arguments: ['other'] }), 0);
        assert.equal(await client.eval(RELEASE, { keys: [key], arguments: ['tok'] }), 1);
        const sha = await client.scriptLoad(RELEASE);
        assert.equal(await client.set(key, 'tok', { NX: true, PX: 5000 }), 'OK');
        assert.equal(await client.evalSha(sha, { keys: [key], arguments: ['tok'] }), 1);
        assert.equal(await client.exists(key), 0);
        await assert.rejects(
          client.evalSha('ffffffffffffffffffffffffffffffffffffffff', { keys: [key], arguments: [] }),
          (error) => error.message === 'NOSCRIPT No matching script. Please use EVAL.',
        );
      } finally {
        client.destroy();
      }
    });
}

test('node-redis: mutual exclusion with SET NX PX and DELIFEQ',
  { timeout: TEST_TIMEOUT_MS, skip: await requires('delifeq') }, async () => {
    const key = uniqueKey('node-redis-mutex');
    const counter = new Counter();
    const worker = async (index) => {
      const client = await connect(2 + (index % 2));
      try {
        for (let i = 0; i < 10; i += 1) {
          let tries = 0;
          while ((await client.set(key, `w${index}`, { NX: true, PX: 10000 })) === null) {
            tries += 1;
            assert.ok(tries < 20000, 'could not acquire');
            await sleep(1);
          }
          await counter.increment();
          assert.equal(await client.sendCommand(['DELIFEQ', key, `w${index}`]), 1);
        }
      } finally {
        client.destroy();
      }
    };
    await Promise.all([0, 1, 2, 3, 4, 5].map(worker));
    assert.equal(counter.maxInside, 1);
    assert.equal(counter.value, 60);
  });
