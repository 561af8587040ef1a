"""`crm serve` as a real process on a real embedded PostgreSQL: start, stop, restart,
kill -9, a database that goes away and comes back, and refusals at start.

These tests start servers, so they take seconds each; they are part of the suite."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from crm.auth import Principal, Role, issue_token
from tests.conftest import TEST_SECRET_KEY, fresh_database
from tests.process import Server, crm_env, postgres_pid, run_crm, wait_until

TOKEN = issue_token(TEST_SECRET_KEY, Principal(subject="ops", role=Role.ADMIN))
LIST = "{ customers(first: 5) { totalCount edges { node { id name } } } }"


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    # Embedded PostgreSQL in a data directory of the test's own.
    return crm_env(CRM_DATA_DIR=str(tmp_path / "data"), CRM_SECRET_KEY=TEST_SECRET_KEY)


def demo_customers(server: Server) -> tuple[int, list[str]]:
    body = server.graphql(LIST, TOKEN)
    assert "errors" not in body, body
    connection = body["data"]["customers"]
    return connection["totalCount"], [e["node"]["name"] for e in connection["edges"]]


def test_embedded_lifecycle_start_stop_restart_kill9(demo_env, tmp_path):
    pgdata = tmp_path / "data" / "postgres"

    # 1. First start: boots PostgreSQL, migrates, loads demo data, serves GraphiQL.
    server = Server(tmp_path / "first.log", demo_env, "--demo")
    server.wait_ready()
    count, names = demo_customers(server)
    assert count == 13 and names[0] == "Northwind Traders"
    graphiql = httpx.get(f"{server.base}/graphql", headers={"Accept": "text/html"})
    assert graphiql.status_code == 200 and "graphiql" in graphiql.text.lower()
    assert "Bearer " in server.output() and f"{server.base}/graphql" in server.output()
    assert postgres_pid(pgdata) is not None

    # 2. SIGTERM: graceful exit, PostgreSQL stopped with it.
    assert server.stop(signal.SIGTERM) == 0
    assert wait_until(lambda: postgres_pid(pgdata) is None), server.output()

    # 3. Restart: the same data, no second load of demo data. Ctrl-C stops it cleanly.
    server = Server(tmp_path / "second.log", demo_env, "--demo")
    server.wait_ready()
    assert demo_customers(server)[0] == 13
    assert "demo customers" not in server.output()
    assert server.stop(signal.SIGINT) in (0, 130)
    assert wait_until(lambda: postgres_pid(pgdata) is None), server.output()

    # 4. kill -9 of the server: PostgreSQL is orphaned but the next start takes it over.
    server = Server(tmp_path / "third.log", demo_env, "--demo")
    server.wait_ready()
    orphan = postgres_pid(pgdata)
    server.kill()
    assert postgres_pid(pgdata) == orphan
    server = Server(tmp_path / "fourth.log", demo_env, "--demo")
    server.wait_ready()
    assert demo_customers(server)[0] == 13
    # ... and, the dead holder pruned, stopping it stops PostgreSQL again.
    assert server.stop() == 0
    assert wait_until(lambda: postgres_pid(pgdata) is None), server.output()

    # 5. kill -9 of both the server and PostgreSQL: the stale postmaster.pid is handled.
    server = Server(tmp_path / "fifth.log", demo_env, "--demo")
    server.wait_ready()
    postmaster = postgres_pid(pgdata)
    server.kill()
    os.kill(postmaster, signal.SIGKILL)
    assert wait_until(lambda: postgres_pid(pgdata) is None)
    assert (pgdata / "postmaster.pid").exists()
    server = Server(tmp_path / "sixth.log", demo_env, "--demo")
    server.wait_ready()
    assert demo_customers(server)[0] == 13
    assert server.stop() == 0
    assert wait_until(lambda: postgres_pid(pgdata) is None), server.output()


def test_two_workers_share_one_postgres_booted_by_the_launcher(demo_env, tmp_path):
    pgdata = tmp_path / "data" / "postgres"
    server = Server(tmp_path / "workers.log", {**demo_env, "CRM_WORKERS": "2"}, "--demo")
    server.wait_ready()
    for _ in range(6):
        assert demo_customers(server)[0] == 13
    import psutil

    postmasters = [p for p in psutil.process_iter(["name", "cmdline"])
                   if p.info["name"] == "postgres" and "-D" in (p.info["cmdline"] or [])
                   and str(pgdata) in " ".join(p.info["cmdline"] or [])]
    assert len(postmasters) == 1

    # One socket per worker (core/workers.py): a worker killed outright is replaced, the
    # other serves meanwhile; SIGTERM stops the workers, then PostgreSQL, exit status 0.
    def live_workers() -> list:
        found = []
        for child in psutil.Process(server.process.pid).children():
            try:
                if child.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(child.cmdline()):
                    found.append(child)
            except psutil.Error:  # gone, or a zombie, since listed
                pass
        return found

    workers = live_workers()
    assert len(workers) == 2, workers
    workers[0].kill()
    assert wait_until(lambda: len([p for p in live_workers() if p.pid != workers[0].pid]) == 2, timeout=30), server.output()
    assert wait_until(lambda: all(demo_customers(server)[0] == 13 for _ in range(6)), timeout=30)
    assert "starting another" in server.output()
    assert server.stop() == 0, server.output()
    assert wait_until(lambda: postgres_pid(pgdata) is None), server.output()
    assert server.stop() == 0
    assert wait_until(lambda: postgres_pid(pgdata) is None), server.output()


def test_database_lost_while_running_then_back(tmp_path, postgres_server_url):
    from core.embedded_postgres import EmbeddedPostgres

    # A PostgreSQL of this test's own, so it can be taken away under the server.
    own = EmbeddedPostgres(tmp_path / "own")
    url = own.start()
    restarted = None
    try:
        assert run_crm("migrate", env=crm_env(DATABASE_URL=url)).returncode == 0
        server = Server(tmp_path / "lost.log", crm_env(DATABASE_URL=url, CRM_SECRET_KEY=TEST_SECRET_KEY))
        server.wait_ready()
        assert demo_customers(server)[0] == 0

        own.stop()
        assert wait_until(lambda: httpx.get(f"{server.base}/readyz", timeout=10).status_code == 503, timeout=30)
        assert httpx.get(f"{server.base}/healthz").status_code == 200  # the process itself is fine
        body = server.graphql(LIST, TOKEN)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["DATABASE_UNAVAILABLE"]
        assert "Traceback" not in str(body) and "asyncpg" not in str(body)

        restarted = EmbeddedPostgres(tmp_path / "own")
        assert restarted.start() == url
        assert wait_until(lambda: httpx.get(f"{server.base}/readyz", timeout=10).status_code == 200, timeout=30)
        assert demo_customers(server)[0] == 0  # GraphQL recovered without a restart
        assert server.stop() == 0
    finally:
        (restarted or own).stop()


def test_unreachable_database_at_start_is_one_clear_line():
    env = crm_env(DATABASE_URL="postgresql+asyncpg://crm:hunter2@127.0.0.1:1/crm", CRM_SECRET_KEY=TEST_SECRET_KEY)
    result = run_crm("serve", env=env, timeout=60)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("crm: error:")]
    assert len(errors) == 1, result.stderr
    assert "127.0.0.1:1" in errors[0] and "crm:***@" in errors[0]
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


def test_schema_behind_refuses_to_start_until_migrated(postgres_server_url, tmp_path):
    with fresh_database(postgres_server_url) as url:
        env = crm_env(DATABASE_URL=url, CRM_SECRET_KEY=TEST_SECRET_KEY)
        refused = run_crm("serve", env=env, timeout=60)
        assert refused.returncode == 2
        assert "crm migrate" in refused.stderr and "Traceback" not in refused.stderr

        migrated = run_crm("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        server = Server(tmp_path / "behind.log", env)
        server.wait_ready()
        assert demo_customers(server)[0] == 0  # not demo mode: no demo data
        assert server.stop() == 0


def test_production_mode_needs_a_secret_key(tmp_path):
    result = run_crm("serve", env=crm_env(CRM_DATA_DIR=str(tmp_path / "data")), timeout=60)
    assert result.returncode == 2
    assert "CRM_SECRET_KEY" in result.stderr and "Traceback" not in result.stderr


def test_workers_refuse_a_port_in_use_in_one_line(postgres_server_url, tmp_path):
    import socket

    with fresh_database(postgres_server_url) as url:
        assert run_crm("migrate", env=crm_env(DATABASE_URL=url)).returncode == 0
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            env = crm_env(DATABASE_URL=url, CRM_SECRET_KEY=TEST_SECRET_KEY, CRM_WORKERS="2", CRM_PORT=str(port))
            result = run_crm("serve", env=env, timeout=60)
    assert result.returncode == 2
    assert f"crm: error: cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr
