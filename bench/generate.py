"""The benchmark data set, deterministic from a seed, loaded with COPY.

Defaults (the data set of issues [5/6] and [6/6]): 100,000 customers with two contacts
each, one or two opportunities with their stage history, three activities, 500,000
orders of four lines (2,000,000 order lines), one programme with the worked example's
tiers (B and A agents, calendar year in Europe/Berlin) and 20,000 members with ten
qualifying ledger entries each. `--members` and `--ledger` scale the programme up to
1,000,000 members and 10,000,000 entries (customers grow to at least the members: a
member of an agent programme is a partner customer).

Every value comes from `random.Random(seed)` and fixed dates, so two runs with the same
arguments load the same rows. Rows are written as PostgreSQL's COPY text format and
streamed with asyncpg's `copy_to_table`; foreign-key triggers are off for the loading
session only (`session_replication_role = replica`) because the generator writes
parents before children and its keys are consistent by construction.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

import asyncpg

UTC = timezone.utc
# The data set's "today": orders and activities lie in the two years before it, the
# programme's ledger in 2025 and 2026. Fixed, so the data does not depend on the day.
DATA_END = datetime(2026, 7, 1, tzinfo=UTC)
DATA_START = DATA_END - timedelta(days=730)
# A bulk assessment at this instant assesses calendar 2025 (Europe/Berlin).
ASSESS_AS_OF = datetime(2026, 2, 1, tzinfo=UTC)
PROGRAMME_NAME = "Bench agents"

SALES_USERS = 20
CHANNELS = [("Direct sales", "direct"), ("Website", "web"), ("Trade fair", "event"), ("LinkedIn", "social"),
            ("Newsletter", "email"), ("Inbound phone", "phone"), ("Partner referral", "partner"), ("Webinar", "event")]
PRODUCTS = 200
TAGS = ["retail", "wholesale", "vip", "export", "public-sector", "startup", "enterprise", "smb"]
WORDS = ["Alpha", "Nordic", "Blue", "Summit", "Harbor", "Pioneer", "Atlas", "Cedar", "Vertex", "Orbit",
         "Granite", "Lumen", "Maple", "Quartz", "Rapid", "Silver", "Tandem", "Union", "Willow", "Zenith"]
SUFFIXES = ["Trading", "GmbH", "Ltd", "Systems", "Foods", "Logistics", "Labs", "Retail", "Partners", "Works"]
CLASSIFICATIONS = ["potential", "target", "customer", "customer", "customer", "non_target"]
STAGES = ["lead", "qualified", "proposal", "negotiation", "won", "lost"]
PROBABILITY = {"lead": 10, "qualified": 25, "proposal": 50, "negotiation": 75, "won": 100, "lost": 0}
ACTIVITY_KINDS = ["call", "visit", "email", "meeting", "note", "commitment"]
# The worked example's tiers (issue [3/6]): fee, discount, quota, promotion, retention.
TIERS = [(1, "B", "B-level agent", "300000.00", "0.1000", 2, "500000.00", "300000.00"),
         (2, "A", "A-level agent", "500000.00", "0.2000", 10, "1000000.00", "800000.00")]


@dataclass(frozen=True)
class Shape:
    customers: int = 100_000
    orders: int = 500_000
    lines_per_order: int = 4
    members: int = 20_000
    ledger: int = 200_000
    partner_users: int = 1_000
    seed: int = 20261123
    # False: only what a bulk assessment reads (accounts, the programme, its members and
    # ledger), for the assessment's own database of a million members.
    crm: bool = True

    def normalised(self) -> Shape:
        customers = max(self.customers, self.members, 10)
        return Shape(customers=customers, orders=self.orders if self.crm else 0, lines_per_order=self.lines_per_order,
                     members=min(self.members, customers), ledger=self.ledger,
                     partner_users=min(self.partner_users, self.members), seed=self.seed, crm=self.crm)

    @property
    def partners(self) -> int:
        """Partner customers: the members, and at least 2% of all customers."""
        return max(self.members, self.customers // 50)


def _ts(moment: datetime) -> str:
    return moment.isoformat()


def _null(value: object) -> str:
    return "\\N" if value is None else str(value)


def _instant(rng: random.Random, start: datetime = DATA_START, end: datetime = DATA_END) -> datetime:
    seconds = int((end - start).total_seconds())
    return start + timedelta(seconds=rng.randrange(seconds))


class Generator:
    """Rows of each table as COPY text lines; one Random per table so that changing the
    size of one table does not change the rows of another."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.product_prices = [round(50 + random.Random(shape.seed + i).random() * 4950, 2) for i in range(1, PRODUCTS + 1)]
        self.first_sales_user = 4  # 1 admin, 2 managers, then the sales users

    def rng(self, table: str) -> random.Random:
        return random.Random(f"{self.shape.seed}:{table}")

    def app_users(self) -> Iterator[str]:
        yield f"1\tadmin@bench.example\tBench Admin\tadmin\t\\N\t{_ts(DATA_START)}\n"
        yield f"2\tmanager1@bench.example\tManager One\tmanager\t\\N\t{_ts(DATA_START)}\n"
        yield f"3\tmanager2@bench.example\tManager Two\tmanager\t\\N\t{_ts(DATA_START)}\n"
        for i in range(SALES_USERS):
            yield f"{self.first_sales_user + i}\tsales{i + 1}@bench.example\tSales {i + 1}\tsales\t\\N\t{_ts(DATA_START)}\n"
        first = self.first_sales_user + SALES_USERS
        for i in range(self.shape.partner_users):
            yield f"{first + i}\tpartner{i + 1}@bench.example\tPartner user {i + 1}\tpartner\t{i + 1}\t{_ts(DATA_START)}\n"

    def partner_user_id(self, account_id: int) -> int:
        return self.first_sales_user + SALES_USERS + account_id - 1

    def channels(self) -> Iterator[str]:
        for i, (name, kind) in enumerate(CHANNELS, start=1):
            yield f"{i}\t{name}\t{kind}\t{_ts(DATA_START)}\n"

    def channel_spend(self) -> Iterator[str]:
        rng = self.rng("channel_spend")
        row = 0
        for channel in range(1, len(CHANNELS) + 1):
            if CHANNELS[channel - 1][1] == "direct":
                continue  # no spend recorded: channelPerformance answers null with a reason
            month = DATA_START.date().replace(day=1)
            while month < DATA_END.date():
                following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
                row += 1
                yield f"{row}\t{channel}\t{month}\t{following}\t{rng.randrange(1000, 20000)}.00\tEUR\n"
                month = following

    def products(self) -> Iterator[str]:
        for i in range(1, PRODUCTS + 1):
            yield f"{i}\tSKU-{i:05d}\tProduct {i} {WORDS[i % len(WORDS)]}\t{self.product_prices[i - 1]:.2f}\tEUR\t{_ts(DATA_START)}\n"

    def customers(self) -> Iterator[str]:
        rng = self.rng("customer")
        shape = self.shape
        for i in range(1, shape.customers + 1):
            partner = i <= shape.partners
            kind = "organisation" if partner or rng.random() < 0.7 else "person"
            classification = "partner" if partner else rng.choice(CLASSIFICATIONS)
            stage = rng.choice(["lead", "prospect", "opportunity", "customer", "loyal", "churned"])
            name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(SUFFIXES)} {i}"
            tags = "{" + ",".join(sorted(rng.sample(TAGS, rng.randrange(0, 3)))) + "}"
            created = _instant(rng)
            owner = self.first_sales_user + rng.randrange(SALES_USERS)
            channel = rng.randrange(1, len(CHANNELS) + 1)
            referrer = rng.randrange(1, shape.partners + 1) if not partner and rng.random() < 0.1 else None
            yield (f"{i}\t{name}\t{kind}\t{classification}\t{stage}\tcustomer{i}@bench.example\t+49 30 {i:08d}\t{tags}\t"
                   f"{_ts(created)}\t{_ts(created)}\t{owner}\t{channel}\t{_null(referrer)}\n")

    def contacts(self) -> Iterator[str]:
        rng = self.rng("contact")
        row = 0
        for customer in range(1, self.shape.customers + 1):
            for n in range(2):
                row += 1
                title = rng.choice(["Purchasing", "CEO", "CFO", "Operations", "IT"])
                yield f"{row}\t{customer}\tContact {n + 1} of {customer}\t{title}\tc{row}@bench.example\t\\N\t{_ts(DATA_START)}\n"

    def opportunities(self) -> tuple[list[str], list[str]]:
        rng = self.rng("opportunity")
        opportunities: list[str] = []
        changes: list[str] = []
        for customer in range(1, self.shape.customers + 1):
            for _ in range(1 + (customer % 2)):
                oid = len(opportunities) + 1
                stage_index = rng.randrange(len(STAGES))
                stage = STAGES[stage_index]
                created = _instant(rng)
                close = (created + timedelta(days=rng.randrange(10, 120))).date()
                amount = rng.randrange(1000, 100000)
                lost = "Price" if stage == "lost" else None
                path = STAGES[: min(stage_index, 3) + 1] + ([stage] if stage_index > 3 else [])
                at = created
                previous = None
                for step in path:
                    changes.append(f"{len(changes) + 1}\t{oid}\t{_null(previous)}\t{step}\t{PROBABILITY[step]}\t{_ts(at)}\n")
                    previous = step
                    at += timedelta(days=rng.randrange(1, 20))
                owner = self.first_sales_user + rng.randrange(SALES_USERS)
                opportunities.append(
                    f"{oid}\t{customer}\tDeal {oid}\t{amount}.00\tEUR\t{stage}\t{PROBABILITY[stage]}\t{close}\t{owner}\t"
                    f"{rng.randrange(1, len(CHANNELS) + 1)}\t{_null(lost)}\t{_ts(at)}\t{_ts(created)}\t{_ts(at)}\n")
        return opportunities, changes

    def activities(self) -> Iterator[str]:
        rng = self.rng("activity")
        row = 0
        for customer in range(1, self.shape.customers + 1):
            for _ in range(3):
                row += 1
                kind = rng.choice(ACTIVITY_KINDS)
                at = _instant(rng)
                due = _ts(at + timedelta(days=7)) if kind == "commitment" else "\\N"
                done = _ts(at + timedelta(days=3)) if kind == "commitment" and rng.random() < 0.5 else "\\N"
                user = self.first_sales_user + rng.randrange(SALES_USERS)
                yield f"{row}\t{customer}\t{kind}\t{kind.title()} {row}\t{_ts(at)}\t{due}\t{done}\t{user}\t{_ts(at)}\n"

    def orders_and_lines(self) -> tuple[list[str], list[str]]:
        rng = self.rng("order")
        shape = self.shape
        orders: list[str] = []
        lines: list[str] = []
        line_id = 0
        for oid in range(1, shape.orders + 1):
            customer = rng.randrange(1, shape.customers + 1)
            placed = _instant(rng)
            roll = rng.random()
            status = "paid" if roll < 0.85 else "placed" if roll < 0.95 else "cancelled"
            total = 0
            for _ in range(shape.lines_per_order):
                line_id += 1
                product = rng.randrange(1, PRODUCTS + 1)
                quantity = rng.randrange(1, 10)
                cents = round(self.product_prices[product - 1] * 100)
                total += cents * quantity
                price = f"{cents // 100}.{cents % 100:02d}"
                line_total = cents * quantity
                lines.append(f"{line_id}\t{oid}\t{product}\t{quantity}\tEUR\t{price}\t0.0000\t{price}\t"
                             f"{line_total // 100}.{line_total % 100:02d}\n")
            paid = _ts(placed + timedelta(hours=2)) if status == "paid" else "\\N"
            cancelled = _ts(placed + timedelta(days=1)) if status == "cancelled" else "\\N"
            orders.append(f"{oid}\t{customer}\t{status}\tEUR\t{total // 100}.{total % 100:02d}\tbench\tB-{oid}\t"
                          f"{_ts(placed)}\t{paid}\t{cancelled}\t{_ts(placed)}\t{_ts(placed)}\n")
        return orders, lines

    def programme_rows(self) -> dict[str, list[str]]:
        effective = datetime(2020, 1, 1, tzinfo=UTC)
        tiers = [f"{rank}\t1\t{rank}\t{code}\t{name}\t{fee}\t{rate}\t{quota}\t{promotion}\t{retention}\n"
                 for rank, code, name, fee, rate, quota, promotion, retention in TIERS]
        return {
            "programme": [f"1\t{PROGRAMME_NAME}\tagent\tEUR\tEurope/Berlin\tcalendar_year\t\\N\t12\tat_period_end\t1\t0\n"],
            "rule_version": [f"1\t1\t1\tpublished\t{_ts(effective)}\t{_ts(effective)}\n"],
            "tier": tiers,
        }

    def memberships(self) -> tuple[list[str], list[str], list[str]]:
        """Members joined in 2024 and were last assessed for 2024; a third hold a tier by
        fee until the end of 2025, a third earned B or A for 2025. Each member with a tier
        has the history row that says so (the earned tier at an instant is read from
        history, not from the membership's cache), marked so reset_programme keeps it."""
        rng = self.rng("membership")
        assessed = datetime(2024, 12, 31, 23, 0, tzinfo=UTC)  # 2025-01-01 00:00 in Berlin
        members: list[str] = []
        fees: list[str] = []
        changes: list[str] = []
        for mid in range(1, self.shape.members + 1):
            joined = _instant(rng, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 12, 1, tzinfo=UTC))
            roll = mid % 3
            earned = rng.randrange(1, 3) if roll == 1 else 0
            earned_until = _ts(datetime(2025, 12, 31, 23, 0, tzinfo=UTC)) if earned else "\\N"
            fee_rank = rng.randrange(1, 3) if roll == 2 else 0
            tier_rank = max(earned, fee_rank)
            members.append(f"{mid}\t{mid}\t1\t{_ts(joined)}\t{earned}\t{earned_until}\t{tier_rank}\t{_ts(assessed)}\t{_ts(joined)}\n")
            if fee_rank:
                fee = TIERS[fee_rank - 1][3]
                fees.append(f"{len(fees) + 1}\t{mid}\t{fee_rank}\t{fee}\tEUR\t{_ts(joined)}\t{_ts(joined + timedelta(days=365))}\n")
            if tier_rank:
                reason, at = ("promoted", assessed) if earned else ("fee_paid", joined)
                changes.append(f"{len(changes) + 1}\t{mid}\t0\t{tier_rank}\t{reason}\t{{\"bench\": true, \"earned_rank\": {earned}}}"
                               f"\t{_ts(at)}\t{earned}\t{earned_until}\n")
        return members, fees, changes

    def ledger(self) -> Iterator[str]:
        """Qualifying entries spread over members and over 2025 and the first half of 2026:
        amounts are drawn so that some members pass B's and A's thresholds."""
        rng = self.rng("qualifying_entry")
        members = self.shape.members
        if not members:
            return
        per_member = max(1, self.shape.ledger // members)
        start, end = datetime(2025, 1, 1, tzinfo=UTC), DATA_END
        for eid in range(1, self.shape.ledger + 1):
            member = (eid - 1) // per_member + 1 if eid <= per_member * members else rng.randrange(1, members + 1)
            scale = (member * 7919) % 5  # member-level appetite: 0 (small) .. 4 (large)
            amount = rng.randrange(100, 1000 + scale * 60000)
            yield f"{eid}\t{member}\t{amount}.00\t{_ts(_instant(rng, start, end))}\tbench:{eid}\n"


COLUMNS = {
    "app_user": "id, email, name, role, partner_account_id, created_at",
    "channel": "id, name, kind, created_at",
    "channel_spend": "id, channel_id, period_start, period_end, amount, currency",
    "product": "id, sku, name, list_price, currency, created_at",
    "customer": ("id, name, kind, classification, lifecycle_stage, email, phone, tags, created_at, updated_at, owner_id, "
                 "source_channel_id, referring_partner_id"),
    "contact": "id, customer_id, name, title, email, phone, created_at",
    "opportunity": ("id, customer_id, name, amount, currency, stage, probability, expected_close, owner_id, channel_id, "
                    "lost_reason, stage_changed_at, created_at, updated_at"),
    "opportunity_stage_change": "id, opportunity_id, from_stage, to_stage, probability, changed_at",
    "activity": "id, customer_id, kind, subject, occurred_at, due_at, done_at, user_id, created_at",
    "sales_order": ("id, customer_id, status, currency, total, source, external_reference, placed_at, paid_at, "
                    "cancelled_at, created_at, updated_at"),
    "order_line": "id, order_id, product_id, quantity, currency, list_unit_price, discount_rate, net_unit_price, line_total",
    "programme": ("id, name, kind, currency, time_zone, window_kind, window_months, fee_term_months, demotion_policy, "
                  "max_drop, grace_days"),
    "rule_version": "id, programme_id, number, status, effective_from, published_at",
    "tier": ("id, rule_version_id, rank, code, name, entry_fee, discount_rate, training_quota, promotion_threshold, "
             "retention_threshold"),
    "membership": "id, account_id, programme_id, joined_at, earned_rank, earned_until, tier_rank, assessed_through, created_at",
    "fee_payment": "id, membership_id, tier_rank, amount, currency, term_start, term_end",
    "tier_change": "id, membership_id, from_rank, to_rank, reason, explanation, at, earned_rank, earned_until",
    "qualifying_entry": "id, membership_id, amount, occurred_at, source",
}
# Tables emptied before loading, children first.
TABLES = ["qualifying_entry", "fee_payment", "tier_change", "tier_override", "benefit_usage", "training_booking",
          "benefit_grant", "membership", "tier", "rule_version", "programme", "order_return_line", "order_return",
          "order_line", "sales_order", "activity", "opportunity_stage_change", "deal_registration", "opportunity",
          "contact", "customer_merge", "segment", "api_key", "auth_session", "login_attempt", "app_user",
          "channel_spend", "webhook_attempt", "webhook_delivery", "webhook_endpoint", "customer", "channel", "product"]


async def _copy(connection: asyncpg.Connection, table: str, rows, chunk: int = 50_000) -> int:
    count = 0

    async def source():
        nonlocal count
        buffer: list[str] = []
        for row in rows:
            buffer.append(row)
            if len(buffer) >= chunk:
                count += len(buffer)
                yield "".join(buffer).encode()
                buffer = []
        if buffer:
            count += len(buffer)
            yield "".join(buffer).encode()

    columns = [c.strip() for c in COLUMNS[table].split(",")]
    await connection.copy_to_table(table, source=source(), columns=columns, format="text")
    return count


async def load(dsn: str, shape: Shape, *, log=print) -> dict[str, int]:
    """Empties the CRM tables and loads the data set; returns rows per table."""
    shape = shape.normalised()
    generator = Generator(shape)
    connection = await asyncpg.connect(dsn)
    counts: dict[str, int] = {}
    try:
        await connection.execute("SET session_replication_role = replica")
        await connection.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
        opportunities, changes = generator.opportunities() if shape.crm else ([], [])
        plan = [("app_user", generator.app_users()), ("channel", generator.channels()),
                ("channel_spend", generator.channel_spend()), ("product", generator.products()),
                ("customer", generator.customers())]
        if shape.crm:
            plan += [("contact", generator.contacts()), ("opportunity", opportunities),
                     ("opportunity_stage_change", changes), ("activity", generator.activities())]
        for table, rows in plan:
            started = time.monotonic()
            counts[table] = await _copy(connection, table, rows)
            log(f"  {table}: {counts[table]:,} rows in {time.monotonic() - started:.1f} s")
        del opportunities, changes
        orders, lines = generator.orders_and_lines()
        programme = generator.programme_rows()
        members, fees, tier_changes = generator.memberships()
        for table, rows in [("sales_order", orders), ("order_line", lines), *programme.items(),
                            ("membership", members), ("fee_payment", fees), ("tier_change", tier_changes),
                            ("qualifying_entry", generator.ledger())]:
            started = time.monotonic()
            counts[table] = await _copy(connection, table, rows)
            log(f"  {table}: {counts[table]:,} rows in {time.monotonic() - started:.1f} s")
        # The sequences continue after the loaded ids, so the API can insert.
        for table in COLUMNS:
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), greatest((SELECT max(id) FROM {table}), 1))")
        await connection.execute("RESET session_replication_role")
        # What an assessment changes is put back from this copy before each timed run.
        await connection.execute("DROP TABLE IF EXISTS bench_membership_snapshot")
        await connection.execute("""CREATE TABLE bench_membership_snapshot AS
            SELECT id, earned_rank, earned_until, tier_rank, assessed_through FROM membership""")
        await connection.execute("CREATE TABLE IF NOT EXISTS bench_meta (shape jsonb NOT NULL)")
        await connection.execute("TRUNCATE bench_meta")
        await connection.execute("INSERT INTO bench_meta VALUES ($1::jsonb)", json.dumps(asdict(shape)))
        started = time.monotonic()
        await connection.execute("VACUUM (ANALYZE)")
        log(f"  vacuum analyze in {time.monotonic() - started:.1f} s")
    finally:
        await connection.close()
    return counts


