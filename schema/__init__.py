"""Strawberry types, inputs, enums and payloads, one module per domain; their list
builders and Query/Mutation bodies are in resolvers/<domain>.py. The root Query and
Mutation, and the schema, are composed in schema/root.py."""
