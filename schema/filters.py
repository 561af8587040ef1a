"""Filter and ordering inputs shared by every list, and their conversion to the plain
filter dicts that kernel.filtering turns into SQL."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import strawberry
from strawberry.scalars import JSON

from resolvers.ids import from_global_id

E = TypeVar("E")


@strawberry.input(description="Conditions on a text field; all given ones must hold.")
class StringFilter:
    eq: str | None = strawberry.field(default=None, description="Equal to.")
    in_: list[str] | None = strawberry.field(default=None, name="in", description="One of (at most 100).")
    ilike: str | None = strawberry.field(default=None, description=(
        "Case-insensitive pattern, at most 200 characters: % matches any run of characters, _ exactly one, "
        "\\ makes the next character literal (\\% a percent sign, \\_ an underscore, \\\\ a backslash); "
        "a pattern ending in a lone \\ is refused (BAD_USER_INPUT)."))
    is_null: bool | None = strawberry.field(default=None, description="true: has no value; false: has one.")


@strawberry.input(description="Conditions on a reference (a global ID).")
class IDFilter:
    eq: strawberry.ID | None = strawberry.field(default=None, description="Equal to.")
    in_: list[strawberry.ID] | None = strawberry.field(default=None, name="in", description="One of (at most 100).")
    is_null: bool | None = strawberry.field(default=None, description="true: not set; false: set.")


@strawberry.input(description="Conditions on an amount.")
class DecimalFilter:
    eq: Decimal | None = strawberry.field(default=None, description="Equal to.")
    in_: list[Decimal] | None = strawberry.field(default=None, name="in", description="One of (at most 100).")
    gte: Decimal | None = strawberry.field(default=None, description="Greater than or equal to.")
    lte: Decimal | None = strawberry.field(default=None, description="Less than or equal to.")
    is_null: bool | None = strawberry.field(default=None, description="true: not set; false: set.")


@strawberry.input(description="Conditions on a timestamp (give the UTC offset).")
class DateTimeFilter:
    eq: datetime | None = strawberry.field(default=None, description="Equal to.")
    gte: datetime | None = strawberry.field(default=None, description="At or after.")
    lte: datetime | None = strawberry.field(default=None, description="At or before.")
    gt: datetime | None = strawberry.field(default=None, description="Strictly after.")
    lt: datetime | None = strawberry.field(default=None, description="Strictly before: with `gte`, the half-open "
                                           "period [gte, lt).")
    is_null: bool | None = strawberry.field(default=None, description="true: not set; false: set.")


@strawberry.input(description="Conditions on a calendar date.")
class DateFilter:
    eq: date | None = strawberry.field(default=None, description="Equal to.")
    gte: date | None = strawberry.field(default=None, description="On or after.")
    lte: date | None = strawberry.field(default=None, description="On or before.")
    is_null: bool | None = strawberry.field(default=None, description="true: not set; false: set.")


@strawberry.input(description="Conditions on a yes/no field.")
class BooleanFilter:
    eq: bool | None = strawberry.field(default=None, description="Equal to.")


@strawberry.input(description="Conditions on tags.")
class TagsFilter:
    contains_any: list[str] | None = strawberry.field(default=None, description="Has at least one of these tags.")
    contains_all: list[str] | None = strawberry.field(default=None, description="Has every one of these tags.")


@strawberry.input(description="A condition on one portrait attribute.")
class AttributeFilter:
    key: str = strawberry.field(description="Attribute name, e.g. industry.")
    eq: JSON | None = strawberry.field(default=None, description="The attribute has this value.")
    in_: list[JSON] | None = strawberry.field(default=None, name="in", description="The attribute has one of these values.")
    is_null: bool | None = strawberry.field(default=None, description="true: the attribute is absent; false: present.")


@strawberry.input(description="Conditions on an enumerated field.")
class EnumFilter(Generic[E]):
    eq: E | None = strawberry.field(default=None, description="Equal to.")
    in_: list[E] | None = strawberry.field(default=None, name="in", description="One of.")


@strawberry.enum(description="Sort direction.")
class OrderDirection(enum.Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.enum(description="A way to reach someone, for consent filters.")
class ContactMedium(enum.Enum):
    EMAIL = "email"
    PHONE = "phone"
    SMS = "sms"


_COMBINATORS = {"and_": "and", "or_": "or", "not_": "not"}


def to_spec(value: Any, id_types: dict[str, str]) -> Any:
    """A strawberry filter input as the plain dict kernel.filtering reads: unset parts
    dropped, enums as their values, global IDs decoded (INVALID_ID when they are not of
    the type the field refers to). `id_types` maps ID fields to their type name."""
    if value is None:
        return None
    if isinstance(value, list):
        return [to_spec(item, id_types) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    if not hasattr(value, "__strawberry_definition__"):
        return value
    spec: dict[str, Any] = {}
    for name, item in vars(value).items():
        if item is None or item is strawberry.UNSET:
            continue
        key = _COMBINATORS.get(name, name.rstrip("_"))
        if name in id_types:
            spec[key] = {op.rstrip("_"): _decode_ids(v, id_types[name]) for op, v in vars(item).items() if v is not None}
        elif key in ("and", "or"):
            spec[key] = [to_spec(v, id_types) for v in item]
        else:
            spec[key] = to_spec(item, id_types)
    return spec


def _decode_ids(value: Any, type_name: str) -> Any:
    if isinstance(value, list):
        if len(value) > 100:
            return value  # kernel.filtering refuses long lists with a clear message
        return [from_global_id(v, expected_type=type_name)[1] for v in value]
    if isinstance(value, bool):
        return value
    return from_global_id(value, expected_type=type_name)[1]


def order_pairs(order_by: list[Any] | None) -> list[tuple[str, bool]]:
    """[XOrder] inputs as (field, descending) pairs for kernel.pagination.build_ordering."""
    return [(item.field.value, item.direction == OrderDirection.DESC) for item in order_by or []]
