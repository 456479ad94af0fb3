"""`Server` and `AsyncServer`: one latchkey process on a free loopback port, for one test run.

The binary is started with `--port 0`, so the kernel picks a free port and nothing races for
it; the server prints `latchkey listening on HOST:PORT` once it accepts connections, and that
line is what `start()` waits for. `stop()` sends SIGTERM (a graceful shutdown) and waits.
"""

import asyncio
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time
import weakref

from . import _resp

BINARY_NAME = "latchkey.exe" if os.name == "nt" else "latchkey"
START_LINE = re.compile(r"^latchkey listening on (.+):(\d+)$")


class ServerError(RuntimeError):
    """The server could not be found, did not start in time, or exited early."""


def find_binary(binary=None):
    """The path of the `latchkey` binary to run.

    In order: `binary` when given, the `LATCHKEY_BIN` environment variable, the binary this
    package installed into the environment's scripts folder (or the user's, after
    `pip install --user`), then `latchkey` on `PATH`."""
    if binary:
        return str(binary)
    from_env = os.environ.get("LATCHKEY_BIN")
    if from_env:
        return from_env
    candidates = [sysconfig.get_path("scripts")]
    try:
        candidates.append(sysconfig.get_path("scripts", f"{os.name}_user"))
    except KeyError:
        pass
    for folder in candidates:
        path = os.path.join(folder, BINARY_NAME) if folder else None
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    on_path = shutil.which(BINARY_NAME)
    if on_path:
        return on_path
    raise ServerError("no latchkey binary: install this package with pip (it builds one), "
                      "put latchkey on PATH, or set LATCHKEY_BIN")


class _Process:
    """What `Server` and `AsyncServer` share: the command line, the start line, the URL."""

    def __init__(self, args, binary, bind, port, password, startup_timeout, env):
        self.args = [str(a) for a in args]
        self.binary = binary
        self.bind = bind
        self.requested_port = port
        self.password = password
        self.startup_timeout = startup_timeout
        self.env = env
        self.host = None
        self.port = None
        self._stderr = None

    def _command(self):
        command = [find_binary(self.binary), "--bind", self.bind,
                   "--port", str(self.requested_port)]
        if self.password is not None:
            command += ["--requirepass", self.password]
        return command + self.args

    def _take_start_line(self, raw):
        match = START_LINE.match(raw.decode(errors="replace").strip())
        if not match:
            raise ServerError(f"latchkey did not print its start line (got {raw!r}): "
                              f"{self._stderr_text()}")
        self.host = match.group(1).strip("[]")
        self.port = int(match.group(2))

    def _stderr_text(self):
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()[-2000:]

    def _auth_prefix(self):
        if self.password is None:
            return b""
        return _resp.encode(["AUTH", self.password])

    @property
    def address(self):
        """`(host, port)` of the plain listener."""
        return self.host, self.port

    @property
    def url(self):
        """`redis://host:port` (with the password when one was set): what redis-py's
        `Redis.from_url` and `redis.asyncio.from_url` take."""
        host = f"[{self.host}]" if ":" in (self.host or "") else self.host
        auth = f":{self.password}@" if self.password is not None else ""
        return f"redis://{auth}{host}:{self.port}"


