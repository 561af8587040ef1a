"""Input checks shared by the domains. A Checker collects every problem of one input,
so a form can show them all at once, then raises them together."""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kernel.errors import Code, DomainError, FieldError
from kernel.money import CURRENCIES, MAX_AMOUNT

# Deliberately loose: one @, no spaces, a dot in the domain. Deliverability is the
# mail system's business; this catches typing mistakes and garbage.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-./]*[0-9]$")
# Control characters other than tab/newline: PostgreSQL refuses NUL in text, and none
# of them belongs in a name, an address or a tag.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_IN_LINE = re.compile(r"[\x00-\x1f\x7f]")

# Characters that render as nothing yet are not Unicode whitespace or format characters:
# the Hangul fillers and the blank Braille pattern, favourites for names that look empty.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")

EMAIL_MAX = 254
PHONE_MAX = 40
MAX_QUANTITY = 1_000_000


def visible(value: str) -> bool:
    """Whether text shows anything: not only separators, format characters (zero-width
    spaces and joiners, direction marks), controls or blank fillers."""
    return any(unicodedata.category(c)[0] not in "ZC" and c not in _BLANK_LETTERS for c in value)


def has_control(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_CONTROL.search(value))
    if isinstance(value, dict):
        return any(has_control(k) or has_control(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_control(v) for v in value)
    return False


class Checker:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def fail(self, field: str | None, message: str, code: str, related: tuple[str, int] | None = None) -> None:
        self.errors.append(FieldError(field, message, code, related))

    def failed(self, field: str) -> bool:
        return any(error.field == field for error in self.errors)

    def done(self) -> None:
        if self.errors:
            raise DomainError(self.errors)

    # -- text ---------------------------------------------------------------------------

    def text(self, field: str, value: str | None, *, max_len: int, required: bool = False,
             multiline: bool = False, label: str | None = None) -> str | None:
        """Trimmed text or None; REQUIRED (also for text of invisible characters only, where
        it is required), TOO_LONG or INVALID (control characters)."""
        label = label or field
        clean = (value or "").strip()
        if not clean or (required and not visible(clean)):
            if required:
                self.fail(field, f"A {label} is required.", Code.REQUIRED)
            return None
        if len(clean) > max_len:
            self.fail(field, f"A {label} has at most {max_len} characters.", Code.TOO_LONG)
        elif (_CONTROL if multiline else _CONTROL_IN_LINE).search(clean):
            self.fail(field, f"A {label} cannot contain control characters.", Code.INVALID)
        return clean

    def email(self, field: str, value: str | None) -> str | None:
        clean = (value or "").strip().lower() or None
        if clean is None:
            return None
        if len(clean) > EMAIL_MAX:
            self.fail(field, f"An email address has at most {EMAIL_MAX} characters.", Code.TOO_LONG)
        elif not _EMAIL.match(clean) or has_control(clean):
            self.fail(field, f"{value.strip()[:100]!r} is not an email address.", Code.INVALID)
        return clean

    def phone(self, field: str, value: str | None) -> str | None:
        clean = (value or "").strip() or None
        if clean is None:
            return None
        if len(clean) > PHONE_MAX:
            self.fail(field, f"A phone number has at most {PHONE_MAX} characters.", Code.TOO_LONG)
        elif not _PHONE.match(clean):
            self.fail(field, "A phone number has digits, spaces, ()-./ and an optional leading +.", Code.INVALID)
        return clean

    def flag(self, field: str, value: bool | None) -> bool | None:
        """A yes/no that cannot be cleared: null is refused."""
        if value is None:
            self.fail(field, f"{field} is true or false, not null.", Code.REQUIRED)
        return value

    def choice(self, field: str, value, allowed: type) -> str | None:
        """An enum value that cannot be cleared."""
        if value is None:
            self.fail(field, f"{field} cannot be null.", Code.REQUIRED)
            return None
        return allowed(getattr(value, "value", value)).value

    # -- money and numbers --------------------------------------------------------------

    def money(self, field: str, value: Decimal | None, *, required: bool = True) -> Decimal | None:
        """A finite, non-negative amount with at most two decimals, below the column's limit."""
        if value is None:
            if required:
                self.fail(field, "An amount is required.", Code.REQUIRED)
            return None
        try:
            amount = Decimal(value)
        except (InvalidOperation, TypeError, ValueError):
            self.fail(field, "Not an amount.", Code.INVALID)
            return None
        if not amount.is_finite():
            self.fail(field, "An amount is a finite number.", Code.INVALID)
        elif amount < 0:
            self.fail(field, "An amount cannot be negative.", Code.OUT_OF_RANGE)
        elif amount > MAX_AMOUNT:
            self.fail(field, f"An amount is at most {MAX_AMOUNT}.", Code.OUT_OF_RANGE)
        elif amount != amount.quantize(Decimal("0.01")):
            self.fail(field, "An amount has at most two decimal places.", Code.INVALID)
        else:
            return amount.quantize(Decimal("0.01"))
        return None

    def currency(self, field: str, value: str | None) -> str | None:
        clean = (value or "").strip().upper()
        if not clean:
            self.fail(field, "A currency is required (ISO 4217 code, e.g. EUR).", Code.REQUIRED)
            return None
        if clean not in CURRENCIES:
            self.fail(field, f"{value[:10]!r} is not an ISO 4217 currency code.", Code.UNKNOWN_CURRENCY)
            return None
        return clean

    def quantity(self, field: str, value: int | None) -> int | None:
        if value is None:
            self.fail(field, "A quantity is required.", Code.REQUIRED)
        elif value <= 0 or value > MAX_QUANTITY:
            self.fail(field, f"A quantity is a whole number from 1 to {MAX_QUANTITY}.", Code.OUT_OF_RANGE)
        else:
            return value
        return None

    def integer(self, field: str, value: int | None, low: int, high: int) -> int | None:
        if value is not None and not low <= value <= high:
            self.fail(field, f"{field} is from {low} to {high}.", Code.OUT_OF_RANGE)
            return None
        return value

    def time_zone(self, field: str, value: str | None, known: frozenset[str], code: str, example: str) -> str | None:
        """An IANA zone that Python and the database both know (`known`: the database's,
        kernel.references.database_zones): windows are cut in Python and in SQL alike."""
        zone = (value or "").strip() if isinstance(value, str) else ""
        try:
            ZoneInfo(zone)
            if zone in known:
                return zone
        except (ZoneInfoNotFoundError, ValueError, OSError):  # "America", a folder of zones, is an OSError
            pass
        self.fail(field, f"{zone[:60]!r} is not an IANA time zone (e.g. {example}).", code)
        return None

    def aware(self, field: str, value: datetime | None) -> datetime | None:
        """Timestamps must say their time zone: a naive one is ambiguous."""
        if value is not None and value.tzinfo is None:
            self.fail(field, "Give the time with its UTC offset, e.g. 2026-01-31T09:00:00+01:00.", Code.INVALID)
            return None
        if value is not None and not 1900 <= value.year <= 9999:
            self.fail(field, "The date is out of range.", Code.OUT_OF_RANGE)
            return None
        return value

    def happened(self, field: str, value: datetime | None, now: datetime, what: str) -> datetime | None:
        """The instant of something that already happened (a payment, a return, an
        order): never in the future, where it would decide tiers and prices ahead of
        time (and block every assessment until then)."""
        if self.aware(field, value) is not None and value > now:
            self.fail(field, f"{what} is for what already happened; leave it out for now.", Code.OUT_OF_RANGE)
            return None
        return value

    def day(self, field: str, value: date | None) -> date | None:
        if value is not None and not 1900 <= value.year <= 9999:
            self.fail(field, "The date is out of range.", Code.OUT_OF_RANGE)
            return None
        return value

    # -- portrait -----------------------------------------------------------------------

    def tags(self, field: str, values: list[str] | None, *, max_count: int = 50, max_len: int = 64) -> list[str]:
        tags: list[str] = []
        for raw in values or []:
            tag = raw.strip() if isinstance(raw, str) else ""
            if not tag or has_control(tag):
                self.fail(field, "Tags are non-empty text without control characters.", Code.INVALID)
                return []
            if len(tag) > max_len:
                self.fail(field, f"A tag has at most {max_len} characters.", Code.TOO_LONG)
                return []
            if tag not in tags:
                tags.append(tag)
        if len(tags) > max_count:
            self.fail(field, f"At most {max_count} tags.", Code.TOO_MANY)
        return tags

    def attributes(self, field: str, values: Any, *, max_keys: int = 50, key_max: int = 64,
                   value_max: int = 1000) -> dict[str, Any]:
        attributes = values if values is not None else {}
        if not isinstance(attributes, dict):
            self.fail(field, "Attributes are a JSON object of named values.", Code.INVALID)
        elif len(attributes) > max_keys:
            self.fail(field, f"At most {max_keys} attributes.", Code.TOO_MANY)
        elif any(not key.strip() or len(key) > key_max for key in attributes):
            self.fail(field, f"Attribute names are 1 to {key_max} characters.", Code.INVALID)
        elif not all(_is_attribute_value(v) for v in attributes.values()):
            self.fail(field, "Attribute values are text, finite numbers, true/false or null.", Code.INVALID)
        elif any(isinstance(v, str) and len(v) > value_max for v in attributes.values()):
            self.fail(field, f"An attribute value has at most {value_max} characters.", Code.TOO_LONG)
        elif has_control(attributes):
            self.fail(field, "Attributes cannot contain control characters.", Code.INVALID)
        else:
            return dict(attributes)
        return {}


def _is_attribute_value(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)  # NaN and Infinity are not JSON
    return value is None or isinstance(value, (str, int, bool))
