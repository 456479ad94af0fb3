// Shared helpers for the Node compatibility suite. The runner (tests/compat/runner.py) starts the
// servers and passes their addresses in LATCHKEY_ADDRS. Test names start with the library they
// drive ("redlock: …"), which is the compatibility table's row. A test whose commands the running
// server lacks (checked with COMMAND INFO) is skipped with the reason, and runs by itself once
// the command lands.
import net from 'node:net';
import crypto from 'node:crypto';

if (!process.env.LATCHKEY_ADDRS) {
  throw new Error('LATCHKEY_ADDRS is not set: run the suite through tests/compat/run.sh');
}

export const addrs = process.env.LATCHKEY_ADDRS.split(',').map((a) => {
  const [host, port] = a.split(':');
  return { host, port: Number(port) };
});

export const TEST_TIMEOUT_MS = 60_000;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function uniqueKey(name) {
  return `compat:${name}:${crypto.randomBytes(4).toString('hex')}`;
}

const known = new Map();

/** Whether the first server's `COMMAND INFO <name>` has an entry rather than a nil. */
function serverKnows(name) {
  const command = name.toLowerCase();
  if (!known.has(command)) {
    known.set(command, new Promise((resolve, reject) => {
      const { host, port } = addrs[0];
      const socket = net.createConnection({ host, port });
      let reply = Buffer.alloc(0);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`COMMAND INFO ${command}: no reply within 5 s`));
      }, 5000);
      socket.on('connect', () => {
        socket.write(`*3\r\n$7\r\nCOMMAND\r\n$4\r\nINFO\r\n$${command.length}\r\n${command}\r\n`);
      });
      socket.on('data', (chunk) => {
        reply = Buffer.concat([reply, chunk]);
        if (reply.length >= 9) {
          clearTimeout(timer);
          socket.destroy();
          const text = reply.toString('latin1');
          resolve(text.startsWith('*1\r\n*') && !text.startsWith('*1\r\n*-1\r\n'));
        }
      });
      socket.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    }));
  }
  return known.get(command);
}

/** `false` when the server knows every command, else the skip reason. */
export async function requires(...commands) {
  const missing = [];
  for (const command of commands) {
    if (!(await serverKnows(command))) missing.push(command);
  }
  return missing.length ? `requires ${missing.join(', ')} (not in the server's COMMAND INFO)` : false;
}

/**
 * A counter kept outside latchkey, in this process, updated by a deliberate read-sleep-write:
 * two holders overlapping inside the lock lose an increment. `maxInside` counts overlapping
 * holders directly as well.
 */
export class Counter {
  value = 0;
  inside = 0;
  maxInside = 0;

  async increment() {
    this.inside += 1;
    this.maxInside = Math.max(this.maxInside, this.inside);
    const read = this.value;
    await sleep(2);
    this.value = read + 1;
    this.inside -= 1;
  }
}

/** Rejects when `promise` has not settled within `ms`. */
export function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Retries `check` (an async function that throws while its condition does not hold) for up to
 * `ms`: for libraries that resolve once a quorum answered while the last instance's reply is
 * still in flight.
 */
export async function eventually(check, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(10);
    }
  }
}