async def loaded_shape(dsn: str) -> Shape | None:
    """The shape of the data set in the database, or None when none was loaded."""
    connection = await asyncpg.connect(dsn)
    try:
        if not await connection.fetchval("SELECT to_regclass('bench_meta') IS NOT NULL"):
            return None
        raw = await connection.fetchval("SELECT shape FROM bench_meta")
        return Shape(**json.loads(raw)) if raw else None
    finally:
        await connection.close()


def shape_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, default=Shape.customers, help="customers (default %(default)s)")
    parser.add_argument("--orders", type=int, default=Shape.orders, help="orders of four lines (default %(default)s)")
    parser.add_argument("--members", type=int, default=Shape.members, help="programme members (up to 1,000,000)")
    parser.add_argument("--ledger", type=int, default=Shape.ledger, help="qualifying ledger entries (up to 10,000,000)")
    parser.add_argument("--seed", type=int, default=Shape.seed)


def shape_from(args: argparse.Namespace) -> Shape:
    return Shape(customers=args.customers, orders=args.orders, members=args.members, ledger=args.ledger,
                 seed=args.seed).normalised()


def main() -> None:
    parser = argparse.ArgumentParser(description="Load the benchmark data set into DSN (a libpq URL).")
    parser.add_argument("dsn")
    shape_arguments(parser)
    args = parser.parse_args()
    started = time.monotonic()
    counts = asyncio.run(load(args.dsn, shape_from(args)))
    print(f"loaded {sum(counts.values()):,} rows in {time.monotonic() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
