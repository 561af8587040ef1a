"""Real parts for webhook tests: an HTTP receiver on 127.0.0.1 (asyncio, in the test
process), events written through the real outbox, endpoints registered through the API,
and `crm worker` processes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from events.delivery import DeliveryPolicy
from events.orders import OrderCancelled
from events.outbox import Emission, emit_all
from tests.process import ROOT, crm_env

CREATE = """mutation($i: WebhookEndpointCreateInput!) { webhookEndpointCreate(input: $i) {
  endpoint { id url eventTypes active } secret errors { field code message } } }"""

# Fast and small, for tests: retries in milliseconds, short leases.
FAST = DeliveryPolicy(backoff_base=0.05, backoff_cap=0.4, max_attempts=4, disable_after=4, timeout=3.0, lease=30.0,
                      allow_private=True)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers POSTs with `statuses` in turn (then `status`); records every request."""

    status: int = 204
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    server: asyncio.AbstractServer | None = None
    port: int = 0
    # Cleared: requests are received (and recorded) but not answered until it is set.
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.gate.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> Receiver:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readline()
            headers: dict[str, str] = {}
            while True:
                line = (await reader.readline()).decode("latin-1")
                if line in ("\r\n", "\n", ""):
                    break
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if not request.startswith(b"POST "):
                return
            status = self.statuses.pop(0) if self.statuses else self.status
            self.received.append(Received(headers, body))
            await self.gate.wait()
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode())
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.received]


async def emit_events(database, count: int, *, account_id: int | None = None, per_transaction: int = 100) -> None:
    """`count` events (order.cancelled of made-up orders) through the real outbox."""
    at = datetime.now(timezone.utc)
    done = 0
    while done < count:
        n = min(per_transaction, count - done)
        async with database.session() as session, session.begin():
            await emit_all(session, [Emission(OrderCancelled(order=done + i + 1, customer=account_id or 1, total=Decimal("10.00"),
                                                             currency="CNY", status="cancelled", cancelled_at=at),
                                              aggregate_id=done + i + 1, occurred_at=at, account_id=account_id)
                                     for i in range(n)])
        done += n


def worker_process(database_url: str, log: Path, **env: str) -> subprocess.Popen:
    """`crm worker`, as an operator runs it."""
    environment = crm_env(DATABASE_URL=database_url, CRM_WEBHOOK_ALLOW_PRIVATE="1", CRM_WEBHOOK_POLL_MS="200",
                          CRM_LOG_LEVEL="warning", **env)
    return subprocess.Popen([sys.executable, "-m", "core.cli", "worker"], cwd=ROOT, env=environment,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT)


def private_allowed_settings():
    """The test settings with CRM_WEBHOOK_ALLOW_PRIVATE on (receivers are on 127.0.0.1)."""
    from core.settings import Settings
    from tests.conftest import TEST_SECRET_KEY

    return Settings(secret_key=TEST_SECRET_KEY, graphiql=True, webhook_allow_private=True)


async def work_until(worker, done, *, rounds: int = 400, pause: float = 0.02) -> None:
    """Runs the worker's steps until `done()` (an async or plain predicate) holds; fails
    after `rounds` steps (a bound on work, not a timing assertion)."""
    for _ in range(rounds):
        await worker.step()
        value = done()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        await asyncio.sleep(pause)
    raise AssertionError("the worker did not get there")
