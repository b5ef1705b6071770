"""A TCP relay on loopback, to put between a process and a server and cut the line mid-test.

``Relay(port).start()`` listens on a free port of its own and forwards every connection to
``127.0.0.1:port``. ``cut("refuse")`` is the server gone: open connections are reset and new ones
refused (the listening socket is closed). ``cut("blackhole")`` is a network that silently drops
packets: connections stay open and new ones are accepted, but no byte goes through either way;
nothing is lost, as with TCP retransmitting, so what was held goes through after ``restore()``.
``restore()`` forwards again (listening anew on the same port after a refusal).

It runs an asyncio loop in a thread of its own; its methods are called from the test's thread.
"""

import asyncio
import contextlib
import socket
import threading

from .processes import free_port


class Relay:
    def __init__(self, target_port: int, *, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="relay")
        self._server: asyncio.AbstractServer | None = None
        self._flowing: asyncio.Event | None = None
        self._connections: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> "Relay":
        self._thread.start()
        self._call(self._start())
        return self

    def cut(self, mode: str = "refuse") -> None:
        if mode not in {"refuse", "blackhole"}:
            raise ValueError(f"mode must be refuse or blackhole, not {mode!r}")
        self._call(self._cut(mode))

    def restore(self) -> None:
        self._call(self._restore())

    def stop(self) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accepted, "127.0.0.1", self.port, reuse_address=True)

    async def _cut(self, mode: str) -> None:
        self._flowing.clear()
        if mode == "refuse":
            if self._server is not None:
                self._server.close()
                self._server = None
            for writer in list(self._writers):
                _reset(writer)
            for task in list(self._connections):
                task.cancel()

    async def _stop(self) -> None:
        await self._cut("refuse")
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _restore(self) -> None:
        if self._server is None:
            await self._listen()
        self._flowing.set()

    async def _accepted(self, client_reader, client_writer) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        self._writers.add(client_writer)
        server_writer = None
        try:
            await self._flowing.wait()  # a blackhole accepts, and connects onwards only once restored
            server_reader, server_writer = await asyncio.open_connection(*self.target)
            self._writers.add(server_writer)
            await asyncio.gather(
                self._pump(client_reader, server_writer),
                self._pump(server_reader, client_writer),
                return_exceptions=True,
            )
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for writer in (client_writer, server_writer):
                if writer is not None:
                    self._writers.discard(writer)
                    writer.close()
            self._connections.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await self._flowing.wait()
            data = await reader.read(65536)
            if not data:
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            await self._flowing.wait()  # read during a blackhole: held until it is restored
            writer.write(data)
            await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Closes with a reset (RST), as a server that went away leaves its connections."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    writer.transport.abort()
