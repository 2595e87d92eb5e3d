"""Where the Redis primary is: at one URL, or wherever Redis Sentinel says it is now.

`RedisPrimary` makes the redis-py client of everything that talks to Redis (the session store, its
owner index, the fleet-wide limits) and the store's own wire (redis_wire.py), so that all of them
follow a failover alike: every new connection asks the sentinels for the primary's address, and a
READONLY answer (a demoted primary), a refused or a lost connection drops the connection, so the
next try asks again. No restart.

`ask_sentinels` is the start's check (app.py): at least one sentinel answers and knows the primary.
"""
from __future__ import annotations

from collections.abc import Sequence

import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.retry import Retry as BlockingRetry
from redis.exceptions import RedisError

from .redis_wire import RedisWire

DEFAULT_MASTER = "shop"


class RedisPrimary:
    """The client of the Redis primary: by URL, or through the sentinels at `sentinels` (host,
    port pairs) that monitor the primary named `master` (then the URL is not used)."""

    def __init__(self, url: str | None, *, sentinels: Sequence[tuple[str, int]] = (),
                 master: str = DEFAULT_MASTER, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self.master = master
        self.sentinels = tuple((host, int(port)) for host, port in sentinels)
        # redis-py's own retries are off: the store's count SESSION_RETRIES, the limits fall back.
        options = {"socket_timeout": timeout, "socket_connect_timeout": timeout, "retry": Retry(NoBackoff(), 0)}
        if self.sentinels:
            self._sentinel: Sentinel | None = Sentinel(self.sentinels, sentinel_kwargs=dict(options), **options)
            self.client: redis.asyncio.Redis = self._sentinel.master_for(master)
        elif url is None:
            raise ValueError("a Redis primary needs a url or sentinels")
        else:
            self._sentinel = None
            self.client = redis.asyncio.Redis.from_url(url, **options)

    @property
    def through_sentinel(self) -> bool:
        return self._sentinel is not None

    async def address(self) -> tuple[str, int]:
        """Where the primary is now, as the first sentinel that knows says (MasterNotFoundError, a
        redis ConnectionError, when none does: a failover under way, or no sentinel answers)."""
        if self._sentinel is None:
            options = self.client.connection_pool.connection_kwargs
            return options.get("host") or options.get("path"), options.get("port", 0)
        host, port = await self._sentinel.discover_master(self.master)
        return host, int(port)

    def wire(self) -> RedisWire | None:
        """The store's pipelined wire to this primary; None where it does not speak the URL's kind (TLS)."""
        if self._sentinel is None:
            return RedisWire.for_pool(self.client.connection_pool, self.timeout)
        return RedisWire(timeout=self.timeout, resolve=self.address)

    async def close(self) -> None:
        await self.client.aclose()
        if self._sentinel is not None:
            await self._sentinel.aclose()


class NoSentinelAnswers(Exception):
    """str(error) is one line: which sentinels were asked and what each said."""


def ask_sentinels(sentinels: Sequence[tuple[str, int]], master: str, timeout: float = 2.0) -> tuple[str, int]:
    """The primary's address as the first sentinel that knows it says; NoSentinelAnswers when none
    answers, or none monitors `master`. Blocking: for the start, before any event loop."""
    said = []
    for host, port in sentinels:
        client = redis.Redis(host=host, port=port, socket_timeout=timeout, socket_connect_timeout=timeout,
                             retry=BlockingRetry(NoBackoff(), 0))
        try:
            address = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", master)
        except (RedisError, OSError) as error:
            said.append(f"{host}:{port}: {error or type(error).__name__}")
            continue
        finally:
            client.close()
        if address:
            return address[0].decode(), int(address[1])
        said.append(f"{host}:{port}: monitors no primary named {master!r}")
    raise NoSentinelAnswers("; ".join(said))

