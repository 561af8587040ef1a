"""Several uvicorn workers, each with its own listening socket on the same port
(SO_REUSEPORT), so the kernel spreads connections over them.

uvicorn's own `workers=N` shares one listening socket: every worker is woken for each
new connection and asyncio accepts up to its backlog in one go, so a burst of keep-alive
clients lands on one worker. Measured with `make bench`: two workers served the customer
detail page no faster than one, one core busy and the other idle. With a socket per
worker the kernel hashes each connection to one of them.

The launcher (`crm serve`) keeps what it owns: the embedded PostgreSQL, the signals. It
starts the workers, restarts one that dies, and on SIGTERM/SIGINT asks each to finish
its requests (uvicorn's graceful shutdown) before it returns.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import time
from pathlib import Path

log = logging.getLogger("crm.workers")

# A worker that fails (exits with an error, not killed by a signal) this soon after
# starting is not restarted: something is wrong with the configuration, and restarting it
# in a loop would hide that. A worker killed by a signal (OOM killer, kill -9) is.
MIN_LIFETIME_SECONDS = 5.0


def supported(port: int) -> bool:
    """Sockets per worker need SO_REUSEPORT and a fixed port (port 0 would give each
    worker a port of its own)."""
    return hasattr(socket, "SO_REUSEPORT") and port != 0


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def check_port(host: str, port: int) -> None:
    """Raises OSError (address in use, ...) before any worker starts."""
    _listening_socket(host, port).close()


def websocket_options(settings) -> dict:
    """uvicorn's WebSocket settings (subscriptions, docs/subscriptions.md): a frame over the
    body limit closes the socket (1009) before it is buffered whole."""
    return {"ws": "websockets-sansio", "ws_max_size": settings.max_body_bytes}


def _worker(host: str, port: int, app_dir: str) -> None:
    import sys

    import uvicorn

    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)

    from core.logging import configure_logging
    from core.settings import Settings

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    sock = _listening_socket(host, port)
    sock.listen(2048)
    config = uvicorn.Config("server:app_factory", factory=True, log_config=None, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=10, **websocket_options(settings))
    uvicorn.Server(config).run(sockets=[sock])


class Workers:
    def __init__(self, host: str, port: int, count: int, app_dir: Path) -> None:
        self.host, self.port, self.count, self.app_dir = host, port, count, str(app_dir)
        self.context = multiprocessing.get_context("spawn")
        self.processes: list[tuple[multiprocessing.Process, float]] = []
        self.stopping = False

    def _spawn(self) -> tuple[multiprocessing.Process, float]:
        process = self.context.Process(target=_worker, args=(self.host, self.port, self.app_dir), daemon=False)
        process.start()
        return process, time.monotonic()

    def run(self) -> int:
        """Serves until SIGTERM/SIGINT; returns the exit status for the launcher."""
        check_port(self.host, self.port)
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.processes = [self._spawn() for _ in range(self.count)]
            log.info("serving with %d workers, one socket each (SO_REUSEPORT)", self.count)
            while not self.stopping:
                for index, (process, started) in enumerate(self.processes):
                    if process.is_alive() or self.stopping:
                        continue
                    if process.exitcode and process.exitcode > 0 and time.monotonic() - started < MIN_LIFETIME_SECONDS:
                        log.error("worker %s exited with %s right after starting; stopping", process.pid, process.exitcode)
                        self.stopping = True
                        self._shutdown()
                        return 1
                    log.warning("worker %s exited with %s; starting another", process.pid, process.exitcode)
                    self.processes[index] = self._spawn()
                time.sleep(0.2)
            self._shutdown()
            return 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, signum, frame) -> None:
        self.stopping = True

    def _shutdown(self) -> None:
        for process, _ in self.processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)  # uvicorn: finish the requests in flight
        deadline = time.monotonic() + 15
        for process, _ in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
