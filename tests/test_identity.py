"""Logging in, refreshing, logging out (immediately), API keys, throttling, create-admin."""

from __future__ import annotations

import pytest

from crm.auth import Principal, Role
from tests.helpers import new_customer, new_user, ok

LOGIN = """mutation($e: String!, $p: String!) { login(email: $e, password: $p) {
  accessToken refreshToken accessTokenExpiresAt user { email role } errors { field code message } } }"""
REFRESH = """mutation($t: String!) { tokenRefresh(refreshToken: $t) { accessToken refreshToken errors { field code } } }"""
PASSWORD = "correct horse battery staple"


@pytest.fixture
async def sam(post_graphql):
    user = await new_user(post_graphql, "sam@example.com", "SALES")
    await ok(post_graphql, "mutation($id: ID!, $p: String!) { userSetPassword(id: $id, password: $p) { ok errors { code } } }",
             {"id": user, "p": PASSWORD}, "userSetPassword")
    return user


async def call(client, token: str | None, query: str = "{ me { user { email } role } }", variables=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return (await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)).json()


async def test_login_refresh_logout(post_graphql, client, sam):
    tokens = (await post_graphql(LOGIN, {"e": " SAM@example.com ", "p": PASSWORD}, as_=None)).data["login"]
    assert tokens["errors"] == [] and tokens["user"] == {"email": "sam@example.com", "role": "SALES"}
    assert (await call(client, tokens["accessToken"]))["data"]["me"] == {"user": {"email": "sam@example.com"}, "role": "SALES"}
    # refresh rotates: the old refresh token is spent
    fresh = (await post_graphql(REFRESH, {"t": tokens["refreshToken"]}, as_=None)).data["tokenRefresh"]
    assert fresh["errors"] == [] and fresh["refreshToken"] != tokens["refreshToken"]
    spent = (await post_graphql(REFRESH, {"t": tokens["refreshToken"]}, as_=None)).data["tokenRefresh"]
    assert spent["errors"] == [{"field": "refreshToken", "code": "INVALID_TOKEN"}] and spent["accessToken"] is None
    # logout takes effect immediately, for every token of the login
    assert (await call(client, fresh["accessToken"], "mutation { logout { ok } }"))["data"]["logout"] == {"ok": True}
    for token in (tokens["accessToken"], fresh["accessToken"]):
        body = await call(client, token)
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    gone = (await post_graphql(REFRESH, {"t": fresh["refreshToken"]}, as_=None)).data["tokenRefresh"]
    assert gone["errors"] == [{"field": "refreshToken", "code": "INVALID_TOKEN"}]


async def test_wrong_password_and_unknown_email_answer_alike(post_graphql, sam):
    wrong = (await post_graphql(LOGIN, {"e": "sam@example.com", "p": "not the password"}, as_=None)).data["login"]
    unknown = (await post_graphql(LOGIN, {"e": "nobody@example.com", "p": "not the password"}, as_=None)).data["login"]
    assert wrong == unknown == {"accessToken": None, "refreshToken": None, "accessTokenExpiresAt": None, "user": None,
                                "errors": [{"field": None, "code": "INVALID_CREDENTIALS", "message": "The email or password is not right."}]}


async def test_failed_logins_are_throttled_per_email(post_graphql, sam):
    for _ in range(5):
        result = (await post_graphql(LOGIN, {"e": "sam@example.com", "p": "guess guess guess"}, as_=None)).data["login"]
        assert result["errors"][0]["code"] == "INVALID_CREDENTIALS"
    # now even the right password waits
    throttled = (await post_graphql(LOGIN, {"e": "sam@example.com", "p": PASSWORD}, as_=None)).data["login"]
    assert throttled["errors"][0]["code"] == "THROTTLED" and throttled["accessToken"] is None
    # and an unknown email is throttled the same way (no telling which exist)
    for _ in range(5):
        await post_graphql(LOGIN, {"e": "ghost@example.com", "p": "guess guess guess"}, as_=None)
    assert (await post_graphql(LOGIN, {"e": "ghost@example.com", "p": "x"}, as_=None)).data["login"]["errors"][0]["code"] == "THROTTLED"


async def test_weak_passwords_are_refused(post_graphql, sam):
    query = "mutation($id: ID!, $p: String!) { userSetPassword(id: $id, password: $p) { ok errors { field code } } }"
    for password in ("short", "a" * 20, " leading space pass", "x" * 201):
        result = (await post_graphql(query, {"id": sam, "p": password})).data["userSetPassword"]
        assert result == {"ok": False, "errors": [{"field": "password", "code": "WEAK_PASSWORD"}]}


