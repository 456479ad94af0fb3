'use strict';
// latchkey-server: starts the latchkey binary on a free loopback port for a test and stops it
// again. The server is started with `--port 0`, prints `latchkey listening on HOST:PORT` once it
// accepts connections, and that line is what startLatchkey() waits for. A few commands
// (PING, FLUSHALL, DEBUG ADVANCE) are sent with a tiny RESP client of its own, so the package
// depends on no Redis client.

const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const BINARY_NAME = process.platform === 'win32' ? 'latchkey.exe' : 'latchkey';
const START_LINE = /^latchkey listening on (.+):(\d+)$/;
// The checkout this package sits in, when it is installed from a clone (`npm install ./js`).
const REPO_ROOT = path.resolve(__dirname, '..');

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The binary the Python package installed (`pip install ./python`), if any. */
function pythonInstalledBinary() {
  const candidates = [];
  if (process.env.VIRTUAL_ENV) candidates.push(path.join(process.env.VIRTUAL_ENV, 'bin', BINARY_NAME));
  for (const file of candidates) if (isExecutable(file)) return file;
  for (const python of ['python3', 'python']) {
    try {
      const found = execFileSync(python, ['-c', 'import latchkey; print(latchkey.find_binary())'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 10_000,
        env: { ...process.env, LATCHKEY_BIN: '' },
      }).trim();
      if (found && isExecutable(found)) return found;
    } catch {
      // No such interpreter, or the package is not installed there.
    }
  }
  return null;
}

function onPath() {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, BINARY_NAME))) return path.join(dir, BINARY_NAME);
  }
  return null;
}

/** The release build in the checkout (what `npm install` builds when nothing else is found). */
function repoBuild() {
  const file = path.join(REPO_ROOT, 'target', 'release', BINARY_NAME);
  return isExecutable(file) ? file : null;
}

/** Whether this package sits in a checkout of latchkey, where cargo can build the binary. */
function inCheckout() {
  const manifest = path.join(REPO_ROOT, 'Cargo.toml');
  return fs.existsSync(manifest) && /^name = "latchkey"$/m.test(fs.readFileSync(manifest, 'utf8'));
}

/**
 * Builds the release binary in the checkout (`cargo build --release -p latchkey`, a few minutes
 * the first time), its output on stderr. Returns the binary, or null when there is no checkout,
 * no cargo, or the build failed.
 */
function buildInCheckout() {
  if (!inCheckout()) return null;
  process.stderr.write(`latchkey-server: building latchkey with cargo in ${REPO_ROOT}\n`);
  const build = spawnSync('cargo', ['build', '--release', '-p', 'latchkey'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', process.stderr, process.stderr],
  });
  if (build.error || build.status !== 0) {
    process.stderr.write(`latchkey-server: cargo build failed (${build.error ? build.error.message : `status ${build.status}`})\n`);
    return null;
  }
  return repoBuild();
}

/**
 * The latchkey binary to run: `options.binary`, else `LATCHKEY_BIN`, else the one the Python
 * package installed, else `latchkey` on PATH, else the checkout's `target/release/latchkey`
 * (built by the install step, or here on first use when the install step did not run: npm asks
 * for install scripts to be approved). Throws when there is none.
 */
function findBinary(options = {}) {
  const found = options.binary || process.env.LATCHKEY_BIN || pythonInstalledBinary() || onPath() || repoBuild();
  if (found) return found;
  const built = options.build === false || process.env.LATCHKEY_SKIP_BUILD ? null : buildInCheckout();
  if (built) return built;
  throw new Error(
    'latchkey-server: no latchkey binary. Set LATCHKEY_BIN, `pip install ./python`, put latchkey on PATH, ' +
      'or install this package from a checkout of latchkey with cargo available (it runs `cargo build --release`).',
  );
}

function encode(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const data = Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg));
    parts.push(Buffer.from(`$${data.length}\r\n`), data, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

class ReplyError extends Error {}

/** One RESP2 reply from `buf` at `pos`: [value, next] or null when incomplete. */
function parse(buf, pos = 0) {
  if (pos >= buf.length) return null;
  const end = buf.indexOf('\r\n', pos);
  if (end < 0) return null;
  const kind = String.fromCharCode(buf[pos]);
  const line = buf.toString('utf8', pos + 1, end);
  const next = end + 2;
  switch (kind) {
    case '+':
      return [line, next];
    case '-':
      return [new ReplyError(line), next];
    case ':':
      return [Number(line), next];
    case '$': {
      const len = Number(line);
      if (len < 0) return [null, next];
      if (buf.length < next + len + 2) return null;
      return [buf.toString('utf8', next, next + len), next + len + 2];
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return [null, next];
      const items = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parse(buf, at);
        if (!item) return null;
        items.push(item[0]);
        at = item[1];
      }
      return [items, at];
    }
    default:
      throw new Error(`latchkey-server: unexpected reply type ${JSON.stringify(kind)}`);
  }
}

