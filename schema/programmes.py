"""Grade programmes over GraphQL: configuration (programmes, rule versions, tiers),
assessment and preview."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy import literal_column
from strawberry.types import Info

from models import BenefitPeriodKind, DemotionPolicy, ProgrammeKind, RuleVersionStatus, WindowKind
from models import Programme as ProgrammeRow
from models import RuleVersion as RuleVersionRow
from kernel.pagination import Ordering, SortKey, page_from_rows, parse_bigint
from resolvers.pagination import page_arguments
from schema.fields import column, global_id, load_node
from schema.common import Money, gid
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection, page_selected
from schema.errors import error_codes, error_type
from schema.node import NODE_TYPES, Node
from tiers import assessment, preview as previews, programmes as service
from tiers.errors import ProgrammeErrorCode as ProgrammeCodes
from tiers.rules import TierRule

if TYPE_CHECKING:
    from schema.customers import CustomerType

strawberry.enum(ProgrammeKind, description="Agent programme (partners) or member programme (any customer).")
strawberry.enum(WindowKind, description="How qualifying volume is counted.")
strawberry.enum(DemotionPolicy, description="Whether a member can lose an earned tier.")
strawberry.enum(BenefitPeriodKind, description="The span benefit quotas are granted for: MEMBERSHIP_YEAR (years from "
                "the joining date) or CALENDAR_YEAR, in the programme's time zone, whatever the qualification window.")
strawberry.enum(RuleVersionStatus, description="Draft (editable) or published (immutable, dated).")
ProgrammeErrorCode = error_codes(ProgrammeCodes, "programme")
ProgrammeError = error_type("ProgrammeError", ProgrammeErrorCode, "programme")


@strawberry.type(description="A benefit beyond discount and training: a quota per benefit period, used with benefitUse.")
class ExtraBenefit:
    code: str = strawberry.field(description="What benefitUse names it by, e.g. co_marketing_days.")
    name: str = strawberry.field(description="What it is.")
    quantity: int = strawberry.field(description="Units per benefit period.")


@strawberry.type(description="A tier of a rule version. Rank 1 is the lowest.")
class Tier:
    rank: int = strawberry.field(description="1 = lowest; higher is better.")
    code: str = strawberry.field(description="Short code, e.g. A or GOLD.")
    name: str = strawberry.field(description="Display name.")
    entry_fee: Money = strawberry.field(description="Fee that buys the tier for the programme's fee term.")
    discount_rate: Decimal = strawberry.field(description="Discount on list prices, 0 to 1 (0.2 = 20% off).")
    training_quota: int = strawberry.field(description="Training sessions per benefit period (the benefit `training`).")
    promotion_threshold: Money = strawberry.field(description="Qualifying volume in a window that earns the tier.")
    retention_threshold: Money = strawberry.field(description="Qualifying volume in a closed window that keeps it.")
    extra_benefits: list[ExtraBenefit] = strawberry.field(description="Other benefits per benefit period.")

    @classmethod
    def of(cls, tier: TierRule, currency: str) -> Tier:
        return cls(rank=tier.rank, code=tier.code, name=tier.name, entry_fee=Money.of(tier.entry_fee, currency),
                   discount_rate=tier.discount_rate, training_quota=tier.training_quota,
                   promotion_threshold=Money.of(tier.promotion_threshold, currency),
                   retention_threshold=Money.of(tier.retention_threshold, currency),
                   extra_benefits=[ExtraBenefit(code=b.code, name=b.name, quantity=b.quantity)
                                   for b in tier.extra_benefits])


@strawberry.type(name="RuleVersion", description="The tiers of a programme from `effectiveFrom` until the next published version.")
class RuleVersionType(Node):
    id: strawberry.ID = global_id("RuleVersion")
    number: int = column("number", description="1, 2, ... per programme.")
    status: RuleVersionStatus = column("status", description="DRAFT or PUBLISHED.")
    effective_from: datetime | None = column(
        "effective_from", description="When the version takes effect; null for drafts.")
    published_at: datetime | None = column("published_at", description="When it was published.")
    _row: strawberry.Private[RuleVersionRow]

    @strawberry.field(description="The tiers, lowest rank first.")
    async def tiers(self, info: Info) -> list[Tier]:
        async with info.context.database.session() as session:
            rules = await service.version_rules(session, self._row.id)
            programme = await session.get(ProgrammeRow, self._row.programme_id)
        return [Tier.of(t, programme.currency) for t in rules.tiers]


@strawberry.type(description="How qualifying volume is counted.")
class QualificationWindow:
    kind: WindowKind = strawberry.field(description="CALENDAR_YEAR, ANNIVERSARY (years from joining) or ROLLING_MONTHS.")
    months: int | None = strawberry.field(description="For ROLLING_MONTHS: how many months back each month looks.")


@strawberry.type(name="Programme", description="A grade programme: tiers entered by fee, kept and earned by purchase volume.")
class ProgrammeType(Node):
    id: strawberry.ID = global_id("Programme")
    name: str = column("name", description="Unique name.")
    description: str | None = column("description", description="What the programme is for, for people.")
    kind: ProgrammeKind = column("kind", description="AGENT or MEMBER.")
    currency: str = column("currency", description="Currency of fees, thresholds and the purchases that qualify.")
    time_zone: str = column("time_zone", description="IANA time zone in which periods start and end.")
    fee_term_months: int = column("fee_term_months", description="How long a paid entry fee holds its tier.")
    demotion_policy: DemotionPolicy = column("demotion_policy", description="NEVER or AT_PERIOD_END.")
    max_drop: int = column("max_drop", description="Most ranks one assessment may drop a member (soft landing).")
    grace_days: int = column("grace_days", description="Days after a period ends before it is assessed.")
    benefit_period: BenefitPeriodKind = column("benefit_period", description="The span benefit quotas are granted for.")
    created_at: datetime = column("created_at", description="When created.")
    archived_at: datetime | None = column("archived_at", description="When archived (it then takes no enrolments or "
                                          "fees and is left out of `programmes` unless asked); null while live.")
    _row: strawberry.Private[ProgrammeRow]

    @strawberry.field(description="How qualifying volume is counted.")
    def window(self) -> QualificationWindow:
        return QualificationWindow(kind=WindowKind(self._row.window_kind), months=self._row.window_months)

    @strawberry.field(description="Every rule version, newest first.")
    async def versions(self, info: Info) -> list[RuleVersionType]:
        async with info.context.database.session() as session:
            rows = await service.versions_of(session, self._row.id)
        return [RuleVersionType.from_row(r) for r in rows]

    @strawberry.field(description="The published version in force at `at` (default now); null before the first.")
    async def rules_in_force(self, info: Info, at: datetime | None = None) -> RuleVersionType | None:
        async with info.context.database.session() as session:
            version_id = await assessment.version_in_force(session, self._row.id, at or datetime.now(timezone.utc))
            row = await session.get(RuleVersionRow, version_id) if version_id else None
        return RuleVersionType.from_row(row) if row else None


NODE_TYPES["Programme"] = ProgrammeType.from_row
NODE_TYPES["RuleVersion"] = RuleVersionType.from_row


@strawberry.input(description="A new programme.")
class ProgrammeCreateInput:
    name: str = strawberry.field(description="Unique, 1 to 100 characters.")
    description: str | None = strawberry.field(default=None, description="Up to 2,000 characters.")
    kind: ProgrammeKind = strawberry.field(description="AGENT (partners only) or MEMBER.")
    currency: str = strawberry.field(description="ISO 4217 code.")
    time_zone: str = strawberry.field(description="IANA time zone, e.g. Asia/Shanghai.")
    window_kind: WindowKind = strawberry.field(default=WindowKind.CALENDAR_YEAR, description="Default CALENDAR_YEAR.")
    window_months: int | None = strawberry.field(default=None, description="For ROLLING_MONTHS: 1 to 36.")
    fee_term_months: int = strawberry.field(default=12, description="1 to 120; default 12.")
    demotion_policy: DemotionPolicy = strawberry.field(default=DemotionPolicy.AT_PERIOD_END, description="Default AT_PERIOD_END.")
    max_drop: int = strawberry.field(default=1, description="0 to 100; default 1.")
    grace_days: int = strawberry.field(default=0, description="0 to 365; default 0.")
    benefit_period: BenefitPeriodKind = strawberry.field(
        default=BenefitPeriodKind.MEMBERSHIP_YEAR, description="What benefit quotas are granted for; default MEMBERSHIP_YEAR.")


@strawberry.input(description="What to change in a programme: the fields given (a null description clears it).")
class ProgrammeUpdateInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Unique, 1 to 100 characters.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="Up to 2,000 characters; null clears it.")


@strawberry.input(description="An extra benefit of a tier: a quota per benefit period.")
class ExtraBenefitInput:
    name: str = strawberry.field(description="What it is, 1 to 100 characters.")
    quantity: int = strawberry.field(description="Units per benefit period, 0 to 10,000.")
    code: str | None = strawberry.field(default=None, description="What benefitUse names it by: 1 to 40 lower-case "
                                        "letters, digits and _, unique in the tier, not `training`; default: from the "
                                        "name (Co-marketing days: co_marketing_days).")


@strawberry.input(description="One tier of a rule version.")
class TierInput:
    rank: int = strawberry.field(description="1 (lowest) to 100, unique in the version.")
    code: str = strawberry.field(description="Unique in the version, 1 to 20 characters.")
    name: str = strawberry.field(description="Display name.")
    entry_fee: Decimal = strawberry.field(description="Entry fee in the programme's currency.")
    discount_rate: Decimal = strawberry.field(description="0 up to (not including) 1, at most four decimals.")
    training_quota: int = strawberry.field(description="Sessions per period, 0 to 10,000.")
    promotion_threshold: Decimal = strawberry.field(description="Volume that earns the tier; increases with rank.")
    retention_threshold: Decimal = strawberry.field(description="Volume that keeps it; at most the promotion threshold; increases with rank.")
    extra_benefits: list[ExtraBenefitInput] = strawberry.field(default_factory=list, description="Other benefits.")


@strawberry.type(description="Result of programmeCreate.")
class ProgrammePayload:
    programme: ProgrammeType | None = strawberry.field(description="The programme; null when errors is not empty.")
    errors: list[ProgrammeError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="Result of a rule version mutation.")
class RuleVersionPayload:
    version: RuleVersionType | None = strawberry.field(description="The version; null when errors is not empty.")
    errors: list[ProgrammeError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="Result of ruleVersionDelete.")
class RuleVersionDeletePayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="The ID the deleted draft had; null on errors.")
    errors: list[ProgrammeError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="Members moving between two tiers.")
class TierMove:
    from_rank: int = strawberry.field(description="Tier in force now (0: none).")
    to_rank: int = strawberry.field(description="Tier after (0: none).")
    members: int = strawberry.field(description="How many members.")


@strawberry.type(description="A member a rule version would move up or down.")
class PreviewMover:
    membership_id: strawberry.ID = strawberry.field(description="The membership.")
    from_rank: int = strawberry.field(description="Tier in force now (0: none).")
    to_rank: int = strawberry.field(description="Tier after (0: none).")
    from_tier: Tier | None = strawberry.field(description="The tier in force now, in the rules in force at `asOf`.")
    to_tier: Tier | None = strawberry.field(description="The tier after, in the previewed version.")
    qualifying_volume: Money = strawberry.field(description="Volume of the closed window the decision read.")
    discount_rate_change: Decimal = strawberry.field(description="Discount rate after minus now (no tier: 0).")
    _account_id: strawberry.Private[int]

    @strawberry.field(description="The member account.")
    async def account(self, info: Info) -> Annotated["CustomerType", strawberry.lazy("schema.customers")] | None:
        return await load_node(info, "Customer", self._account_id)

    @classmethod
    def of(cls, mover: previews.Mover, page: previews.Movers) -> PreviewMover:
        before = page.rules_now.tier(mover.from_rank) if page.rules_now else None
        after = page.rules_after.tier(mover.to_rank)
        rate = lambda tier: tier.discount_rate if tier else Decimal("0")  # noqa: E731
        return cls(membership_id=gid("Membership", mover.membership_id), from_rank=mover.from_rank, to_rank=mover.to_rank,
                   from_tier=Tier.of(before, page.currency) if before else None,
                   to_tier=Tier.of(after, page.currency) if after else None,
                   qualifying_volume=Money.of(mover.volume, page.currency),
                   discount_rate_change=rate(after) - rate(before), _account_id=mover.account_id)


# Members move in membership id order; a cursor holds the id.
MOVER_ORDERING = Ordering(name="preview_movers", keys=[SortKey(literal_column("id"), parse=parse_bigint)],
                          values_of=lambda mover: [mover.membership_id])


@strawberry.type(description="What a rule version would do to every member, without writing anything.")
class ProgrammePreview:
    moving_up: int = strawberry.field(description="Members whose tier would rise.")
    moving_down: int = strawberry.field(description="Members whose tier would fall.")
    staying: int = strawberry.field(description="Members whose tier would stay.")
    moves: list[TierMove] = strawberry.field(description="Members per (tier now, tier after).")
    discount_cost_change: Money = strawberry.field(description="Change in discount given on the orders of each member's "
                                                   "last closed window, had they been priced at the tier the version gives.")
    _version_id: strawberry.Private[int]
    _as_of: strawberry.Private[datetime]

    @strawberry.field(description="Who moves: the members moving up or down, by membership, with their tiers now and "
                      f"after. One statement a page whatever its size. {PAGE_ARGUMENTS_HELP}")
    async def movers(self, info: Info, first: int | None = None, after: str | None = None, last: int | None = None,
                     before: str | None = None) -> Connection[PreviewMover]:
        request = page_arguments(MOVER_ORDERING, first=first, after=after, last=last, before=before)
        moving = self.moving_up + self.moving_down

        async def total() -> int:
            return moving
        if not page_selected(info):
            return Connection.count_only(total)
        async with info.context.database.read_session() as session:
            page = await previews.preview_movers(
                session, self._version_id, self._as_of, after=request.after[0] if request.after else None,
                before=request.before[0] if request.before else None, limit=request.size + 1, forward=request.forward)
        rows = page_from_rows(page.movers, MOVER_ORDERING, request)
        return Connection.from_page(rows, lambda mover: PreviewMover.of(mover, page), total)


@strawberry.type(description="Result of tierRiskCheck.")
class RiskCheckResult:
    at_risk: int = strawberry.field(description="Members told (tier.at_risk) this time; those told already in the "
                                    "same period are not told again.")
    errors: list[ProgrammeError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="Result of tierAssess.")
class AssessmentResult:
    members: int = strawberry.field(description="Members assessed.")
    promoted: int = strawberry.field(description="Members promoted.")
    demoted: int = strawberry.field(description="Members demoted.")
    expired: int = strawberry.field(description="Members whose fee term or override lapsed.")
    at_risk: int = strawberry.field(description="Members told (tier.at_risk) that the period open at asOf will not "
                                    "keep their earned tier.")
    rule_version_id: strawberry.ID | None = strawberry.field(description="The rule version applied; null if none was in force.")
    errors: list[ProgrammeError] = strawberry.field(description="Empty on success.")


