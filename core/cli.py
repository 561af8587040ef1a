"""The `crm` command: serve, worker, migrate, seed, export-schema, token.

`crm serve` is the launcher: it alone boots the embedded PostgreSQL (workers only get
DATABASE_URL), checks or migrates the schema, loads demo data, then hands over to uvicorn.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.settings import PROJECT_ROOT, Settings, SettingsError


class LaunchError(Exception):
    """A reason the command cannot go on, said in one line."""


def _fail(message: str) -> None:
    print(f"crm: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _exit_on_sigterm() -> None:
    # uvicorn restores this handler after a graceful shutdown and re-sends SIGTERM to the
    # process; as SystemExit it unwinds our `finally` blocks (stopping PostgreSQL)
    # instead of killing the process where it stands.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """DATABASE_URL, or the embedded PostgreSQL booted (or joined) for the duration."""
    if settings.database_url:
        yield settings.database_url
        return
    from core.embedded_postgres import EmbeddedPostgres

    embedded = EmbeddedPostgres(settings.data_dir)
    try:
        url = embedded.start()
    except Exception as error:  # pg_ctl failure, permissions, disk full ...
        raise LaunchError(
            f"could not start the embedded PostgreSQL in {embedded.pgdata}: {error} "
            f"(its log: {embedded.pgdata / 'log'})"
        ) from error
    try:
        yield url
    finally:
        embedded.stop()


def secret_key(settings: Settings) -> str:
    """CRM_SECRET_KEY; in demo mode a key kept in the data directory across restarts."""
    if settings.secret_key:
        return settings.secret_key
    if not settings.demo:
        raise LaunchError("CRM_SECRET_KEY is not set (tokens are signed with it); set it, or use --demo")
    path = settings.data_dir / "demo_secret_key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


async def prepare_database(url: str, *, migrate: bool, seed: bool) -> tuple[int, bool, dict]:
    """Reachability, schema, demo data. Returns (customers seeded, migrated, demo principals' ids)."""
    from models import Database
    from models.database import redact_url
    from models.migrations import schema_status, upgrade

    database = Database.from_url(url, pool_size=2)
    try:
        try:
            status = await schema_status(database.engine)
        except Exception as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0][:200]
            raise LaunchError(f"cannot reach the database at {redact_url(url)}: {reason}") from None
        migrated = False
        if not status.is_current:
            if not migrate:
                raise LaunchError(
                    f"the database schema is at revision {status.current or 'none'} but the code needs "
                    f"{status.head}: run `crm migrate` (or set CRM_MIGRATE_ON_START=1)"
                )
            await asyncio.to_thread(upgrade, url)
            migrated = True
        seeded, demo = 0, {}
        if seed:
            from core.demo import demo_admin_id, demo_partner, seed_demo_data

            seeded = await seed_demo_data(database)
            demo = {"admin": await demo_admin_id(database), "partner": await demo_partner(database)}
        return seeded, migrated, demo
    finally:
        await database.dispose()


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from core.logging import configure_logging
    from crm.auth import Principal, Role, issue_token

    overrides = {"CRM_HOST": args.host, "CRM_PORT": args.port, "CRM_WORKERS": args.workers}
    for name, value in overrides.items():
        if value is not None:
            os.environ[name] = str(value)
    settings = Settings.from_env(demo=True if args.demo else None)
    configure_logging(settings.log_level)
    key = secret_key(settings)
    _exit_on_sigterm()
    with database_url(settings) as url:
        seeded, migrated, demo = asyncio.run(
            prepare_database(url, migrate=settings.migrate_on_start, seed=settings.demo)
        )
        # Workers are separate processes: they read all of this from the environment.
        os.environ["DATABASE_URL"] = url
        os.environ["CRM_SECRET_KEY"] = key
        os.environ["CRM_GRAPHIQL"] = "1" if settings.graphiql else "0"
        os.environ["CRM_DEMO"] = "1" if settings.demo else "0"
        base = f"http://{settings.host}:{settings.port}"
        lines = [f"API:      {base}/graphql" + ("  (open it in a browser for GraphiQL)" if settings.graphiql else "")]
        lines.append(f"Health:   {base}/healthz  {base}/readyz")
        if migrated:
            lines.append("Database: migrated to the latest schema")
        if seeded:
            lines.append(f"Demo:     loaded {seeded} demo customers")
        if settings.demo:
            admin = Principal(subject="admin@demo.example", role=Role.ADMIN, user_id=demo.get("admin"))
            token = issue_token(key, admin, ttl_seconds=30 * 24 * 3600)
            lines += [
                "Login:    admin@demo.example / demo-admin-password (demo mode only), or the token below.",
                "Auth:     demo admin token (valid 30 days; demo mode only). In GraphiQL's Headers tab:",
                f'          {{"Authorization": "Bearer {token}"}}',
                "          curl example:",
                f"          curl -s {base}/graphql -H 'Content-Type: application/json' \\",
                f"            -H 'Authorization: Bearer {token}' \\",
                "            -d '{\"query\": \"{ customers(first: 5) { edges { node { id name } } } }\"}'",
            ]
            if demo.get("partner"):
                user_id, account_id = demo["partner"]
                partner = Principal(subject="nora@northwind.example", role=Role.PARTNER, account_id=account_id, user_id=user_id)
                lines.append("Partner:  demo partner token (Nora at Northwind Traders; try { myMembership { tier { name } } }):")
                lines.append(f"          {issue_token(key, partner, ttl_seconds=30 * 24 * 3600)}")
        else:
            lines.append("Auth:     send `Authorization: Bearer <token>`; `crm token --role admin` issues one.")
        print("\n".join(lines), file=sys.stderr, flush=True)
        from core import workers

        if settings.workers > 1 and workers.supported(settings.port):
            try:
                status = workers.Workers(settings.host, settings.port, settings.workers, PROJECT_ROOT).run()
            except OSError as error:
                raise LaunchError(f"cannot listen on {settings.host}:{settings.port}: {error.strerror or error}") from None
            if status:
                raise LaunchError("a worker could not start; its error is above")
            return
        uvicorn.run(
            "server:app_factory",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=10,
            app_dir=str(PROJECT_ROOT),
            **workers.websocket_options(settings),
        )


