"""Products: what can be ordered, at which list price."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.archiving import archive, restore
from kernel.errors import domain_codes
from kernel.filtering import FilterField
from kernel.pagination import TEXT_KEY, Sortable, build_ordering
from kernel.references import ensure_unique, live
from kernel.validation import Checker
from models import Product

ProductErrorCode = domain_codes("ProductErrorCode", "duplicate")

FIELDS = ("sku", "name", "list_price", "currency", "active")


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    check = Checker()
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name == "sku":
            clean[name] = check.text("sku", value, max_len=64, required=True, label="SKU")
        elif name == "name":
            clean[name] = check.text("name", value, max_len=200, required=True)
        elif name == "list_price":
            clean[name] = check.money("list_price", value)
        elif name == "currency":
            clean[name] = check.currency("currency", value)
        elif name == "active":
            clean[name] = check.flag("active", value)
    check.done()
    return clean


async def _unique_sku(session: AsyncSession, sku: str, product_id: int | None) -> None:
    await ensure_unique(session, Product, func.upper(Product.sku), sku.upper(), product_id, field="sku",
                        message="Another product has this SKU.", code=ProductErrorCode.DUPLICATE)


async def create_product(session: AsyncSession, data: Mapping[str, Any]) -> Product:
    values = _clean(data)
    await _unique_sku(session, values["sku"], None)
    product = Product(**values)
    session.add(product)
    await session.flush()
    return product


async def update_product(session: AsyncSession, product_id: int, changes: Mapping[str, Any]) -> Product:
    """Changing a list price never touches placed orders: their lines keep the price they had."""
    product = await live(session, Product, product_id, "id", "product", lock=True)
    values = _clean(changes)
    if "sku" in values:
        await _unique_sku(session, values["sku"], product_id)
    for name, value in values.items():
        setattr(product, name, value)
    await session.flush()
    return product


async def archive_product(session: AsyncSession, product_id: int) -> Product:
    return await archive(session, Product, product_id, "product")


async def restore_product(session: AsyncSession, product_id: int) -> Product:
    return await restore(session, Product, product_id, "product")


FILTER_FIELDS = {
    "sku": FilterField(Product.sku, "text"),
    "name": FilterField(Product.name, "text"),  # ix_product_name_id
    "active": FilterField(Product.active, "bool"),
    "currency": FilterField(Product.currency, "text"),
}
FILTER_SPECIAL = {"archived": lambda v: Product.archived_at.is_not(None) if v else Product.archived_at.is_(None)}
SORTABLE = {"name": Sortable(Product.name, "name", TEXT_KEY)}  # ix_product_name_id


def product_ordering(requested: list[tuple[str, bool]]):
    return build_ordering(SORTABLE, requested, Product.id)


async def products_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, Product]:
    return {p.id: p for p in (await session.execute(select(Product).where(Product.id.in_(ids)))).scalars()}


def products_statement(condition: Any = None, *, include_archived: bool = False) -> Select:
    statement = select(Product)
    if condition is not None:
        statement = statement.where(condition)
    if not include_archived:
        statement = statement.where(Product.archived_at.is_(None))
    return statement
