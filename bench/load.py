"""A bounded HTTP/1.1 load generator for GraphQL POSTs, run as its own process.

Reads a JSON plan on stdin: {"url", "duration", "concurrency", "warmup", "requests":
[{"body": "<json text>", "headers": {...}}, ...]} and prints a JSON result: requests,
requests/s, p50/p95/p99 in ms, errors and the first error seen. Each of `concurrency`
clients keeps one keep-alive connection and sends its next request when the previous
answer is read (closed loop), cycling through the request list from its own offset.

An answer counts as an error when its status is not 200 or its JSON has `errors`. It is
plain asyncio on raw sockets (no HTTP library) so that the generator's own cost stays
small next to the servers it measures; it exists because wrk and hey are not on a fresh
machine, and the harness must run from a fresh clone.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


class Client:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self.connect()
        assert self.reader and self.writer
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = None
        chunked = False
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            body = b"".join(parts)
        else:
            body = await self.reader.readexactly(length or 0)
        if close:
            self.writer.close()
            self.writer = None
        return status, body


def encode(url: str, request: dict) -> bytes:
    parts = urlsplit(url)
    body = request["body"].encode()
    headers = {"Host": parts.netloc, "Content-Type": "application/json", "Content-Length": str(len(body)),
               "Connection": "keep-alive", **request.get("headers", {})}
    head = f"POST {parts.path or '/'} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode() + body


def is_error(status: int, body: bytes) -> bool:
    if status != 200:
        return True
    # Cheap check first: a GraphQL error answer names "errors" at the top level.
    return b'"errors"' in body[:64] or (b'"errors"' in body and "errors" in json.loads(body))


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


async def run(plan: dict) -> dict:
    parts = urlsplit(plan["url"])
    requests = [encode(plan["url"], r) for r in plan["requests"]]
    concurrency = int(plan["concurrency"])
    duration = float(plan["duration"])
    warmup = float(plan.get("warmup", 0))
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    measuring = False
    stop = False

    async def worker(index: int) -> None:
        nonlocal errors, first_error
        client = Client(parts.hostname, parts.port or 80)
        position = index
        while not stop:
            raw = requests[position % len(requests)]
            position += concurrency
            started = time.perf_counter()
            try:
                status, body = await client.send(raw)
                failed = is_error(status, body)
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                status, body, failed = 0, repr(error).encode(), True
                client = Client(parts.hostname, parts.port or 80)
            elapsed = time.perf_counter() - started
            if measuring:
                latencies.append(elapsed)
                if failed:
                    errors += 1
                    if first_error is None:
                        first_error = f"{status} {body[:300].decode(errors='replace')}"

    tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    await asyncio.sleep(warmup)
    measuring = True
    started = time.perf_counter()
    await asyncio.sleep(duration)
    measuring = False
    elapsed = time.perf_counter() - started
    stop = True
    await asyncio.wait(tasks, timeout=30)
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "seconds": round(elapsed, 3),
        "rps": round(len(ordered) / elapsed, 1),
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 2),
        "p95_ms": round(percentile(ordered, 0.95) * 1000, 2),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
        "errors": errors,
        "first_error": first_error,
    }


def main() -> None:
    plan = json.load(sys.stdin)
    print(json.dumps(asyncio.run(run(plan))))


if __name__ == "__main__":
    main()