def cmd_migrate(args: argparse.Namespace) -> None:
    from models.migrations import downgrade, upgrade

    settings = Settings.from_env()
    with database_url(settings) as url:
        if args.downgrade:
            downgrade(url, args.revision)
        else:
            upgrade(url, args.revision)
    print(f"crm: database migrated to {args.revision}", file=sys.stderr)


def cmd_seed(args: argparse.Namespace) -> None:
    settings = Settings.from_env()
    with database_url(settings) as url:
        seeded, _, _ = asyncio.run(prepare_database(url, migrate=False, seed=True))
    print(f"crm: {seeded} demo customers added" if seeded else "crm: the database has customers; nothing added", file=sys.stderr)


def cmd_export_schema(args: argparse.Namespace) -> None:
    from schema.root import schema_sdl

    sdl = schema_sdl()
    if args.check:
        current = Path(args.output).read_text() if Path(args.output).exists() else ""
        if current != sdl:
            raise LaunchError(f"{args.output} differs from the code; run `crm export-schema` and commit it")
        print(f"crm: {args.output} matches the code", file=sys.stderr)
    elif args.output == "-":
        sys.stdout.write(sdl)
    else:
        Path(args.output).write_text(sdl)
        print(f"crm: wrote {args.output}", file=sys.stderr)


