"""Thin resolvers: GraphQL arguments in, a domain call, plain results out.

Nothing here imports schema/: schema types call these functions and wrap what they
return. Per-request state (principal, database, loaders) lives in `resolvers.context`.
"""
