from __future__ import annotations

from crm import customers as service
from crm.errors import DomainError, FieldError
from crm.pagination import Page, count_rows, fetch_page
from models import Customer
from resolvers.context import Context, DatabaseLoader
from resolvers.node import NODE_LOADERS
from resolvers.pagination import page_arguments


class CustomerByIdLoader(DatabaseLoader):
    async def batch_load_fn(self, ids: list[int]) -> list[Customer | None]:
        async with self.database.session() as session:
            found = await service.customers_by_ids(session, list(ids))
        return [found.get(pk) for pk in ids]


NODE_LOADERS["Customer"] = CustomerByIdLoader


async def customers_page(
    context: Context, *, first: int | None, after: str | None, last: int | None, before: str | None
) -> Page[Customer]:
    ordering = service.CUSTOMER_ORDER_BY_ID
    request = page_arguments(ordering, first=first, after=after, last=last, before=before)
    async with context.database.session() as session:
        page = await fetch_page(session, service.customers_statement(), ordering, request)
    # Rows fetched for a page are primed so node(id:) and nested lookups reuse them.
    loader = context.loader(CustomerByIdLoader)
    for customer in page.rows:
        loader.prime(customer.id, customer)
    return page


async def customers_count(context: Context) -> int:
    async with context.database.session() as session:
        return await count_rows(session, service.customers_statement())


async def customer_create(
    context: Context, data: service.CustomerData
) -> tuple[Customer | None, list[FieldError]]:
    try:
        async with context.database.session() as session, session.begin():
            customer = await service.create_customer(session, data)
    except DomainError as error:
        return None, error.errors
    context.loader(CustomerByIdLoader).prime(customer.id, customer)
    return customer, []