def cmd_export_event_schemas(args: argparse.Namespace) -> None:
    """docs/events/<type>.json and docs/events.md beside that folder (events.docs)."""
    from events.docs import artefacts

    folder = Path(args.output).resolve()
    docs = folder.parent
    stale = []
    for name, content in artefacts().items():
        path = folder / name.removeprefix("events/") if name.startswith("events/") else docs / name
        if args.check:
            if not path.exists() or path.read_text() != content:
                stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    if stale:
        raise LaunchError(f"stale event documentation: {', '.join(stale)}; run `crm export-event-schemas` and commit it")
    print(f"crm: {'checked' if args.check else 'wrote'} {docs / 'events.md'} and {folder}/", file=sys.stderr)


def _as_of(args: argparse.Namespace):
    from datetime import datetime, timezone

    try:
        as_of = datetime.fromisoformat(args.as_of) if args.as_of else datetime.now(timezone.utc)
    except ValueError:
        raise LaunchError(f"--as-of {args.as_of!r} is not an ISO timestamp (e.g. 2027-01-01T00:30:00+08:00)") from None
    if as_of.tzinfo is None:
        raise LaunchError("--as-of needs its UTC offset (e.g. 2027-01-01T00:30:00+08:00)")
    return as_of


def cmd_assess(args: argparse.Namespace) -> None:
    settings = Settings.from_env()
    as_of = _as_of(args)
    with database_url(settings) as url:
        asyncio.run(_assess(url, args.programme, as_of, args.batch, args.jobs, _risk_rule(settings)))


def cmd_check_risk(args: argparse.Namespace) -> None:
    settings = Settings.from_env()
    as_of = _as_of(args)
    with database_url(settings) as url:
        asyncio.run(_check_risk(url, args.programme, as_of, _risk_rule(settings)))


async def _check_risk(url: str, programme_ref: str, as_of, risk) -> None:
    from kernel.errors import DomainError
    from models import Database
    from tiers.risk import check_programme

    database = Database.from_url(url, pool_size=2)
    try:
        async with database.session() as session:
            programme = await _programme(session, programme_ref)
        try:
            told = await check_programme(database.session, programme.id, as_of, risk)
        except DomainError as error:
            raise LaunchError(str(error)) from None
        print(f"crm: {told} members of {programme.name} at risk at {as_of.isoformat()} "
              f"(period ends within {risk.days} days)", file=sys.stderr)
    finally:
        await database.dispose()


def _risk_rule(settings: Settings):
    from tiers.risk import RiskRule

    return RiskRule.of_percent(settings.risk_days, settings.risk_share_percent)


async def _programme(session, programme_ref: str):
    from sqlalchemy import func, or_, select

    from models import Programme

    condition = func.lower(Programme.name) == programme_ref.lower()
    if programme_ref.isdigit():
        condition = or_(condition, Programme.id == int(programme_ref))
    programme = (await session.execute(select(Programme).where(condition))).scalars().first()
    if programme is None:
        raise LaunchError(f"no programme {programme_ref!r} (give its name or numeric id)")
    return programme


async def _assess(url: str, programme_ref: str, as_of, batch: int, jobs: int, risk) -> None:
    from sqlalchemy import func, select

    from kernel.errors import DomainError
    from models import Database, Membership
    from tiers.assessment import assess_programme

    database = Database.from_url(url, pool_size=2, max_overflow=16)  # the slices' connections
    try:
        async with database.session() as session:
            programme = await _programme(session, programme_ref)
            total = (await session.execute(select(func.count()).select_from(Membership).where(
                Membership.programme_id == programme.id))).scalar_one()

        def progress(run) -> None:
            done = min(run.members, total) if total else 0
            filled = int(30 * done / total) if total else 30
            print(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} members, {run.promoted} promoted, "
                  f"{run.demoted} demoted, {run.expired} lapsed", end="", file=sys.stderr, flush=True)

        try:
            run = await assess_programme(database.session, programme.id, as_of, batch=batch, jobs=jobs, progress=progress,
                                         risk=risk)
        except DomainError as error:
            raise LaunchError(str(error)) from None
        if run.rule_version_id is None:
            raise LaunchError(f"{programme.name} has no rules in force at {as_of.isoformat()}")
        print(f"\ncrm: assessed {run.members} members of {programme.name} at {as_of.isoformat()}: "
              f"{run.promoted} promoted, {run.demoted} demoted, {run.expired} lapsed, {run.at_risk} at risk", file=sys.stderr)
    finally:
        await database.dispose()


