from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from crm import users as service
from models import User as UserRow
from models import UserRole
from schema.errors import error_codes, error_type
from schema.filters import BooleanFilter, EnumFilter, IDFilter, StringFilter
from schema.fields import column, global_id, to_one
from schema.node import NODE_TYPES, Node

if TYPE_CHECKING:
    from schema.customers import CustomerType

strawberry.enum(UserRole, description="What a user may do (enforced from issue [4/6]).")
UserErrorCode = error_codes(service.UserErrorCode, "user")
UserError = error_type("UserError", UserErrorCode, "user")


@strawberry.type(name="User", description="A staff or partner login; owner and actor of CRM records.")
class UserType(Node):
    id: strawberry.ID = global_id("User")
    email: str = column("email", description="Login email, lower-cased.")
    name: str = column("name", description="Display name.")
    role: UserRole = column("role", description="Role.")
    active: bool = column("active", description="False once deactivated; a deactivated user owns nothing new.")
    created_at: datetime = column("created_at", description="When the user was created.")
    _row: strawberry.Private[UserRow]

    partner_account: Annotated["CustomerType", strawberry.lazy("schema.customers")] | None = to_one(
        "Customer", "partner_account_id", description="For a partner user, the partner account it acts for.")


NODE_TYPES["User"] = UserType.from_row


@strawberry.input(description="Which users to list.")
class UserFilter:
    role: EnumFilter[UserRole] | None = strawberry.field(default=None, description="By role.")
    active: BooleanFilter | None = strawberry.field(default=None, description="Active or deactivated.")
    partner_account: IDFilter | None = strawberry.field(default=None, description="Partner users of an account.")
    email: StringFilter | None = strawberry.field(default=None, description="By email (lower-case).")


@strawberry.input(description="A new user.")
class UserCreateInput:
    email: str = strawberry.field(description="Login email; unique, case-insensitive.")
    name: str = strawberry.field(description="Display name, 1 to 200 characters.")
    role: UserRole = strawberry.field(description="Role.")
    partner_account_id: strawberry.ID | None = strawberry.field(default=None, description="Required for PARTNER users: their partner customer.")


@strawberry.input(description="Changes to a user; only the fields sent change.")
class UserUpdateInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Display name.")
    email: str | None = strawberry.field(default=strawberry.UNSET, description="Login email.")
    active: bool | None = strawberry.field(default=strawberry.UNSET, description="false deactivates the user.")


@strawberry.type(description="Result of a user mutation.")
class UserPayload:
    user: UserType | None = strawberry.field(description="The user; null when errors is not empty.")
    errors: list[UserError] = strawberry.field(description="Empty on success.")


