"""The resolvers: per domain (resolvers/<domain>.py) the list builders, the Query and
Mutation classes with their bodies and the domain's loaders, each importing the types of
schema/<domain>.py; and the runtime plumbing they share, which imports nothing from
schema/: per-request state (principal, database, loaders) in `resolvers.context`, the
by-id and list loaders, row scopes, global IDs (`resolvers.ids`), list filters and
paging, errors and the mutation plumbing.
"""
