"""Customers: validation, creation and the statements that list them."""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import DomainError, FieldError
from crm.pagination import Ordering, SortKey, parse_bigint
from models import Customer, CustomerClassification, CustomerKind, LifecycleStage


class CustomerErrorCode(enum.StrEnum):
    REQUIRED = "required"
    INVALID = "invalid"
    TOO_LONG = "too_long"
    TOO_MANY = "too_many"


NAME_MAX = 200
EMAIL_MAX = 254
PHONE_MAX = 40
TAG_MAX = 64
TAGS_MAX = 50
ATTRIBUTES_MAX_KEYS = 50
ATTRIBUTE_KEY_MAX = 64
ATTRIBUTE_VALUE_MAX = 1000

# Deliberately loose: one @, no spaces, a dot in the domain. Deliverability is the
# mail system's business; this catches typing mistakes and garbage.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-./]*[0-9]$")
# Control characters other than tab/newline: PostgreSQL refuses NUL in text, and none
# of them belongs in a name, an address or a tag.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class CustomerData:
    """What a client may set on a new customer."""

    name: str
    kind: CustomerKind = CustomerKind.ORGANISATION
    classification: CustomerClassification = CustomerClassification.POTENTIAL
    lifecycle_stage: LifecycleStage = LifecycleStage.LEAD
    email: str | None = None
    phone: str | None = None
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)


def _has_control(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_CONTROL.search(value))
    if isinstance(value, dict):
        return any(_has_control(k) or _has_control(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_control(v) for v in value)
    return False


def _is_attribute_value(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)  # NaN and Infinity are not JSON
    return value is None or isinstance(value, (str, int, bool))


def clean_customer_data(data: CustomerData) -> CustomerData:
    """Normalises the input (trims, lower-cases the email, de-duplicates tags) or raises
    DomainError listing every problem at once, so a form can show them all."""
    errors: list[FieldError] = []

    def fail(field_name: str, message: str, code: CustomerErrorCode) -> None:
        errors.append(FieldError(field_name, message, code.value))

    name = (data.name or "").strip()
    if not name:
        fail("name", "A customer needs a name.", CustomerErrorCode.REQUIRED)
    elif len(name) > NAME_MAX:
        fail("name", f"A name has at most {NAME_MAX} characters.", CustomerErrorCode.TOO_LONG)
    elif _has_control(name):
        fail("name", "A name cannot contain control characters.", CustomerErrorCode.INVALID)

    email = (data.email or "").strip().lower() or None
    if email is not None:
        if len(email) > EMAIL_MAX:
            fail("email", f"An email address has at most {EMAIL_MAX} characters.", CustomerErrorCode.TOO_LONG)
        elif not _EMAIL.match(email) or _has_control(email):
            fail("email", f"{data.email.strip()!r} is not an email address.", CustomerErrorCode.INVALID)

    phone = (data.phone or "").strip() or None
    if phone is not None:
        if len(phone) > PHONE_MAX:
            fail("phone", f"A phone number has at most {PHONE_MAX} characters.", CustomerErrorCode.TOO_LONG)
        elif not _PHONE.match(phone):
            fail("phone", "A phone number has digits, spaces, ()-./ and an optional leading +.", CustomerErrorCode.INVALID)

    tags: list[str] = []
    for raw in data.tags or []:
        tag = raw.strip() if isinstance(raw, str) else ""
        if not tag or _has_control(tag):
            fail("tags", "Tags are non-empty text without control characters.", CustomerErrorCode.INVALID)
            break
        if len(tag) > TAG_MAX:
            fail("tags", f"A tag has at most {TAG_MAX} characters.", CustomerErrorCode.TOO_LONG)
            break
        if tag not in tags:
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        fail("tags", f"A customer has at most {TAGS_MAX} tags.", CustomerErrorCode.TOO_MANY)

    attributes = data.attributes if data.attributes is not None else {}
    if not isinstance(attributes, dict):
        fail("attributes", "Attributes are a JSON object of named values.", CustomerErrorCode.INVALID)
    elif len(attributes) > ATTRIBUTES_MAX_KEYS:
        fail("attributes", f"A customer has at most {ATTRIBUTES_MAX_KEYS} attributes.", CustomerErrorCode.TOO_MANY)
    elif any(not key.strip() or len(key) > ATTRIBUTE_KEY_MAX for key in attributes):
        fail("attributes", f"Attribute names are 1 to {ATTRIBUTE_KEY_MAX} characters.", CustomerErrorCode.INVALID)
    elif not all(_is_attribute_value(v) for v in attributes.values()):
        fail("attributes", "Attribute values are text, finite numbers, true/false or null.", CustomerErrorCode.INVALID)
    elif any(isinstance(v, str) and len(v) > ATTRIBUTE_VALUE_MAX for v in attributes.values()):
        fail("attributes", f"An attribute value has at most {ATTRIBUTE_VALUE_MAX} characters.", CustomerErrorCode.TOO_LONG)
    elif _has_control(attributes):
        fail("attributes", "Attributes cannot contain control characters.", CustomerErrorCode.INVALID)

    if errors:
        raise DomainError(errors)
    return CustomerData(
        name=name,
        kind=CustomerKind(data.kind),
        classification=CustomerClassification(data.classification),
        lifecycle_stage=LifecycleStage(data.lifecycle_stage),
        email=email,
        phone=phone,
        tags=tags,
        attributes=dict(attributes),
    )


async def create_customer(session: AsyncSession, data: CustomerData) -> Customer:
    """Validates and inserts one customer in the caller's transaction."""
    clean = clean_customer_data(data)
    customer = Customer(
        name=clean.name,
        kind=clean.kind.value,
        classification=clean.classification.value,
        lifecycle_stage=clean.lifecycle_stage.value,
        email=clean.email,
        phone=clean.phone,
        tags=clean.tags,
        attributes=clean.attributes,
    )
    session.add(customer)
    # One INSERT ... RETURNING: the model reads server defaults back eagerly.
    await session.flush()
    return customer


async def customers_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, Customer]:
    rows = await session.execute(select(Customer).where(Customer.id.in_(ids)))
    return {customer.id: customer for customer in rows.scalars()}


# Served by the primary key index (pk_customer).
CUSTOMER_ORDER_BY_ID = Ordering(
    name="id",
    keys=[SortKey(Customer.id, parse=parse_bigint)],
    values_of=lambda customer: (customer.id,),
)


def customers_statement() -> Select:
    return select(Customer)
