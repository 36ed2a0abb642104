"""``--storage_driver=redis``: ``LPUSH <storage_driver_db> <json>`` (cAdvisor ``cmd/internal/storage/redis``).

Documents are :func:`pycadvisor.storage.documents.detail_document`. cAdvisor pushes only the one sample
that arrives when ``storage_driver_buffer_duration`` has elapsed and drops the others; here every sample
is pushed: the samples of one buffer period (or a full batch) go in one ``LPUSH key doc1 doc2 ...``,
which Redis applies atomically, in order (the newest ends up at the head, as with one LPUSH each).

Authentication as in cAdvisor ≥ v0.60: the password is sent only when ``-storage_driver_password`` was
given; since a flag's default ("root") cannot be told from an explicit "root", the default is sent only
if the server asks for authentication. ``-storage_driver_user`` is ignored, as in cAdvisor.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pycadvisor.storage.base import Sample
from pycadvisor.storage.buffer import BufferedDriver, PartialWrite, encode_batch
from pycadvisor.storage.documents import detail_document
from pycadvisor.storage.options import StorageOptions, split_host_port

DEFAULT_PASSWORD = "root"  # lib/storage/common_flags.go default of -storage_driver_password
TIMEOUT_S = 10.0


class RedisDriver(BufferedDriver):
    name = "redis"
    honours_buffer_duration = True

    def __init__(self, opts: StorageOptions, *, machine_name: str) -> None:
        super().__init__(opts, machine_name=machine_name)
        self._host, self._port = split_host_port(opts.storage_driver_host, 6379)
        self._key = opts.storage_driver_db
        password = opts.storage_driver_password
        self._password: str | None = password if password != DEFAULT_PASSWORD else None
        self._may_use_default = password == DEFAULT_PASSWORD
        self._client: aioredis.Redis | None = None

    def encode(self, sample: Sample) -> bytes:
        return detail_document(sample, self.machine_name, include_labels=self.include_labels)

    def _connect(self) -> aioredis.Redis:
        if self._client is None:
            self._client = aioredis.Redis(
                host=self._host,
                port=self._port,
                password=self._password,
                socket_timeout=TIMEOUT_S,
                socket_connect_timeout=TIMEOUT_S,
                retry=Retry(NoBackoff(), 0),  # the buffer retries, with backoff
                health_check_interval=0,
            )
        return self._client

    async def write(self, batch: Sequence[Sample]) -> None:
        docs, index = encode_batch(batch, self.encode, self.log, self.name)
        if docs:
            try:
                await self._connect().lpush(self._key, *docs)
            except (AuthenticationError, ResponseError) as exc:
                # NOAUTH, or (redis-py >= 5, RESP3) "HELLO must be called with the client already authenticated"
                wants_auth = isinstance(exc, AuthenticationError) or "NOAUTH" in str(exc).upper()
                if wants_auth and self._may_use_default and self._password is None:
                    await self._reset(DEFAULT_PASSWORD)  # the server wants a password: try the default
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError):
                await self._reset(self._password)
                raise
        if len(index) < len(batch):
            raise PartialWrite([], len(batch) - len(index), "samples that could not be encoded")

    async def _reset(self, password: str | None) -> None:
        client, self._client = self._client, None
        self._password = password
        if client is not None:
            try:
                await client.aclose()
            except Exception:
                pass

    async def close_client(self) -> None:
        await self._reset(self._password)
