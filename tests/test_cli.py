"""The `crm` command: help everywhere, schema export, tokens."""

from __future__ import annotations

import pytest

from crm.auth import Role, read_token
from tests.conftest import TEST_SECRET_KEY
from tests.process import crm_env, run_crm

COMMANDS = ["serve", "migrate", "seed", "export-schema", "token"]


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
    from schema import schema_sdl

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
