"""How the service reaches a server that listens on 127.0.0.1 of a project's network
namespace (a SQL engine, a running job's Spark UI): a unix socket in a directory of the
service's alone whose connections are carried to that address.

Clients (gRPC, httpx) open their sockets in threads of their own, which stay in the
service's namespace; the bridge's thread enters the project's namespace once, and every
connection it makes to the server is made from there. Nothing of another project (which
runs as another user, in another namespace, without a view of the service's files) can
reach the socket or the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from pathlib import Path

from .tenants import enter_netns

log = logging.getLogger(__name__)

_CHUNK = 256 * 1024


class Bridge:
    """Serves ``socket_path`` and carries each connection to ``host:port`` in ``netns``."""

    def __init__(self, socket_path: Path, netns: Path, host: str, port: int,
                 name: str = "SQL engine") -> None:
        self.socket_path = socket_path
        self.name = name
        self.netns = netns
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True,
                                        name=f"bridge {name} {socket_path.name}")

    @property
    def target(self) -> str:
        return f"unix:{self.socket_path}"

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise OSError(f"the {self.name}'s bridge did not start: {self._error}")

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(10)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _main(self) -> None:
        try:
            enter_netns(self.netns)
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            log.exception("%s bridge %s failed", self.name, self.socket_path)
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.socket_path.unlink(missing_ok=True)
        server = await asyncio.start_unix_server(self._carry, path=str(self.socket_path))
        os.chmod(self.socket_path, 0o600)
        self._ready.set()
        async with server:
            await self._stop.wait()
        self.socket_path.unlink(missing_ok=True)

    async def _carry(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer),
                             return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.close()
