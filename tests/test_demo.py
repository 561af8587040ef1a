"""The demo data loads, through the domain services, and only into an empty database."""

from core.demo import demo_admin_id, seed_demo_data


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