def _terminate(proc, timeout):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class Server(_Process):
    """A latchkey server for the length of a `with` block (or from `start()` to `stop()`).

        with latchkey.Server() as server:
            r = redis.Redis.from_url(server.url)
            ...

    Extra command-line flags go as positional arguments: `Server("--databases", "4")`.
    `binary=` names the executable (see `find_binary`), `bind=` the address (loopback by
    default), `port=` a fixed port instead of a free one, `password=` sets `--requirepass` (the
    helpers then authenticate, and `url` carries it)."""

    def __init__(self, *args, binary=None, bind="127.0.0.1", port=0, password=None,
                 startup_timeout=15.0, env=None):
        super().__init__(args, binary, bind, port, password, startup_timeout, env)
        self._proc = None
        self._finalizer = None

    def start(self):
        """Starts the process and returns once it accepts connections."""
        if self._proc is not None:
            raise ServerError("already started")
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(self._command(), stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=self._stderr, env=self.env)
        # Killed at interpreter exit if nobody stopped it.
        self._finalizer = weakref.finalize(self, _terminate, self._proc, 5)
        try:
            self._take_start_line(self._read_line(self.startup_timeout))
            self.execute("PING")
        except BaseException:
            self.stop()
            raise
        return self

    def _read_line(self, timeout):
        deadline = time.monotonic() + timeout
        line = b""
        with selectors.DefaultSelector() as selector:
            selector.register(self._proc.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerError(f"latchkey printed no start line within {timeout} s: "
                                      f"{self._stderr_text()}")
                if not selector.select(min(left, 0.2)):
                    if self._proc.poll() is not None:
                        raise ServerError(f"latchkey exited with {self._proc.returncode}: "
                                          f"{self._stderr_text()}")
                    continue
                byte = os.read(self._proc.stdout.fileno(), 1)
                if not byte:
                    self._proc.wait(timeout=5)
                    raise ServerError(f"latchkey exited with {self._proc.returncode}: "
                                      f"{self._stderr_text()}")
                line += byte
        return line

    def execute(self, *args, timeout=10.0):
        """Sends one command on a fresh connection and returns its reply (RESP2: str for a
        status, bytes for a bulk string, int, list, None); an error reply raises `ReplyError`."""
        if self.port is None:
            raise ServerError("not started")
        with socket.create_connection((self.host, self.port), timeout=timeout) as conn:
            prefix = self._auth_prefix()
            conn.sendall(prefix + _resp.encode(args))
            buffer = b""
            replies = []
            wanted = 2 if prefix else 1
            while len(replies) < wanted:
                parsed = _resp.parse(buffer)
                if parsed is None:
                    chunk = conn.recv(65536)
                    if not chunk:
                        raise ServerError("the server closed the connection")
                    buffer += chunk
                    continue
                value, used = parsed
                buffer = buffer[used:]
                replies.append(value)
        for reply in replies:
            if isinstance(reply, _resp.ReplyError):
                raise reply
        return replies[-1]

    def advance(self, ms):
        """Moves the server's clock `ms` milliseconds forward (`DEBUG ADVANCE`): keys expire,
        lock waits are granted and blocking pops time out as if that time had passed."""
        return self.execute("DEBUG", "ADVANCE", int(ms))

    def flushall(self):
        """Deletes every key in every database."""
        return self.execute("FLUSHALL")

    @property
    def running(self):
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout=10.0):
        """SIGTERM, then waits up to `timeout` seconds (then SIGKILL); returns the exit status.
        Stopping twice is harmless."""
        if self._proc is None:
            return None
        code = _terminate(self._proc, timeout)
        if self._proc.stdout:
            self._proc.stdout.close()
        if self._finalizer:
            self._finalizer.detach()
        return code

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class AsyncServer(_Process):
    """`Server` for asyncio code: the same arguments, with awaitable methods.

        async with latchkey.AsyncServer() as server:
            r = redis.asyncio.from_url(server.url)
            await r.set("lock:job", "me", nx=True, px=3000)
            await server.advance(5000)
    """

    def __init__(self, *args, binary=None, bind="127.0.0.1", port=0, password=None,
                 startup_timeout=15.0, env=None):
        super().__init__(args, binary, bind, port, password, startup_timeout, env)
        self._proc = None

    async def start(self):
        if self._proc is not None:
            raise ServerError("already started")
        self._stderr = tempfile.TemporaryFile()
        self._proc = await asyncio.create_subprocess_exec(
            *self._command(), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=self._stderr, env=self.env)
        try:
            try:
                line = await asyncio.wait_for(self._proc.stdout.readline(),
                                              self.startup_timeout)
            except asyncio.TimeoutError:
                raise ServerError(f"latchkey printed no start line within "
                                  f"{self.startup_timeout} s: {self._stderr_text()}") from None
            if not line:
                await self._proc.wait()
                raise ServerError(f"latchkey exited with {self._proc.returncode}: "
                                  f"{self._stderr_text()}")
            self._take_start_line(line)
            await self.execute("PING")
        except BaseException:
            await self.stop()
            raise
        return self

    async def execute(self, *args, timeout=10.0):
        if self.port is None:
            raise ServerError("not started")
        return await asyncio.wait_for(self._execute(args), timeout)

    async def _execute(self, args):
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            prefix = self._auth_prefix()
            writer.write(prefix + _resp.encode(args))
            await writer.drain()
            buffer = b""
            replies = []
            wanted = 2 if prefix else 1
            while len(replies) < wanted:
                parsed = _resp.parse(buffer)
                if parsed is None:
                    chunk = await reader.read(65536)
                    if not chunk:
                        raise ServerError("the server closed the connection")
                    buffer += chunk
                    continue
                value, used = parsed
                buffer = buffer[used:]
                replies.append(value)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
        for reply in replies:
            if isinstance(reply, _resp.ReplyError):
                raise reply
        return replies[-1]

    async def advance(self, ms):
        return await self.execute("DEBUG", "ADVANCE", int(ms))

    async def flushall(self):
        return await self.execute("FLUSHALL")

    @property
    def running(self):
        return self._proc is not None and self._proc.returncode is None

    async def stop(self, timeout=10.0):
        if self._proc is None:
            return None
        if self._proc.returncode is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._proc.wait(), timeout)
            except asyncio.TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        return self._proc.returncode

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.stop()
