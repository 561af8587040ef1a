"""The users domain's list builders and Query/Mutation bodies; its types are in schema/users.py."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from crm import users as service
from resolvers.lists import filter_clause
from resolvers.mutations import mutate
from resolvers.ids import decode_id, decode_optional_id
from schema.common import given, payload_errors
from schema.filters import to_spec
from schema.fields import root_connection
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import Admins, Managers, guarded_mutation
from schema.users import UserCreateInput, UserError, UserErrorCode, UserFilter, UserPayload, UserType, UserUpdateInput


def _payload(row, errors) -> UserPayload:
    return UserPayload(user=UserType.from_row(row) if row else None, errors=payload_errors(errors, UserError, UserErrorCode))


def users_list(principal, filter: UserFilter | None = None):
    """The rows and ordering of `users`."""
    condition = filter_clause(to_spec(filter, {"partner_account": "Customer"}), service.FILTER_FIELDS)
    return service.users_statement(condition), service.USER_ORDERING


@strawberry.type
class UserQueries:
    users: Connection[UserType] = root_connection(
        users_list, description=f"Users, by id. {PAGE_ARGUMENTS_HELP}", permissions=[Managers])


@strawberry.type
class UserMutations:
    @guarded_mutation(description="Create a user (no credentials yet: login arrives with issue [4/6]).", idempotent=True, permissions=[Admins])
    async def user_create(self, info: Info, input: UserCreateInput) -> UserPayload:
        async def action(session):
            account = decode_optional_id(input.partner_account_id, "Customer", "partner_account_id")
            return await service.create_user(session, email=input.email, name=input.name, role=input.role,
                                             partner_account_id=account)
        return _payload(*await mutate(info.context, action))

    @guarded_mutation(description="Change a user's name, email or active flag.", permissions=[Admins])
    async def user_update(self, info: Info, id: strawberry.ID, input: UserUpdateInput) -> UserPayload:
        async def action(session):
            return await service.update_user(session, decode_id(id, "User", "id"), given(input))
        return _payload(*await mutate(info.context, action))
