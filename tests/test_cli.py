"""The `crm` command: help everywhere, schema export, tokens."""

from __future__ import annotations

import pytest

from crm.auth import Role, read_token
from tests.conftest import TEST_SECRET_KEY
from tests.process import crm_env, run_crm

COMMANDS = ["serve", "migrate", "seed", "export-schema", "assess", "create-admin", "token"]


def test_top_level_help_lists_every_command():
    result = run_crm("--help", env=crm_env())
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = run_crm(command, "--help", env=crm_env())
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: crm {command}")


def test_unknown_command_is_a_usage_error():
    result = run_crm("frobnicate", env=crm_env())
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_export_schema_check_passes_on_the_committed_file(tmp_path):
    assert run_crm("export-schema", "--check", env=crm_env()).returncode == 0
    stale = tmp_path / "schema.graphql"
    stale.write_text("type Query { old: Int }\n")
    result = run_crm("export-schema", "--check", "--output", str(stale), env=crm_env())
    assert result.returncode == 2 and "differs" in result.stderr


def test_export_schema_writes_the_sdl(tmp_path):
    from schema.root import schema_sdl

    target = tmp_path / "out.graphql"
    assert run_crm("export-schema", "--output", str(target), env=crm_env()).returncode == 0
    assert target.read_text() == schema_sdl()


def test_token_is_signed_with_the_configured_key():
    result = run_crm("token", "--role", "manager", "--subject", "mia", env=crm_env(CRM_SECRET_KEY=TEST_SECRET_KEY))
    assert result.returncode == 0, result.stderr
    principal = read_token(TEST_SECRET_KEY, result.stdout.strip())
    assert principal.role is Role.MANAGER and principal.subject == "mia" and principal.account_id is None


def test_token_refusals():
    no_key = run_crm("token", "--role", "admin", env=crm_env())
    assert no_key.returncode == 2 and "CRM_SECRET_KEY" in no_key.stderr
    partner = run_crm("token", "--role", "partner", env=crm_env(CRM_SECRET_KEY=TEST_SECRET_KEY))
    assert partner.returncode == 2 and "--account" in partner.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CRM_PORT", "eighty", "CRM_PORT='eighty' is not an integer"),
        ("CRM_PORT", "70000", "CRM_PORT=70000 is outside 0..65535"),
        ("CRM_WORKERS", "0", "CRM_WORKERS=0 is outside 1..64"),
        ("CRM_LOG_LEVEL", "loud", "CRM_LOG_LEVEL='loud' is not one of debug, info, warning, error"),
        ("CRM_GRAPHIQL", "maybe", "CRM_GRAPHIQL='maybe' is not a boolean (use 1/0, true/false, yes/no, on/off)"),
    ],
)
def test_bad_configuration_is_one_clear_line(variable, value, message):
    result = run_crm("serve", env=crm_env(**{variable: value}, CRM_SECRET_KEY=TEST_SECRET_KEY))
    assert result.returncode == 2
    assert result.stderr.strip() == f"crm: error: {message}"


def test_assess_command_runs_a_programme_with_a_progress_bar(postgres_server_url):
    import asyncio
    from datetime import datetime, timezone
    from decimal import Decimal

    from crm.customers import CustomerData, create_customer
    from models import CustomerClassification, Database
    from models.migrations import upgrade
    from tests.conftest import fresh_database
    from tiers import ledger, membership, programmes
    from tiers.programmes import tier_from_input

    with fresh_database(postgres_server_url) as url:
        upgrade(url)

        async def setup():
            database = Database.from_url(url, pool_size=2)
            async with database.session() as s, s.begin():
                p = await programmes.create_programme(s, {"name": "Agents", "kind": "agent", "currency": "EUR",
                                                          "time_zone": "UTC", "window_kind": "calendar_year"})
                v = await programmes.create_draft(s, p.id, [tier_from_input({
                    "rank": 1, "code": "B", "name": "B", "entry_fee": "0", "discount_rate": "0.1", "training_quota": 1,
                    "promotion_threshold": "100", "retention_threshold": "50"})])
                await programmes.publish(s, v.id, datetime(2020, 1, 1, tzinfo=timezone.utc))
                for i in range(3):
                    c = await create_customer(s, CustomerData(name=f"Agent {i}", classification=CustomerClassification.PARTNER))
                    m, _ = await membership.enroll(s, account_id=c.id, programme_id=p.id, tier_code="B", amount=Decimal(0),
                                                   currency="EUR", at=datetime(2024, 1, 1, tzinfo=timezone.utc), actor_id=None)
                    if i == 0:
                        await ledger.adjust(s, m.id, amount=Decimal("200"), reason="volume", key=None,
                                            occurred_at=datetime(2024, 5, 1, tzinfo=timezone.utc), actor_id=None)
            await database.dispose()

        asyncio.run(setup())
        env = crm_env(DATABASE_URL=url)
        result = run_crm("assess", "--programme", "agents", "--as-of", "2025-01-01T00:00:00+00:00", "--batch", "2",
                         "--jobs", "3", env=env)
        assert result.returncode == 0, result.stderr
        assert "3/3 members" in result.stderr and "assessed 3 members of Agents" in result.stderr
        # fee terms of 12 months ended on 1 January 2025: the two agents without volume lapse
        assert "2 lapsed" in result.stderr.splitlines()[-1]
        again = run_crm("assess", "--programme", "agents", "--as-of", "2025-01-01T00:00:00+00:00", env=env)
        assert "0 promoted, 0 demoted, 0 lapsed" in again.stderr
        # An assessment ahead of time (it would take effect at once) is refused, and changes nothing.
        ahead = run_crm("assess", "--programme", "agents", "--as-of", "2999-01-01T00:00:00+00:00", env=env)
        assert ahead.returncode == 2 and "ahead of time" in ahead.stderr and "Traceback" not in ahead.stderr, ahead.stderr
        assert "0 promoted, 0 demoted, 0 lapsed" in run_crm("assess", "--programme", "agents", "--as-of",
                                                             "2025-01-01T00:00:00+00:00", env=env).stderr
        assert run_crm("assess", "--programme", "nope", env=env).returncode == 2
        assert "UTC offset" in run_crm("assess", "--programme", "agents", "--as-of", "2025-01-01", env=env).stderr
        for option, value in (("--jobs", "0"), ("--jobs", "17"), ("--batch", "0")):
            refused = run_crm("assess", "--programme", "agents", option, value, env=env)
            assert refused.returncode == 2 and option.lstrip("-") in refused.stderr, refused.stderr
            assert "Traceback" not in refused.stderr
