"""Demo data for `crm serve --demo`: a small, believable book of customers."""

from __future__ import annotations

from sqlalchemy import func, select

from crm.customers import CustomerData, create_customer
from models import Customer, CustomerClassification, CustomerKind, Database, LifecycleStage

C, S = CustomerClassification, LifecycleStage

DEMO_CUSTOMERS = [
    ("Northwind Traders", C.PARTNER, S.LOYAL, "sales@northwind.example", ["wholesale", "a-level"], {"industry": "distribution", "region": "north"}),
    ("Contoso Retail", C.PARTNER, S.CUSTOMER, "buying@contoso.example", ["retail", "b-level"], {"industry": "retail", "region": "south"}),
    ("Fabrikam Works", C.CUSTOMER, S.CUSTOMER, "office@fabrikam.example", ["manufacturing"], {"industry": "manufacturing", "team_size": 240}),
    ("Tailspin Toys", C.CUSTOMER, S.LOYAL, "hello@tailspin.example", ["retail", "toys"], {"industry": "retail", "revenue_band": "10-50M"}),
    ("Adventure Works", C.TARGET, S.OPPORTUNITY, "bikes@adventure.example", ["sports"], {"industry": "sports", "region": "west"}),
    ("Wide World Importers", C.TARGET, S.PROSPECT, "import@wideworld.example", ["import", "wholesale"], {"industry": "distribution"}),
    ("Litware Inc.", C.POTENTIAL, S.LEAD, None, ["software"], {"industry": "software", "budget_band": "small"}),
    ("Proseware Labs", C.POTENTIAL, S.LEAD, "info@proseware.example", [], {}),
    ("Coho Winery", C.CUSTOMER, S.CHURNED, "cellar@coho.example", ["food-and-drink"], {"industry": "food"}),
    ("Lucerne Publishing", C.NON_TARGET, S.LEAD, None, [], {"industry": "media"}),
    ("Alpine Ski House", C.PARTNER, S.CUSTOMER, "shop@alpineski.example", ["sports", "b-level"], {"region": "mountains"}),
    ("Blue Yonder Airlines", C.TARGET, S.OPPORTUNITY, "procurement@blueyonder.example", ["travel"], {"industry": "travel", "revenue_band": "100M+"}),
]


async def seed_demo_data(database: Database) -> int:
    """Loads the demo customers into an empty database; returns how many it added."""
    async with database.session() as session, session.begin():
        if (await session.execute(select(func.count()).select_from(Customer))).scalar_one():
            return 0
        for name, classification, stage, email, tags, attributes in DEMO_CUSTOMERS:
            await create_customer(session, CustomerData(
                name=name, kind=CustomerKind.ORGANISATION, classification=classification,
                lifecycle_stage=stage, email=email, tags=tags, attributes=attributes,
            ))
        await create_customer(session, CustomerData(
            name="Ana Trujillo", kind=CustomerKind.PERSON, classification=C.CUSTOMER,
            lifecycle_stage=S.CUSTOMER, email="ana.trujillo@example.com", phone="+34 91 555 0100",
        ))
    return len(DEMO_CUSTOMERS) + 1