function sendCommand(host, port, password, args, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ host, port });
    const wanted = password == null ? 1 : 2;
    const replies = [];
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`latchkey-server: no reply to ${args[0]} within ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (error, value) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(value);
    };
    socket.on('connect', () => {
      const auth = password == null ? Buffer.alloc(0) : encode(['AUTH', password]);
      socket.write(Buffer.concat([auth, encode(args)]));
    });
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      let parsed;
      while (replies.length < wanted && (parsed = parse(buf))) {
        replies.push(parsed[0]);
        buf = buf.subarray(parsed[1]);
      }
      if (replies.length === wanted) {
        const error = replies.find((r) => r instanceof ReplyError);
        finish(error || null, replies[replies.length - 1]);
      }
    });
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new Error('latchkey-server: the server closed the connection')));
  });
}

/**
 * Starts a latchkey server and resolves once it accepts connections.
 * See index.d.ts for the options and the returned handle.
 */
function startLatchkey(options = {}) {
  const binary = findBinary(options);
  const bind = options.bind || '127.0.0.1';
  const args = ['--bind', bind, '--port', String(options.port ?? 0)];
  if (options.password != null) args.push('--requirepass', options.password);
  args.push(...(options.args || []).map(String));
  const startupTimeoutMs = options.startupTimeoutMs ?? 15_000;

  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env || process.env,
    });
    // Never leave a server behind when the test process exits without stopping it.
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    let stdout = '';
    let stderr = '';
    let started = false;
    const exited = new Promise((done) => child.once('exit', (code, sig) => done(code ?? sig)));
    const fail = (message) => {
      if (started) return;
      started = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      process.removeListener('exit', killOnExit);
      reject(new Error(`latchkey-server: ${message}${stderr ? `: ${stderr.trim().slice(-2000)}` : ''}`));
    };
    const timer = setTimeout(() => fail(`no start line within ${startupTimeoutMs} ms`), startupTimeoutMs);
    child.stderr.on('data', (chunk) => {
      if (stderr.length < 65536) stderr += chunk.toString();
    });
    child.on('error', (error) => fail(`cannot run ${binary} (${error.message})`));
    child.once('exit', (code, sig) => fail(`${binary} exited with ${code ?? sig}`));
    child.stdout.on('data', (chunk) => {
      if (started) return; // later lines (a TLS listener) are read and dropped
      stdout += chunk.toString();
      const newline = stdout.indexOf('\n');
      if (newline < 0) return;
      const match = START_LINE.exec(stdout.slice(0, newline).trim());
      if (!match) return fail(`unexpected output ${JSON.stringify(stdout.slice(0, newline))}`);
      const host = match[1].replace(/^\[|\]$/g, '');
      const port = Number(match[2]);
      const urlHost = host.includes(':') ? `[${host}]` : host;
      const auth = options.password != null ? `:${encodeURIComponent(options.password)}@` : '';
      const command = (...commandArgs) => sendCommand(host, port, options.password, commandArgs);
      let stopping = null;
      const handle = {
        host,
        port,
        url: `redis://${auth}${urlHost}:${port}`,
        process: child,
        command,
        advance: (ms) => command('DEBUG', 'ADVANCE', Math.trunc(ms)),
        flushall: () => command('FLUSHALL'),
        stop(timeoutMs = 10_000) {
          if (!stopping) {
            stopping = (async () => {
              if (child.exitCode === null && child.signalCode === null) {
                child.kill('SIGTERM');
                const timeout = new Promise((done) => setTimeout(done, timeoutMs, 'timeout'));
                if ((await Promise.race([exited, timeout])) === 'timeout') child.kill('SIGKILL');
              }
              const status = await exited;
              process.removeListener('exit', killOnExit);
              return status;
            })();
          }
          return stopping;
        },
      };
      command('PING').then(
        () => {
          started = true;
          clearTimeout(timer);
          resolve(handle);
        },
        (error) => fail(`no reply to PING (${error.message})`),
      );
    });
  });
}

module.exports = { startLatchkey, findBinary, buildInCheckout, ReplyError };
