"""RedisWire: the Redis store's per-request commands (GET, GETEX, SET, DEL, EVALSHA) on one
pipelined connection per process.

hiredis, the official C parser that redis-py already uses, packs each command and parses each
reply; an asyncio Protocol carries them, and replies are matched to callers in the order sent (as
Redis answers). What this saves is redis-py's asyncio client around the same bytes: a connection
pool with asyncio locks, observability hooks and a readiness check for every command. Measured by
bench/ on one connection: 182-278 µs of CPU per GET through redis.asyncio.Redis, 30 µs here. The
store keeps redis-py for everything else (INFO, SCAN, the owner index).

Errors are redis-py's own exception classes, so the store treats both paths alike:
    redis.exceptions.ConnectionError  cannot connect, or the connection broke; every call
                                      waiting on it fails with it
    redis.exceptions.TimeoutError     no answer within `timeout` seconds; the connection is closed
                                      (its later answers would be out of step), and so every
                                      other call waiting on it fails with ConnectionError
    ResponseError and its subclasses  an error reply (NoScriptError, OutOfMemoryError,
                                      ReadOnlyError, ...), as redis-py's parser names them
    Unreplicated                      a write made, but WAIT did not see it on enough replicas
                                      in time (see `call`'s replicas)

Through Redis Sentinel (`resolve` given, see sessions.sentinel), every new connection asks where the
primary is now and checks with ROLE that it is one; a READONLY answer (the primary was demoted, and
this connection still talks to it) closes the connection and raises ConnectionError, so the store's
retry connects to the new primary instead of writing to a replica for ever.
"""
from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Any

import hiredis
from redis._parsers.base import BaseParser
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError


def wait_timeout_ms(timeout: float) -> int:
    """WAIT's own timeout for a client whose every call may take `timeout` seconds: under that, so
    that WAIT's answer (too few replicas) comes before the client gives up on the connection."""
    return max(1, int(timeout * 1000 * 0.75))


