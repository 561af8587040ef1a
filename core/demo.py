"""Demo data for `crm serve --demo`: a small, believable book of business."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import func, select

from crm import activities, channels, contacts, identity, opportunities, orders, products, users
from tiers import membership, programmes
from tiers.programmes import tier_from_input
from crm.customers import CustomerData, create_customer
from models import (
    ActivityKind, ChannelKind, Customer, CustomerClassification, CustomerKind, Database, LifecycleStage,
    OpportunityStage, User, UserRole,
)

C, S = CustomerClassification, LifecycleStage
DEMO_ADMIN_EMAIL = "admin@demo.example"
DEMO_PARTNER_EMAIL = "nora@northwind.example"
DEMO_ADMIN_PASSWORD = "demo-admin-password"  # demo mode only, printed at start

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
    """Loads the demo data into an empty database; returns how many customers it added."""
    async with database.session() as session, session.begin():
        if (await session.execute(select(func.count()).select_from(Customer))).scalar_one():
            return 0
        admin = await users.create_user(session, email=DEMO_ADMIN_EMAIL, name="Demo Admin", role=UserRole.ADMIN)
        await identity.set_password(session, admin.id, DEMO_ADMIN_PASSWORD)
        mia = await users.create_user(session, email="mia@demo.example", name="Mia Manager", role=UserRole.MANAGER)
        sam = await users.create_user(session, email="sam@demo.example", name="Sam Sales", role=UserRole.SALES)
        web = await channels.create_channel(session, name="Website", kind=ChannelKind.WEB)
        fair = await channels.create_channel(session, name="Trade fair", kind=ChannelKind.EVENT)
        await channels.record_spend(session, channel_id=web.id, period_start=datetime(2026, 1, 1).date(),
                                    period_end=datetime(2026, 7, 1).date(), amount=Decimal("12000.00"), currency="EUR",
                                    actor_id=admin.id)
        customers = []
        for i, (name, classification, stage, email, tags, attributes) in enumerate(DEMO_CUSTOMERS):
            customers.append(await create_customer(session, CustomerData(
                name=name, kind=CustomerKind.ORGANISATION, classification=classification, lifecycle_stage=stage,
                email=email, tags=tags, attributes=attributes, owner_id=(sam, mia)[i % 2].id,
                source_channel_id=(web, fair)[i % 2].id,
                # a lead Northwind brought in, free for Nora to register a deal on
                referring_partner_id=customers[0].id if name == "Lucerne Publishing" else None,
            )))
        await create_customer(session, CustomerData(
            name="Ana Trujillo", kind=CustomerKind.PERSON, classification=C.CUSTOMER, lifecycle_stage=S.CUSTOMER,
            email="ana.trujillo@example.com", phone="+34 91 555 0100", referring_partner_id=customers[0].id,
        ))
        await users.create_user(session, email=DEMO_PARTNER_EMAIL, name="Nora Northwind",
                                role=UserRole.PARTNER, partner_account_id=customers[0].id)
        # The worked example's programme, in euros: Northwind paid B's fee in January.
        programme = await programmes.create_programme(session, {
            "name": "Agents", "kind": "agent", "currency": "EUR", "time_zone": "Europe/Berlin",
            "window_kind": "calendar_year", "fee_term_months": 12, "demotion_policy": "at_period_end", "max_drop": 1})
        version = await programmes.create_draft(session, programme.id, [
            tier_from_input({"rank": 1, "code": "B", "name": "B-level agent", "entry_fee": "300000", "discount_rate": "0.10",
                             "training_quota": 2, "promotion_threshold": "500000", "retention_threshold": "300000"}),
            tier_from_input({"rank": 2, "code": "A", "name": "A-level agent", "entry_fee": "500000", "discount_rate": "0.20",
                             "training_quota": 10, "promotion_threshold": "1000000", "retention_threshold": "800000",
                             "extra_benefits": [{"name": "Co-marketing fund days", "quantity": 4}]}),
        ])
        year_start = datetime(datetime.now(timezone.utc).year, 1, 1, tzinfo=timezone.utc)
        await programmes.publish(session, version.id, year_start - timedelta(days=365))
        await membership.enroll(session, account_id=customers[0].id, programme_id=programme.id, tier_code="B",
                                amount=Decimal("300000.00"), currency="EUR",
                                at=min(year_start + timedelta(days=9), datetime.now(timezone.utc) - timedelta(hours=1)),
                                actor_id=admin.id)
        kit = await products.create_product(session, {"sku": "KIT-STD", "name": "Standard kit", "list_price": Decimal("1200.00"), "currency": "EUR"})
        service = await products.create_product(session, {"sku": "SVC-DAY", "name": "Service day", "list_price": Decimal("850.00"), "currency": "EUR"})
        for customer in customers[:6]:
            await contacts.create_contact(session, customer.id, {"name": f"Buyer at {customer.name.split()[0]}",
                                                                 "title": "Purchasing", "email": customer.email})
        for customer, stage, amount in zip(customers[2:8], list(OpportunityStage)[:4] * 2, (5000, 18000, 7500, 42000, 3100, 9900)):
            await opportunities.create_opportunity(session, customer.id, {"name": f"{customer.name.split()[0]} renewal",
                                                                          "amount": Decimal(amount), "currency": "EUR",
                                                                          "owner_id": customer.owner_id},
                                                   stage=stage, actor_id=admin.id)
        now = datetime.now(timezone.utc)
        await activities.log_activity(session, customer_id=customers[2].id, kind=ActivityKind.CALL, subject="Quarterly check-in",
                                      actor_id=sam.id)
        await activities.log_activity(session, customer_id=customers[2].id, kind=ActivityKind.COMMITMENT,
                                      subject="Two free training days this year", due_at=now + timedelta(days=60), actor_id=mia.id)
        await activities.log_activity(session, customer_id=customers[4].id, kind=ActivityKind.EMAIL, subject="Send revised offer",
                                      due_at=now - timedelta(days=1), actor_id=sam.id)
        for customer in customers[:4]:
            await orders.place_order(session, customer_id=customer.id, paid=True, actor_id=admin.id, lines=[
                orders.LineRequest(kit.id, 2), orders.LineRequest(service.id, 1)])
    return len(DEMO_CUSTOMERS) + 1


async def demo_admin_id(database: Database) -> int | None:
    async with database.session() as session:
        return (await session.execute(select(User.id).where(User.email == DEMO_ADMIN_EMAIL))).scalar_one_or_none()


async def demo_partner(database: Database) -> tuple[int, int] | None:
    """(user id, partner account id) of the demo partner user."""
    async with database.session() as session:
        row = (await session.execute(select(User.id, User.partner_account_id).where(User.email == DEMO_PARTNER_EMAIL))).first()
    return (row.id, row.partner_account_id) if row else None
