from pathlib import Path

from schema.root import schema_sdl

ROOT = Path(__file__).resolve().parent.parent


def test_committed_schema_matches_the_code():
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == schema_sdl(), "schema.graphql is stale: run `make schema` and commit it"


def test_every_type_field_argument_and_enum_value_has_a_description():
    from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

    from schema.root import schema

    missing = []
    for name, gql_type in schema._schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID"}:
            continue
        if not gql_type.description:
            missing.append(name)
        if isinstance(gql_type, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for field_name, field in gql_type.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not arg.description:
                        missing.append(f"{name}.{field_name}({arg_name})")
        if isinstance(gql_type, GraphQLEnumType):
            missing += [f"{name}.{value}" for value, v in gql_type.values.items() if not v.description]
    assert missing == []


def test_every_root_field_says_who_may_call_it():
    from schema.root import schema

    for root in (schema._schema.query_type, schema._schema.mutation_type):
        for name, field in root.fields.items():
            assert "Requires:" in (field.description or ""), f"{root.name}.{name} declares no permission"