class Unreplicated(Exception):
    """A write was made on the primary, but WAIT saw it on fewer replicas than asked within its
    timeout (or its answer was lost): it may be lost in a failover, so it must not be acknowledged."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class RedisWire:
    def __init__(self, *, host: str | None = None, port: int = 6379, path: str | None = None, db: int = 0,
                 username: str | None = None, password: str | None = None, timeout: float = 2.0,
                 resolve: Callable[[], Awaitable[tuple[str, int]]] | None = None) -> None:
        """To one address (host and port, or a Unix socket's path), or, with `resolve`, to the
        primary it names on each new connection (Sentinel's answer)."""
        self._address = {"path": path} if path else {"host": host or "localhost", "port": int(port)}
        self._resolve = resolve
        self._db = int(db or 0)
        self._credentials = [c for c in (username, password) if c] if password else []
        self.timeout = timeout
        self.wait_ms = wait_timeout_ms(timeout)
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future | None = None

    @classmethod
    def for_pool(cls, pool: Any, timeout: float) -> RedisWire | None:
        """A wire to where a redis-py asyncio ConnectionPool connects; None for what it does not
        speak (TLS), which the store then sends through redis-py."""
        if pool.connection_class not in (Connection, UnixDomainSocketConnection):
            return None
        options = pool.connection_kwargs
        return cls(host=options.get("host"), port=options.get("port", 6379), path=options.get("path"),
                   db=options.get("db", 0), username=options.get("username"), password=options.get("password"),
                   timeout=timeout)

    async def call(self, *args: str | bytes | int | float, replicas: int = 0) -> Any:
        """The reply to one command: bytes, int, None or a list of those. Raises as the module says.

        With replicas, a write: `WAIT replicas` goes right behind it on the same connection (WAIT
        counts the replicas that have this connection's writes), and Unreplicated is raised when
        fewer than that have it within wait_ms. 0: no WAIT, no extra round trip."""
        protocol = self._protocol if self._protocol is not None and self._protocol.open else await self._connect()
        reply = protocol.send(hiredis.pack_command(args), self.timeout)
        if not replicas:
            return await self._followed(reply)
        waited = protocol.send(hiredis.pack_command(("WAIT", replicas, self.wait_ms)), self.timeout)
        answer, acknowledged = await asyncio.gather(reply, waited, return_exceptions=True)
        if isinstance(answer, BaseException):
            return await self._followed(reply)  # the write's own error, as without WAIT
        if isinstance(acknowledged, BaseException):
            raise Unreplicated(f"the write was made, but WAIT for {replicas} replica(s) got no answer: "
                               f"{acknowledged or type(acknowledged).__name__}")
        if acknowledged < replicas:
            raise Unreplicated(f"the write was made, but only {acknowledged} of the {replicas} replica(s) "
                               f"asked for had it within {self.wait_ms} ms")
        return answer

    async def script(self, sha: str, source: str, keys: list[str], args: list[Any], replicas: int = 0) -> Any:
        """EVALSHA, loading the script first when this Redis does not know it (a restart, a FLUSH)."""
        try:
            return await self.call("EVALSHA", sha, len(keys), *keys, *args, replicas=replicas)
        except NoScriptError:
            await self.call("SCRIPT", "LOAD", source)
            return await self.call("EVALSHA", sha, len(keys), *keys, *args, replicas=replicas)

    async def _followed(self, reply: asyncio.Future) -> Any:
        try:
            return await reply
        except ReadOnlyError:
            if self._resolve is None:
                raise
            # The primary this connection knows was demoted: ask Sentinel again on the next call.
            self.close()
            raise RedisConnectionError("the primary this connection talked to is a replica now") from None

    def close(self) -> None:
        """Close the connection; calls waiting on it fail with ConnectionError. The next call connects again."""
        if self._protocol is not None:
            self._protocol.close(RedisConnectionError("the connection was closed"))
            self._protocol = None

    def close_if_idle(self) -> None:
        if self._protocol is not None and not self._protocol.waiting:
            self.close()

    async def _connect(self) -> _Protocol:
        # Callers that arrive while a connection is being made wait for the same one.
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        if self._resolve is not None:
            # MasterNotFoundError (a ConnectionError) when no sentinel knows a primary now.
            host, port = await self._resolve()
            self._address = {"host": host, "port": int(port)}
        where = self._address.get("path") or f"{self._address['host']}:{self._address['port']}"
        try:
            if "path" in self._address:
                opening = loop.create_unix_connection(_Protocol, self._address["path"])
            else:
                opening = loop.create_connection(_Protocol, self._address["host"], self._address["port"])
            _, protocol = await asyncio.wait_for(opening, self.timeout)
        except asyncio.TimeoutError:
            raise RedisTimeoutError(f"timed out connecting to {where}") from None
        except OSError as error:
            raise RedisConnectionError(f"Error connecting to {where}: {error.strerror or error}") from None
        try:
            if self._credentials:
                await protocol.send(hiredis.pack_command(("AUTH", *self._credentials)), self.timeout)
            if self._db:
                await protocol.send(hiredis.pack_command(("SELECT", self._db)), self.timeout)
            if self._resolve is not None:
                role = await protocol.send(hiredis.pack_command(("ROLE",)), self.timeout)
                if not role or role[0] != b"master":
                    # Sentinel's answer is a moment old (a failover under way): ask again.
                    raise RedisConnectionError(f"{where} is not the primary (its role: {role and role[0]!r})")
        except BaseException:
            protocol.close(RedisConnectionError("the connection's set-up failed"))
            raise
        self._protocol = protocol
        return protocol


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self._reader = hiredis.Reader()
        # Callers' futures and their timers, in the order their commands were sent.
        self._waiting: collections.deque[tuple[asyncio.Future, asyncio.TimerHandle]] = collections.deque()
        self._transport: asyncio.Transport | None = None
        self.open = False

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self.open = True

    def send(self, command: bytes, timeout: float) -> asyncio.Future:
        if not self.open:
            raise RedisConnectionError("the connection is closed")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        timer = loop.call_later(timeout, self._timed_out, future)
        self._waiting.append((future, timer))
        self._transport.write(command)
        return future

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        try:
            while (reply := self._reader.gets()) is not False:
                future, timer = self._waiting.popleft()
                timer.cancel()
                if future.done():
                    continue  # its caller was cancelled: the answer is dropped, in step
                if isinstance(reply, hiredis.ReplyError):
                    future.set_exception(BaseParser.parse_error(str(reply)))
                else:
                    future.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as error:
            # Bytes that are not RESP, or an answer nobody asked for: nothing after them can be trusted.
            self.close(RedisConnectionError(f"Protocol error: {error}"))

    def connection_lost(self, error: Exception | None) -> None:
        self._fail_all(RedisConnectionError(f"Connection closed by server: {error}" if error
                                            else "Connection closed by server."))

    def close(self, error: Exception) -> None:
        self._fail_all(error)
        if self._transport is not None:
            self._transport.close()

    def _timed_out(self, future: asyncio.Future) -> None:
        if not future.done():
            future.set_exception(RedisTimeoutError("Timeout reading from socket"))
        self.close(RedisConnectionError("the connection was closed after a timeout on it"))

    def _fail_all(self, error: Exception) -> None:
        self.open = False
        while self._waiting:
            future, timer = self._waiting.popleft()
            timer.cancel()
            if not future.done():
                future.set_exception(error)

