"""Contacts: the people at organisation customers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.archiving import archive, restore
from crm.customers import contactable_clause
from kernel.errors import DomainError, domain_codes
from kernel.filtering import FilterField
from kernel.pagination import TEXT_KEY, Sortable, build_ordering
from kernel.references import live
from kernel.validation import Checker
from models import Contact, Customer, CustomerKind

ContactErrorCode = domain_codes("ContactErrorCode", "not_an_organisation")

FIELDS = ("name", "title", "email", "phone", "email_opt_out", "phone_opt_out", "sms_opt_out", "do_not_contact")


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    check = Checker()
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name == "name":
            clean[name] = check.text("name", value, max_len=200, required=True)
        elif name == "title":
            clean[name] = check.text("title", value, max_len=200)
        elif name == "email":
            clean[name] = check.email("email", value)
        elif name == "phone":
            clean[name] = check.phone("phone", value)
        elif name in ("email_opt_out", "phone_opt_out", "sms_opt_out", "do_not_contact"):
            clean[name] = check.flag(name, value)
    check.done()
    return clean


async def create_contact(session: AsyncSession, customer_id: int, data: Mapping[str, Any]) -> Contact:
    values = _clean(data)
    customer = await live(session, Customer, customer_id, "customer_id", "customer")
    if customer.kind != CustomerKind.ORGANISATION:
        raise DomainError.one("customer_id", f"{customer.name} is a person; contacts belong to organisations.",
                              ContactErrorCode.NOT_AN_ORGANISATION)
    contact = Contact(customer_id=customer.id, **values)
    session.add(contact)
    await session.flush()
    return contact


async def update_contact(session: AsyncSession, contact_id: int, changes: Mapping[str, Any]) -> Contact:
    contact = await live(session, Contact, contact_id, "id", "contact", lock=True)
    for name, value in _clean(changes).items():
        setattr(contact, name, value)
    await session.flush()
    return contact


async def archive_contact(session: AsyncSession, contact_id: int) -> Contact:
    return await archive(session, Contact, contact_id, "contact")


async def restore_contact(session: AsyncSession, contact_id: int) -> Contact:
    return await restore(session, Contact, contact_id, "contact")


FILTER_FIELDS = {
    "customer": FilterField(Contact.customer_id, "id"),  # ix_contact_customer_id_name_id
    "name": FilterField(Contact.name, "text"),  # ix_contact_name_id
    "email": FilterField(Contact.email, "text"),  # ix_contact_email
}
FILTER_SPECIAL = {
    "contactable": lambda v: contactable_clause(Contact, None) if v else ~contactable_clause(Contact, None),
    "contactable_by": lambda medium: contactable_clause(Contact, medium),
    "archived": lambda v: Contact.archived_at.is_not(None) if v else Contact.archived_at.is_(None),
}
SORTABLE = {
    "name": Sortable(Contact.name, "name", TEXT_KEY),  # ix_contact_name_id, ix_contact_customer_id_name_id
}


def contact_ordering(requested: list[tuple[str, bool]]):
    return build_ordering(SORTABLE, requested, Contact.id, default=[("name", False)])


def contacts_statement(condition: Any = None, *, include_archived: bool = False) -> Select:
    statement = select(Contact)
    if condition is not None:
        statement = statement.where(condition)
    if not include_archived:
        statement = statement.where(Contact.archived_at.is_(None))
    return statement
