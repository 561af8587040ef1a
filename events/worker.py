"""A delivery worker: fan out, claim, attempt, record, for as long as it runs.

It wakes on `LISTEN crm_events` (the outbox NOTIFYs at each commit that wrote events)
and polls every `poll` seconds besides, for what no notification announces: a retry
falling due, a lease running out, a notification lost while the listening connection
was down. Run as many as needed (`crm worker` processes, or the server's in-process
worker): they share the work through SKIP LOCKED claims (events.delivery).

`stop()` (SIGTERM in `crm worker`) lets the batch in flight finish and be recorded,
then returns; a worker killed outright loses nothing (its leases expire)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from events import delivery
from events.outbox import CHANNEL
from models import Database

log = logging.getLogger("crm.webhooks")


class Worker:
    def __init__(self, database: Database, policy: delivery.DeliveryPolicy, *, poll: float = 5.0,
                 name: str | None = None) -> None:
        self.database, self.policy, self.poll = database, policy, poll
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.delivered = 0  # attempts recorded by this worker
        self.batches = 0

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def _listen(self) -> Any:
        url = make_url(self.database.engine.url.render_as_string(hide_password=False)).set(drivername="postgresql")
        try:
            connection = await asyncpg.connect(url.render_as_string(hide_password=False))
            await connection.add_listener(CHANNEL, lambda *args: self._wake.set())
            return connection
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("webhook worker cannot LISTEN (%s); polling only", error)
            return None

    async def step(self) -> int:
        """Fans out what is waiting, then claims, attempts and records one batch; the
        number of attempts recorded (0: nothing was due)."""
        await delivery.fan_out_all(self.database)
        token = delivery.new_token()
        async with self.database.session() as session, session.begin():
            claimed = await delivery.claim(session, self.policy, token)
        if not claimed:
            return 0
        gate = asyncio.Semaphore(self.policy.concurrency)

        async def one(item: delivery.Claimed) -> delivery.Outcome:
            async with gate:
                return await delivery.attempt(item, self.policy)

        outcomes = await asyncio.gather(*(one(item) for item in claimed))
        async with self.database.session() as session, session.begin():
            written = await delivery.record(session, list(outcomes), self.policy, token, worker=self.name)
        self.delivered += written
        self.batches += 1
        return len(claimed)

    async def run(self) -> None:
        listener = await self._listen()
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    worked = await self.step()
                except (OSError, asyncpg.PostgresError, ConnectionError) as error:
                    log.warning("webhook worker step failed: %s", error)
                    worked = 0
                except Exception:  # noqa: BLE001 - a worker outlives one bad batch; it is logged
                    log.exception("webhook worker step failed")
                    worked = 0
                if worked or self._stopping.is_set():
                    continue
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll)
                except TimeoutError:
                    pass
        finally:
            if listener is not None:
                try:
                    await listener.close(timeout=2)
                except (OSError, asyncpg.PostgresError, TimeoutError):
                    pass


class InProcess:
    """The server's own worker (CRM_WEBHOOK_DELIVER): a task of the app's lifespan."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.task = asyncio.get_running_loop().create_task(worker.run(), name="webhook-deliveries")

    async def stop(self) -> None:
        self.worker.stop()
        try:
            await asyncio.wait_for(asyncio.shield(self.task), self.worker.policy.timeout + 5)
        except TimeoutError:
            self.task.cancel()


def in_process_worker(database: Database, settings: Any) -> InProcess:
    return InProcess(Worker(database, delivery.DeliveryPolicy.of(settings), poll=settings.webhook_poll_ms / 1000,
                            name=f"{socket.gethostname()}:{os.getpid()}:server"))
