"""The README's example queries are valid against the schema and answer on demo data."""

import re
from pathlib import Path

from graphql import parse, validate

from core.demo import seed_demo_data
from schema import schema

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
EXAMPLES = re.findall(r"```graphql\n(.*?)```", README, re.S)


def test_readme_has_examples_that_validate():
    assert len(EXAMPLES) >= 4
    for example in EXAMPLES:
        assert validate(schema._schema, parse(example)) == [], example


async def test_readme_examples_answer_on_demo_data(database, post_graphql):
    await seed_demo_data(database)
    first = await post_graphql("{ customers(first: 1, orderBy: [{field: NAME}]) { edges { node { id } } } }")
    customer_id = first.data["customers"]["edges"][0]["node"]["id"]
    for example in EXAMPLES:
        result = await post_graphql(example, {"id": customer_id} if "$id" in example else None)
        assert result.errors == [], (example, result.body)
        assert result.data
