"""Run the latchkey lock server from Python: in tests, scripts and notebooks.

`Server` starts the `latchkey` binary on a free loopback port and stops it again; `AsyncServer`
does the same from asyncio code. The pytest plugin in `latchkey.pytest_plugin` (loaded by
pytest on its own) turns one into the `latchkey` fixture.
"""

from ._resp import ReplyError
from ._server import AsyncServer, Server, ServerError, find_binary

__all__ = ["AsyncServer", "ReplyError", "Server", "ServerError", "find_binary"]
