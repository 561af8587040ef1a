"""Defaults that introspection can print."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    GraphQLArgument, GraphQLDefaultInput, GraphQLInputField, GraphQLInputObjectType, GraphQLInterfaceType,
    GraphQLObjectType, GraphQLSchema, Undefined, ast_from_value, get_named_type, is_enum_type, is_scalar_type,
)


def input_values(schema: GraphQLSchema) -> Iterator[tuple[str, GraphQLArgument | GraphQLInputField]]:
    """Every argument and input field of the schema, with its coordinate (`Type.field(arg:)`)."""
    for name, graphql_type in schema.type_map.items():
        if isinstance(graphql_type, GraphQLInputObjectType):
            for field_name, input_field in graphql_type.fields.items():
                yield f"{name}.{field_name}", input_field
        elif isinstance(graphql_type, (GraphQLObjectType, GraphQLInterfaceType)):
            for field_name, field in graphql_type.fields.items():
                for arg_name, argument in field.args.items():
                    yield f"{name}.{field_name}({arg_name}:)", argument
    for directive in schema.directives:
        for arg_name, argument in directive.args.items():
            yield f"@{directive.name}({arg_name}:)", argument


def publish_literal_defaults(schema: GraphQLSchema) -> None:
    """Gives each default that introspection could not print a form it can.

    Strawberry hands graphql-core only the legacy internal default (`default_value`),
    which introspection's `defaultValue` prints through `ast_from_value`: that turns a
    scalar's strings, numbers and booleans into literals and fails on anything else, so
    `CustomerCreateInput.attributes: JSON! = {}` broke the whole introspection query
    (GraphiQL, code generators) with an internal error. The same value as the external
    default (`default`) is printed by `value_to_literal`, which writes objects and lists
    as object and list literals, and is what graphql-core then coerces from. For a
    custom scalar other than an enum, the JSON scalar here, internal and external values
    are the same object, so nothing else changes."""
    for coordinate, input_value in input_values(schema):
        if input_value.default is not None or input_value.default_value is Undefined:
            continue
        try:
            ast_from_value(input_value.default_value, input_value.type)
        except TypeError:
            named = get_named_type(input_value.type)
            if not is_scalar_type(named) or is_enum_type(named):
                raise TypeError(f"{coordinate}: its default cannot be published") from None
            input_value.default = GraphQLDefaultInput(value=input_value.default_value)