async def test_api_keys_shown_once_scoped_and_revocable(post_graphql, client, sam):
    tokens = (await post_graphql(LOGIN, {"e": "sam@example.com", "p": PASSWORD}, as_=None)).data["login"]
    create = "mutation($n: String!, $r: UserRole) { apiKeyCreate(name: $n, role: $r) { key apiKey { id prefix role lastUsedAt } errors { field code } } }"
    created = (await call(client, tokens["accessToken"], create, {"n": "ERP sync"}))["data"]["apiKeyCreate"]
    key = created["key"]
    assert key.startswith(f"crm_{created['apiKey']['prefix']}_") and created["apiKey"]["role"] == "SALES"
    assert (await call(client, key))["data"]["me"]["user"]["email"] == "sam@example.com"
    listed = (await call(client, tokens["accessToken"], "{ apiKeys { id lastUsedAt } }"))["data"]["apiKeys"]
    assert listed[0]["lastUsedAt"] is not None and "key" not in listed[0]
    # a sales user cannot mint an admin key
    refused = (await call(client, tokens["accessToken"], create, {"n": "root", "r": "ADMIN"}))["data"]["apiKeyCreate"]
    assert refused["errors"] == [{"field": "role", "code": "ROLE_NOT_ALLOWED"}] and refused["key"] is None
    revoke = "mutation($id: ID!) { apiKeyRevoke(id: $id) { ok errors { code } } }"
    assert (await call(client, tokens["accessToken"], revoke, {"id": created["apiKey"]["id"]}))["data"]["apiKeyRevoke"]["ok"]
    body = await call(client, key)
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    forged = await call(client, key[:-4] + "AAAA")
    assert forged["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_me_tells_the_credentials_effective_role_and_scope(post_graphql, client):
    """An admin's key made with role SALES acts, and says it acts, as SALES, and cannot
    mint a key above SALES for its user."""
    import base64

    admin = await new_user(post_graphql, "ada@example.com", role="ADMIN")
    await post_graphql("mutation($id: ID!, $p: String!) { userSetPassword(id: $id, password: $p) { ok } }", {"id": admin, "p": PASSWORD})
    tokens = (await post_graphql(LOGIN, {"e": "ada@example.com", "p": PASSWORD}, as_=None)).data["login"]
    create = "mutation($n: String!, $r: UserRole) { apiKeyCreate(name: $n, role: $r) { key apiKey { id role } errors { field code } } }"
    me = "{ me { role credential scope user { email role } apiKey { id role } partnerAccount { id } } }"
    assert (await call(client, tokens["accessToken"], me))["data"]["me"] == {
        "role": "ADMIN", "credential": "ACCESS_TOKEN", "scope": "EVERYTHING", "user": {"email": "ada@example.com", "role": "ADMIN"},
        "apiKey": None, "partnerAccount": None}
    created = (await call(client, tokens["accessToken"], create, {"n": "reports", "r": "SALES"}))["data"]["apiKeyCreate"]
    assert created["errors"] == []
    assert (await call(client, created["key"], me))["data"]["me"] == {
        "role": "SALES", "credential": "API_KEY", "scope": "READ_ALL_CHANGE_OWNED",
        "user": {"email": "ada@example.com", "role": "ADMIN"}, "apiKey": created["apiKey"], "partnerAccount": None}
    for role in ("ADMIN", "MANAGER", None):
        minted = (await call(client, created["key"], create, {"n": "up", "r": role}))["data"]["apiKeyCreate"]
        if role is None:  # the default is the creating key's role, not the user's
            assert minted["errors"] == [] and minted["apiKey"]["role"] == "SALES"
        else:
            assert minted == {"key": None, "apiKey": None, "errors": [{"field": "role", "code": "ROLE_NOT_ALLOWED"}]}
    # a partner's token: its account is its scope
    account = await new_customer(post_graphql, "Partner", classification="PARTNER")
    pk = int(base64.b64decode(account).decode().split(":")[1])
    partner = await post_graphql(me, as_=Principal("p", Role.PARTNER, account_id=pk))
    assert partner.data["me"] == {"role": "PARTNER", "credential": "SERVICE_TOKEN", "scope": "OWN_ACCOUNT", "user": None,
                                  "apiKey": None, "partnerAccount": {"id": account}}


async def test_public_login_ignores_a_stale_token(client, sam):
    body = await call(client, "stale.token.value", LOGIN, {"e": "sam@example.com", "p": PASSWORD})
    assert body["data"]["login"]["errors"] == []


def test_create_admin_then_log_in(postgres_server_url):
    import asyncio

    import httpx

    from core.settings import Settings
    from models import Database
    from models.migrations import upgrade
    from server import create_app
    from tests.conftest import TEST_SECRET_KEY, fresh_database
    from tests.process import crm_env, run_crm

    with fresh_database(postgres_server_url) as url:
        upgrade(url)
        env = crm_env(DATABASE_URL=url, CRM_ADMIN_PASSWORD="first admin password")
        created = run_crm("create-admin", "--email", "root@example.com", env=env)
        assert created.returncode == 0, created.stderr
        again = run_crm("create-admin", "--email", "root@example.com", env=env)
        assert again.returncode == 2 and "Another user has this email" in again.stderr
        weak = run_crm("create-admin", "--email", "weak@example.com", env=crm_env(DATABASE_URL=url, CRM_ADMIN_PASSWORD="short"))
        assert weak.returncode == 2 and "12 to 200" in weak.stderr

        async def login():
            database = Database.from_url(url, pool_size=2)
            app = create_app(Settings(secret_key=TEST_SECRET_KEY), database=database)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                body = (await client.post("/graphql", json={"query": LOGIN, "variables": {
                    "e": "root@example.com", "p": "first admin password"}})).json()
            await database.dispose()
            return body["data"]["login"]

        assert asyncio.run(login())["user"] == {"email": "root@example.com", "role": "ADMIN"}
