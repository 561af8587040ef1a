"""Domain errors: what a caller did wrong, said in plain values (no GraphQL here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field. `code` is a member of the domain's code enum."""

    field: str | None
    message: str
    code: str


class DomainError(Exception):
    """Expected failure of a domain call; nothing was written."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in errors))
        self.errors = errors
