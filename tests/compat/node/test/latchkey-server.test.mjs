// latchkey-server (js/): the npm package's startLatchkey() with node-redis and ioredis. Each
// test starts and stops a server of its own; the runner's servers are not used.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'redis';
import Redis from 'ioredis';
import { startLatchkey, findBinary, ReplyError } from 'latchkey-server';

const TIMEOUT_MS = 60_000;

test('latchkey-server: startLatchkey() with node-redis takes and releases a lock', { timeout: TIMEOUT_MS }, async () => {
  const server = await startLatchkey();
  try {
    assert.equal(server.host, '127.0.0.1');
    assert.ok(server.port > 0);
    assert.equal(server.url, `redis://127.0.0.1:${server.port}`);
    const client = await createClient({ url: server.url }).connect();
    try {
      assert.equal(await client.set('lock:orders', 'token-1', { NX: true, PX: 30000 }), 'OK');
      assert.equal(await client.set('lock:orders', 'token-2', { NX: true, PX: 30000 }), null);
      assert.equal(await client.sendCommand(['DELIFEQ', 'lock:orders', 'token-1']), 1);
      assert.equal(await client.exists('lock:orders'), 0);
    } finally {
      await client.quit();
    }
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('latchkey-server: startLatchkey() with ioredis, LOCK.ACQUIRE and flushall()', { timeout: TIMEOUT_MS }, async () => {
  const server = await startLatchkey({ args: ['--databases', '4'] });
  const client = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    const fencing = await client.call('LOCK.ACQUIRE', 'lock:job', 'w1', 'PX', 30000);
    assert.equal(typeof fencing, 'number');
    assert.equal(await client.call('LOCK.RELEASE', 'lock:job', 'w1'), 1);
    assert.deepEqual(await client.config('GET', 'databases'), ['databases', '4']);
    await client.set('k', 'v');
    assert.equal(await server.flushall(), 'OK');
    assert.equal(await client.dbsize(), 0);
    await assert.rejects(server.command('NO-SUCH-COMMAND'), (error) => error instanceof ReplyError && /unknown command/.test(error.message));
  } finally {
    client.disconnect();
    await server.stop();
  }
});

test('latchkey-server: password, stop() twice, findBinary()', { timeout: TIMEOUT_MS }, async () => {
  const server = await startLatchkey({ password: 's3cret' });
  assert.equal(server.url, `redis://:s3cret@127.0.0.1:${server.port}`);
  const client = await createClient({ url: server.url }).connect();
  assert.equal(await client.ping(), 'PONG');
  await client.quit();
  assert.equal(await server.command('PING'), 'PONG');
  const first = server.stop();
  assert.equal(await first, 0);
  assert.equal(await server.stop(), 0);
  assert.ok(findBinary().length > 0);
  await assert.rejects(startLatchkey({ binary: '/nonexistent/latchkey' }), /cannot run/);
});

test('latchkey-server: advance() expires a lock and grants a waiter', { timeout: TIMEOUT_MS }, async () => {
  const server = await startLatchkey();
  const client = await createClient({ url: server.url }).connect();
  const waiter = await createClient({ url: server.url }).connect();
  try {
    assert.equal(await client.set('lock:short', 'me', { NX: true, PX: 3000 }), 'OK');
    assert.equal(await server.advance(5000), 'OK');
    assert.equal(await client.get('lock:short'), null);
    const first = await client.sendCommand(['LOCK.ACQUIRE', 'lock:job', 'a', 'PX', '3000']);
    const granted = waiter.sendCommand(['LOCK.ACQUIRE', 'lock:job', 'b', 'PX', '3000', 'WAIT', '600000']);
    for (let i = 0; i < 500; i++) {
      const info = await client.sendCommand(['LOCK.INFO', 'lock:job']);
      if (info[info.indexOf('waiters') + 1] === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await server.advance(5000);
    assert.ok((await granted) > first);
    assert.equal(await client.get('lock:job'), 'b');
  } finally {
    await client.quit();
    await waiter.quit();
    await server.stop();
  }
});
