from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from crm import contacts as service
from crm.customers import may_contact
from models import Contact as ContactRow
from schema.errors import error_codes, error_type
from schema.filters import ContactMedium, IDFilter, OrderDirection, StringFilter
from schema.fields import column, global_id, to_one
from schema.node import NODE_TYPES, Node

if TYPE_CHECKING:
    from schema.customers import CustomerType

ContactErrorCode = error_codes(service.ContactErrorCode, "contact")
ContactError = error_type("ContactError", ContactErrorCode, "contact")


def can_contact(row, medium: ContactMedium | None) -> bool:
    """The rule of the `contactable` filters (crm.customers.contactable_clause)."""
    return may_contact(row, medium.value if medium is not None else None)


@strawberry.type(description="Consent: opt-outs per medium and a general do-not-contact.")
class Consent:
    email_opt_out: bool = strawberry.field(description="No email.")
    phone_opt_out: bool = strawberry.field(description="No phone calls.")
    sms_opt_out: bool = strawberry.field(description="No text messages.")
    do_not_contact: bool = strawberry.field(description="No contact at all, whatever the medium.")

    @classmethod
    def of(cls, row) -> Consent:
        return cls(email_opt_out=row.email_opt_out, phone_opt_out=row.phone_opt_out,
                   sms_opt_out=row.sms_opt_out, do_not_contact=row.do_not_contact)


@strawberry.input(description="Consent flags; absent ones keep their value (false for a new record).")
class ConsentInput:
    email_opt_out: bool | None = strawberry.field(default=strawberry.UNSET, description="No email.")
    phone_opt_out: bool | None = strawberry.field(default=strawberry.UNSET, description="No phone calls.")
    sms_opt_out: bool | None = strawberry.field(default=strawberry.UNSET, description="No text messages.")
    do_not_contact: bool | None = strawberry.field(default=strawberry.UNSET, description="No contact at all.")


@strawberry.type(name="Contact", description="A person at an organisation customer.")
class ContactType(Node):
    id: strawberry.ID = global_id("Contact")
    name: str = column("name", description="Full name.")
    title: str | None = column("title", description="Job title.")
    email: str | None = column("email", description="Email, lower-cased.")
    phone: str | None = column("phone", description="Phone as entered.")
    archived_at: datetime | None = column("archived_at", description="When archived; null while live.")
    created_at: datetime = column("created_at", description="When created.")
    _row: strawberry.Private[ContactRow]

    @strawberry.field(description="Opt-outs.")
    def consent(self) -> Consent:
        return Consent.of(self._row)

    @strawberry.field(description="Whether this person may be contacted (by the medium, when given).")
    def contactable(self, by: ContactMedium | None = None) -> bool:
        return can_contact(self._row, by)

    customer: Annotated["CustomerType", strawberry.lazy("schema.customers")] = to_one(
        "Customer", "customer_id", description="The organisation.")


NODE_TYPES["Contact"] = ContactType.from_row


@strawberry.input(description="Which contacts to list. Archived ones only when `archived: true`.")
class ContactFilter:
    customer: IDFilter | None = strawberry.field(default=None, description="Contacts of these customers.")
    name: StringFilter | None = strawberry.field(default=None, description="By name.")
    email: StringFilter | None = strawberry.field(default=None, description="By email.")
    contactable: bool | None = strawberry.field(default=None, description="true: only people who may be contacted at all.")
    contactable_by: ContactMedium | None = strawberry.field(default=None, description="Only people reachable by this medium (not opted out, with an address).")
    archived: bool | None = strawberry.field(default=None, description="true: archived only; false or absent: live only.")
    and_: list[ContactFilter] | None = strawberry.field(default=None, name="and", description="All of these.")
    or_: list[ContactFilter] | None = strawberry.field(default=None, name="or", description="Any of these.")
    not_: ContactFilter | None = strawberry.field(default=None, name="not", description="Not this.")


@strawberry.enum(description="Fields contacts can be ordered by (the id breaks ties).")
class ContactOrderField(enum.Enum):
    NAME = "name"


@strawberry.input(description="One ordering key.")
class ContactOrder:
    field: ContactOrderField = strawberry.field(description="Field.")
    direction: OrderDirection = strawberry.field(default=OrderDirection.ASC, description="Default ASC.")


@strawberry.input(description="A new contact.")
class ContactCreateInput:
    customer_id: strawberry.ID = strawberry.field(description="The organisation customer.")
    name: str = strawberry.field(description="1 to 200 characters.")
    title: str | None = strawberry.field(default=None, description="Job title.")
    email: str | None = strawberry.field(default=None, description="Email address.")
    phone: str | None = strawberry.field(default=None, description="Phone number.")
    consent: ConsentInput | None = strawberry.field(default=None, description="Opt-outs; default none.")


@strawberry.input(description="Changes to a contact; only the fields sent change.")
class ContactUpdateInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Name.")
    title: str | None = strawberry.field(default=strawberry.UNSET, description="Job title; null clears it.")
    email: str | None = strawberry.field(default=strawberry.UNSET, description="Email; null clears it.")
    phone: str | None = strawberry.field(default=strawberry.UNSET, description="Phone; null clears it.")
    consent: ConsentInput | None = strawberry.field(default=strawberry.UNSET, description="Opt-outs to change.")


@strawberry.type(description="Result of a contact mutation.")
class ContactPayload:
    contact: ContactType | None = strawberry.field(description="The contact; null when errors is not empty.")
    errors: list[ContactError] = strawberry.field(description="Empty on success.")


