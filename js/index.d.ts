import type { ChildProcess } from 'node:child_process';

export interface LatchkeyOptions {
  /** The latchkey executable. Default: `LATCHKEY_BIN`, the Python package's binary, `latchkey` on PATH, the checkout's release build. */
  binary?: string;
  /** Extra command-line flags, e.g. `['--databases', '4']`. */
  args?: Array<string | number>;
  /** Address to listen on. Default `127.0.0.1`. */
  bind?: string;
  /** Port to listen on. Default `0`: a free port the kernel picks. */
  port?: number;
  /** Sets `--requirepass`; `url` and the handle's commands then authenticate. */
  password?: string;
  /** How long to wait for the server's start line. Default 15000 ms. */
  startupTimeoutMs?: number;
  /** Build the binary with cargo when none is found (from a checkout only). Default true. */
  build?: boolean;
  /** The server's environment. Default: this process's. */
  env?: NodeJS.ProcessEnv;
}

/** A RESP2 reply as the handle's tiny client decodes it. */
export type Reply = string | number | null | Reply[];

export interface LatchkeyServer {
  /** The address the server listens on (`127.0.0.1` unless `bind` says otherwise). */
  readonly host: string;
  /** The port the server got. */
  readonly port: number;
  /** `redis://host:port`, with the password when one was set: what node-redis and ioredis take. */
  readonly url: string;
  /** The server's process. */
  readonly process: ChildProcess;
  /** Moves the server's clock forward (`DEBUG ADVANCE ms`): keys expire, lock waits are granted, blocking pops time out. */
  advance(ms: number): Promise<Reply>;
  /** Deletes every key (`FLUSHALL`). */
  flushall(): Promise<Reply>;
  /** Sends one command on a fresh connection; an error reply rejects with a `ReplyError`. */
  command(...args: Array<string | number | Buffer>): Promise<Reply>;
  /** SIGTERM (graceful shutdown), SIGKILL after `timeoutMs` (default 10000); resolves to the exit code. Safe to call twice. */
  stop(timeoutMs?: number): Promise<number | string | null>;
}

/** Starts a latchkey server on a free loopback port and resolves once it answers `PING`. */
export function startLatchkey(options?: LatchkeyOptions): Promise<LatchkeyServer>;

/**
 * The latchkey binary `startLatchkey` would run. When none is found and this package sits in a
 * checkout of latchkey, builds it with cargo first (unless `build: false` or
 * `LATCHKEY_SKIP_BUILD`). Throws when there is none.
 */
export function findBinary(options?: Pick<LatchkeyOptions, 'binary' | 'build'>): string;

/** Runs `cargo build --release -p latchkey` in the checkout; the binary, or null. */
export function buildInCheckout(): string | null;

/** An error reply from the server (`ERR …`). */
export class ReplyError extends Error {}
