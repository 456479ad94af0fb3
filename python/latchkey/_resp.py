"""The few bytes of RESP2 the helpers speak: encode a command, parse one reply.

The package needs no client library: it sends `PING`, `FLUSHALL` and `DEBUG ADVANCE` itself,
so installing it brings in nothing but the binary.
"""


class ReplyError(Exception):
    """An error reply from the server (`-ERR …`), its text as the message."""


class _Incomplete(Exception):
    """More bytes are needed before the reply can be parsed."""


def encode(args):
    """A command as a RESP multibulk request; arguments may be str, bytes or int."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int) and not isinstance(arg, bool):
            data = b"%d" % arg
        else:
            raise TypeError(f"argument {arg!r}: expected str, bytes or int")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def parse(buffer):
    """Parses one reply from the start of `buffer`: `(value, bytes used)`, or None when the
    buffer holds only part of it. Error replies come back as `ReplyError` values (not raised),
    so the caller decides."""
    try:
        return _parse_at(buffer, 0)
    except _Incomplete:
        return None


def _line(buffer, pos):
    end = buffer.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    return buffer[pos:end], end + 2


def _parse_at(buffer, pos):
    if pos >= len(buffer):
        raise _Incomplete
    kind = buffer[pos:pos + 1]
    line, pos = _line(buffer, pos + 1)
    if kind == b"+":
        return line.decode(errors="replace"), pos
    if kind == b"-":
        return ReplyError(line.decode(errors="replace")), pos
    if kind == b":":
        return int(line), pos
    if kind == b"$":
        length = int(line)
        if length < 0:
            return None, pos
        if len(buffer) < pos + length + 2:
            raise _Incomplete
        return bytes(buffer[pos:pos + length]), pos + length + 2
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, pos
        items = []
        for _ in range(count):
            item, pos = _parse_at(buffer, pos)
            items.append(item)
        return items, pos
    raise ValueError(f"unexpected reply type {kind!r}")
