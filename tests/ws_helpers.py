"""A graphql-transport-ws client over a real WebSocket (the `websockets` package), and
`crm serve` processes on one database of their own, for the subscription tests."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from contextlib import asynccontextmanager
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import GraphQLResult, token_for
from tests.event_helpers import validate

PROTOCOL = "graphql-transport-ws"
EVENT_FIELDS = "id type version occurredAt recordedAt aggregateId sequence data"


class Closed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed {code}: {reason}")
        self.code, self.reason = code, reason


class Socket:
    """One connection: `init`, `subscribe`, `next_of(id)`, `closed()`."""

    def __init__(self, connection) -> None:
        self.connection = connection
        self._ids = itertools.count(1)

    async def send(self, message: Any) -> None:
        await self.connection.send(message if isinstance(message, (str, bytes)) else json.dumps(message))

    async def receive(self, timeout: float = 20) -> dict:
        try:
            raw = await asyncio.wait_for(self.connection.recv(), timeout)
        except ConnectionClosed as closed:
            rcvd = closed.rcvd
            raise Closed(rcvd.code if rcvd else None, rcvd.reason if rcvd else "") from None
        return json.loads(raw)

    async def init(self, payload: Any) -> dict:
        await self.send({"type": "connection_init", "payload": payload})
        return await self.receive()

    async def subscribe(self, query: str, variables: dict | None = None) -> str:
        operation = str(next(self._ids))
        await self.send({"id": operation, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}})
        return operation

    async def next_of(self, operation: str, timeout: float = 20) -> dict:
        """The next `next` payload of the operation (pings answered); errors raise."""
        while True:
            message = await self.receive(timeout)
            if message.get("type") == "ping":
                await self.send({"type": "pong"})
                continue
            assert message.get("id") == operation, message
            assert message["type"] == "next", message
            return message["payload"]

    async def final_of(self, operation: str, timeout: float = 20) -> dict:
        """The operation's `error` or `next` message that ends it."""
        message = await self.receive(timeout)
        assert message.get("id") == operation, message
        return message

    async def closed(self, timeout: float = 20) -> Closed:
        """Reads until the server closes the connection; its close frame."""
        try:
            while True:
                await self.receive(timeout)
        except Closed as closed:
            return closed

    async def nothing_for(self, seconds: float) -> None:
        try:
            message = await asyncio.wait_for(self.connection.recv(), seconds)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"expected nothing, got {message}")


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/graphql"


@asynccontextmanager
async def socket_to(base: str, *, receive_buffer: int | None = None, max_queue: int | None = 16, **kwargs):
    """A connection offering graphql-transport-ws. `receive_buffer`: the client socket's
    SO_RCVBUF, so a client that does not read stops the server's sends quickly."""
    host, port = base.removeprefix("http://").split(":")
    sock = None
    if receive_buffer is not None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.connect((host, int(port)))
    async with connect(ws_url(base), subprotocols=[PROTOCOL], sock=sock, max_queue=max_queue, open_timeout=10,
                       close_timeout=5, **kwargs) as connection:
        yield Socket(connection)


@asynccontextmanager
async def session(base: str, principal=None, token: str | None = None):
    """An initialised connection (acknowledged) as the principal (or with the token)."""
    async with socket_to(base) as ws:
        credential = token or token_for(principal, ttl_seconds=3600)
        ack = await ws.init({"authorization": f"Bearer {credential}"})
        assert ack["type"] == "connection_ack", ack
        yield ws


def events_of(payload: dict, field: str = "events") -> dict:
    assert "errors" not in payload, payload
    event = payload["data"][field]
    validate(event if field == "events" else event["event"])
    return event


def http_poster(base: str, principal):
    """post(query, variables) to a served process, as `principal`."""

    async def post(query: str, variables: dict | None = None, *, as_principal=principal) -> GraphQLResult:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            response = await client.post("/graphql", json={"query": query, "variables": variables or {}},
                                         headers={"Authorization": f"Bearer {token_for(as_principal, ttl_seconds=3600)}"})
        return GraphQLResult(response.status_code, response.json(), response.headers)

    return post
