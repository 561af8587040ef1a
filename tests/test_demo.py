"""The demo data loads, through the domain services, and only into an empty database."""

from core.demo import demo_admin_id, demo_partner, seed_demo_data
from crm.auth import Principal, Role


async def test_demo_data_loads_once(database, post_graphql):
    assert await seed_demo_data(database) == 13
    assert await seed_demo_data(database) == 0
    assert await demo_admin_id(database) is not None
    result = await post_graphql("""{ customers { totalCount } orders { totalCount } opportunities { totalCount }
      users { totalCount } followUps { edges { node { subject overdue } } } pipeline { stage dealCount } }""")
    assert not result.errors, result.body
    data = result.data
    assert data["customers"]["totalCount"] == 13
    assert data["orders"]["totalCount"] == 4
    assert data["opportunities"]["totalCount"] == 6
    assert data["users"]["totalCount"] == 4
    assert {e["node"]["subject"]: e["node"]["overdue"] for e in data["followUps"]["edges"]} == {
        "Send revised offer": True, "Two free training days this year": False}
    user_id, account_id = await demo_partner(database)
    nora = Principal(subject="nora@northwind.example", role=Role.PARTNER, account_id=account_id, user_id=user_id)
    mine = await post_graphql("{ myMembership { tier { code } training { granted } programme { name } } }", as_=nora)
    assert mine.data["myMembership"] == {"tier": {"code": "B"}, "training": {"granted": 2}, "programme": {"name": "Agents"}}
    staff = await post_graphql("{ myMembership { id } }")
    assert staff.error_codes == ["FORBIDDEN"]