def cmd_worker(args: argparse.Namespace) -> None:
    """Delivers webhooks until SIGTERM/SIGINT (then finishes the batch in flight)."""
    from core.logging import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    with database_url(settings) as url:
        asyncio.run(_work(url, settings))


async def _work(url: str, settings: Settings) -> None:
    from events.delivery import DeliveryPolicy
    from events.worker import Worker
    from models import Database

    database = Database.from_url(url, pool_size=2, max_overflow=2)
    try:
        worker = Worker(database, DeliveryPolicy.of(settings), poll=settings.webhook_poll_ms / 1000)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        print(f"crm: webhook worker {worker.name} delivering", file=sys.stderr, flush=True)
        await worker.run()
        print(f"crm: webhook worker {worker.name} stopped after {worker.delivered} attempts", file=sys.stderr, flush=True)
    finally:
        await database.dispose()


def cmd_create_admin(args: argparse.Namespace) -> None:
    """The first admin of a fresh database (or another one): password from
    CRM_ADMIN_PASSWORD, else asked for on the terminal."""
    import getpass

    password = os.environ.get("CRM_ADMIN_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            raise LaunchError("set CRM_ADMIN_PASSWORD, or run on a terminal to be asked for the password")
        password = getpass.getpass("Password for the new admin: ")
        if getpass.getpass("Again: ") != password:
            raise LaunchError("the passwords differ")
    settings = Settings.from_env()
    with database_url(settings) as url:
        user_id = asyncio.run(_create_admin(url, args.email, args.name, password))
    print(f"crm: admin {args.email} created (user {user_id}); log in with the `login` mutation", file=sys.stderr)


async def _create_admin(url: str, email: str, name: str, password: str) -> int:
    from crm import identity, users
    from kernel.errors import DomainError
    from models import Database, UserRole

    database = Database.from_url(url, pool_size=2)
    try:
        async with database.session() as session, session.begin():
            user = await users.create_user(session, email=email, name=name, role=UserRole.ADMIN)
            await identity.set_password(session, user.id, password)
            return user.id
    except DomainError as error:
        raise LaunchError("; ".join(e.message for e in error.errors)) from None
    finally:
        await database.dispose()


def cmd_token(args: argparse.Namespace) -> None:
    from crm.auth import Principal, Role, issue_token

    settings = Settings.from_env()
    key = settings.secret_key or (secret_key(Settings.from_env(demo=True)) if args.demo else None)
    if not key:
        raise LaunchError("CRM_SECRET_KEY is not set (use --demo for the demo server's key)")
    if args.role == "partner" and args.account is None:
        raise LaunchError("a partner token needs --account (the partner customer's id)")
    principal = Principal(subject=args.subject, role=Role(args.role), account_id=args.account)
    print(issue_token(key, principal, ttl_seconds=args.ttl))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm",
        description="GraphQL CRM API for channel-partner and membership grade programmes.",
        epilog="Configuration comes from environment variables; see README.md. "
        "Without DATABASE_URL an embedded PostgreSQL runs in ./.data/postgres.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the API", description="Serve the GraphQL API (boots the embedded PostgreSQL when DATABASE_URL is unset).")
    serve.add_argument("--demo", action="store_true", help="demo mode: migrate on start, load demo data, GraphiQL on, print a demo admin token")
    serve.add_argument("--host", help="interface to listen on (CRM_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (CRM_PORT, default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (CRM_WORKERS, default 1)")
    serve.set_defaults(handler=cmd_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations", description="Bring the database schema to a revision (default: the latest).")
    migrate.add_argument("--revision", default="head", help="target revision (default head)")
    migrate.add_argument("--downgrade", action="store_true", help="go back to --revision instead of forward")
    migrate.set_defaults(handler=cmd_migrate)

    seed = commands.add_parser("seed", help="load demo data into an empty database", description="Load the demo customers when the database has none.")
    seed.set_defaults(handler=cmd_seed)

    export = commands.add_parser("export-schema", help="write the GraphQL schema (SDL)", description="Write the schema as SDL, as committed in schema.graphql.")
    export.add_argument("--output", default=str(PROJECT_ROOT / "schema.graphql"), help="file to write, or - for stdout (default schema.graphql)")
    export.add_argument("--check", action="store_true", help="only compare with --output; exit 2 when they differ")
    export.set_defaults(handler=cmd_export_schema)

    assess = commands.add_parser("assess", help="assess every member of a programme",
                                 description="Assess every member of a grade programme over its last closed period "
                                 "(promotions, demotions with soft landing, lapsed fees); idempotent.")
    assess.add_argument("--programme", required=True, help="programme name or numeric id")
    assess.add_argument("--as-of", help="ISO timestamp with UTC offset (default now)")
    assess.add_argument("--batch", type=int, default=5000, help="members per transaction (default 5000)")
    assess.add_argument("--jobs", type=int, default=2, help="slices of the members assessed at once, one connection "
                        "each (default 2)")
    assess.set_defaults(handler=cmd_assess)

    risk = commands.add_parser("check-risk", help="tell members whose tier is at risk (tier.at_risk)",
                               description="Emit tier.at_risk for every member of a programme whose open period ends "
                               "within CRM_RISK_DAYS with volume below CRM_RISK_SHARE_PERCENT of its retention "
                               "threshold; once per member and period, so it is safe to schedule.")
    risk.add_argument("--programme", required=True, help="programme name or numeric id")
    risk.add_argument("--as-of", help="ISO timestamp with UTC offset (default now)")
    risk.set_defaults(handler=cmd_check_risk)

    event_docs = commands.add_parser("export-event-schemas", help="write the event catalogue's JSON Schemas and docs",
                                     description="Write one JSON Schema per event type into --output and the list "
                                     "events.md beside it, as committed in docs/.")
    event_docs.add_argument("--output", default=str(PROJECT_ROOT / "docs" / "events"),
                            help="folder of the schemas (default docs/events/); events.md goes beside it")
    event_docs.add_argument("--check", action="store_true", help="only compare; exit 2 when the files are stale")
    event_docs.set_defaults(handler=cmd_export_event_schemas)

    worker = commands.add_parser("worker", help="deliver webhooks (any number of these share the work)",
                                 description="Deliver the outbox's events to the registered webhook endpoints until "
                                 "SIGTERM (the batch in flight is finished first); run several for more throughput.")
    worker.set_defaults(handler=cmd_worker)

    admin = commands.add_parser("create-admin", help="create an admin user with a password",
                                description="Create an admin user; the password comes from CRM_ADMIN_PASSWORD or a prompt.")
    admin.add_argument("--email", required=True, help="login email")
    admin.add_argument("--name", default="Administrator", help="display name (default Administrator)")
    admin.set_defaults(handler=cmd_create_admin)

    token = commands.add_parser("token", help="issue an access token (needs the secret key)", description="Print a signed access token for a principal.")
    token.add_argument("--role", required=True, choices=["admin", "manager", "sales", "partner"], help="role of the principal")
    token.add_argument("--subject", default="cli", help="who the token is for (default cli)")
    token.add_argument("--account", type=int, help="partner customer id (partner role)")
    token.add_argument("--ttl", type=int, default=3600, help="seconds until it expires (default 3600)")
    token.add_argument("--demo", action="store_true", help="sign with the demo server's key in ./.data")
    token.set_defaults(handler=cmd_token)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except (LaunchError, SettingsError) as error:
        _fail(str(error))
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
