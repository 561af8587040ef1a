"""Programmes and their rule versions: create, edit drafts, publish, rules in force."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kernel.errors import Code, DomainError
from kernel.references import database_zones, ensure_unique, get_row
from kernel.validation import Checker
from models import (BenefitPeriodKind, DemotionPolicy, Membership, Order, Programme, ProgrammeKind, QualifyingEntry, RuleVersion,
                    RuleVersionStatus, Tier, TierChange, WindowKind)
from tiers.errors import ProgrammeErrorCode
from tiers.rules import ProgrammeRules, Rules, TierRule, benefit_rule, extra_benefits_of, extra_benefits_row, validate_tiers


def _clean_programme(values: Mapping[str, Any], zones: frozenset[str]) -> dict[str, Any]:
    check = Checker()
    clean: dict[str, Any] = {}
    clean["name"] = check.text("name", values.get("name"), max_len=100, required=True)
    clean["description"] = check.text("description", values.get("description"), max_len=2000, multiline=True)
    clean["kind"] = check.choice("kind", values.get("kind"), ProgrammeKind)
    clean["currency"] = check.currency("currency", values.get("currency"))
    clean["time_zone"] = check.time_zone("time_zone", values.get("time_zone"), zones, ProgrammeErrorCode.UNKNOWN_TIME_ZONE,
                                         "Asia/Shanghai")
    clean["window_kind"] = check.choice("window_kind", values.get("window_kind"), WindowKind)
    months = values.get("window_months")
    if clean["window_kind"] == WindowKind.ROLLING_MONTHS:
        if months is None:
            check.fail("window_months", "A rolling window needs its number of months.", Code.REQUIRED)
        clean["window_months"] = check.integer("window_months", months, 1, 36)
    else:
        if months is not None:
            check.fail("window_months", "Only rolling windows have a number of months.", Code.INVALID)
        clean["window_months"] = None
    clean["fee_term_months"] = check.integer("fee_term_months", values.get("fee_term_months", 12), 1, 120)
    clean["demotion_policy"] = check.choice("demotion_policy", values.get("demotion_policy", DemotionPolicy.AT_PERIOD_END), DemotionPolicy)
    clean["max_drop"] = check.integer("max_drop", values.get("max_drop", 1), 0, 100)
    clean["grace_days"] = check.integer("grace_days", values.get("grace_days", 0), 0, 365)
    clean["benefit_period"] = check.choice("benefit_period", values.get("benefit_period", BenefitPeriodKind.MEMBERSHIP_YEAR),
                                           BenefitPeriodKind)
    check.done()
    return clean


async def create_programme(session: AsyncSession, values: Mapping[str, Any]) -> Programme:
    clean = _clean_programme(values, await database_zones(session))
    await ensure_unique(session, Programme, func.lower(Programme.name), clean["name"].lower(), None, field="name",
                        message="Another programme has this name.", code=ProgrammeErrorCode.DUPLICATE)
    programme = Programme(**clean)
    session.add(programme)
    await session.flush()
    return programme


def tier_rules(rows: Sequence[Tier]) -> tuple[TierRule, ...]:
    return tuple(sorted((TierRule(
        rank=t.rank, code=t.code, name=t.name, entry_fee=t.entry_fee, discount_rate=t.discount_rate,
        training_quota=t.training_quota, promotion_threshold=t.promotion_threshold,
        retention_threshold=t.retention_threshold, extra_benefits=extra_benefits_of(t.extra_benefits),
    ) for t in rows), key=lambda t: t.rank))


def _checked_tiers(tiers: list[TierRule]) -> list[TierRule]:
    check = Checker()
    money_fields = ("entry_fee", "promotion_threshold", "retention_threshold")
    for i, tier in enumerate(tiers):
        for name in money_fields:
            check.money(f"tiers.{i}.{name}", getattr(tier, name))
    check.done()
    errors = validate_tiers(tiers)
    if errors:
        raise DomainError(errors)
    return tiers


async def _replace_tiers(session: AsyncSession, version: RuleVersion, tiers: list[TierRule]) -> None:
    await session.execute(delete(Tier).where(Tier.rule_version_id == version.id))
    session.add_all(Tier(
        rule_version_id=version.id, rank=t.rank, code=t.code.strip(), name=t.name.strip(), entry_fee=t.entry_fee,
        discount_rate=t.discount_rate, training_quota=t.training_quota, promotion_threshold=t.promotion_threshold,
        retention_threshold=t.retention_threshold,
        extra_benefits=extra_benefits_row(t.extra_benefits),
    ) for t in tiers)
    await session.flush()


async def create_draft(session: AsyncSession, programme_id: int, tiers: list[TierRule]) -> RuleVersion:
    """A new draft rule version (numbered after the programme's last)."""
    _checked_tiers(tiers)
    programme = await get_row(session, Programme, programme_id, lock=True)
    if programme is None:
        raise DomainError.one("programme_id", "No programme has this ID.", Code.NOT_FOUND)
    number = (await session.execute(
        select(func.coalesce(func.max(RuleVersion.number), 0)).where(RuleVersion.programme_id == programme_id)
    )).scalar_one() + 1
    version = RuleVersion(programme_id=programme_id, number=number, status=RuleVersionStatus.DRAFT.value)
    session.add(version)
    await session.flush()
    await _replace_tiers(session, version, tiers)
    return version


async def _draft(session: AsyncSession, version_id: int) -> RuleVersion:
    version = await get_row(session, RuleVersion, version_id, lock=True)
    if version is None:
        raise DomainError.one("id", "No rule version has this ID.", Code.NOT_FOUND)
    if version.status == RuleVersionStatus.PUBLISHED:
        raise DomainError.one("id", "A published rule version is never edited; create a new draft.",
                              ProgrammeErrorCode.VERSION_PUBLISHED)
    return version


async def update_draft(session: AsyncSession, version_id: int, tiers: list[TierRule]) -> RuleVersion:
    _checked_tiers(tiers)
    version = await _draft(session, version_id)
    await _replace_tiers(session, version, tiers)
    return version


async def publish(session: AsyncSession, version_id: int, effective_from: datetime) -> RuleVersion:
    """Publishes a draft from `effective_from` on. Effective dates only move forward: a
    version starts after every published one, so the rules in force at any instant are
    those of the last version that started at or before it."""
    check = Checker()
    check.aware("effective_from", effective_from)
    check.done()
    version = await _draft(session, version_id)
    # One publisher per programme at a time.
    await get_row(session, Programme, version.programme_id, lock=True)
    latest = (await session.execute(
        select(func.max(RuleVersion.effective_from)).where(
            RuleVersion.programme_id == version.programme_id, RuleVersion.status == RuleVersionStatus.PUBLISHED)
    )).scalar_one()
    if latest is not None and effective_from <= latest:
        raise DomainError.one("effective_from", f"A published version already takes effect on {latest.isoformat()}; "
                              "a new one must start later.", ProgrammeErrorCode.OVERLAPPING_EFFECTIVE_DATE)
    decided = await _decided_through(session, version.programme_id)
    if decided is not None and effective_from < decided:
        # What members were charged, promoted and told under the old rules stays true.
        raise DomainError.one("effective_from", f"The members' history (tier changes, qualifying volume, orders) runs "
                              f"to {decided.isoformat()}; a new version takes effect from then on.", Code.OUT_OF_RANGE)
    version.status = RuleVersionStatus.PUBLISHED.value
    version.effective_from = effective_from
    version.published_at = func.clock_timestamp()  # the instant itself: it also keys published_rules
    await session.flush()
    await session.refresh(version)
    return version


async def _decided_through(session: AsyncSession, programme_id: int) -> datetime | None:
    """The latest instant already decided under the programme's rules: its members'
    latest tier change, qualifying entry or order (priced at the tier then)."""
    members = select(Membership.id).where(Membership.programme_id == programme_id)
    accounts = select(Membership.account_id).where(Membership.programme_id == programme_id)
    return (await session.execute(select(func.greatest(
        select(func.max(TierChange.at)).where(TierChange.membership_id.in_(members)).scalar_subquery(),
        select(func.max(QualifyingEntry.occurred_at)).where(QualifyingEntry.membership_id.in_(members)).scalar_subquery(),
        select(func.max(Order.placed_at)).where(Order.customer_id.in_(accounts)).scalar_subquery(),
    )))).scalar_one()


async def all_programmes(session: AsyncSession, *, archived: bool = False) -> list[Programme]:
    """Programmes by name: live ones, and archived ones too when `archived`."""
    statement = select(Programme).order_by(Programme.name, Programme.id)
    if not archived:
        statement = statement.where(Programme.archived_at.is_(None))
    return list((await session.execute(statement)).scalars())


async def _programme(session: AsyncSession, programme_id: int) -> Programme:
    programme = await get_row(session, Programme, programme_id, lock=True)
    if programme is None:
        raise DomainError.one("id", "No programme has this ID.", Code.NOT_FOUND)
    return programme


async def update_programme(session: AsyncSession, programme_id: int, values: Mapping[str, Any]) -> Programme:
    """A new name and/or description (the keys given; a description of null clears it).
    The rest of a programme decides its members' tiers and stays as created."""
    programme = await _programme(session, programme_id)
    check = Checker()
    clean: dict[str, Any] = {}
    if "name" in values:
        clean["name"] = check.text("name", values["name"], max_len=100, required=True)
    if "description" in values:
        clean["description"] = check.text("description", values["description"], max_len=2000, multiline=True)
    if not clean:
        check.fail(None, "Give a name or a description to change.", Code.REQUIRED)
    check.done()
    if "name" in clean:
        await ensure_unique(session, Programme, func.lower(Programme.name), clean["name"].lower(), programme.id,
                            field="name", message="Another programme has this name.", code=ProgrammeErrorCode.DUPLICATE)
    for key, value in clean.items():
        setattr(programme, key, value)
    await session.flush()
    return programme


async def archive_programme(session: AsyncSession, programme_id: int, *, archive: bool) -> Programme:
    """Archives (or restores) a programme. Archived, it stays readable with its members
    and history, leaves the default lists and takes no fee payments (tiers.membership)."""
    programme = await _programme(session, programme_id)
    if (programme.archived_at is not None) == archive:
        raise DomainError.one("id", "The programme is archived already." if archive else "The programme is not archived.",
                              Code.NO_CHANGE)
    programme.archived_at = func.now() if archive else None
    await session.flush()
    await session.refresh(programme)
    return programme


async def delete_draft(session: AsyncSession, version_id: int) -> RuleVersion:
    """Deletes a draft rule version and its tiers; a published one is refused (members'
    history refers to it). Returns the deleted row, detached."""
    version = await _draft(session, version_id)
    await session.execute(delete(Tier).where(Tier.rule_version_id == version.id))
    await session.delete(version)
    await session.flush()
    return version


async def versions_of(session: AsyncSession, programme_id: int) -> list[RuleVersion]:
    """Every rule version of a programme, newest first."""
    return list((await session.execute(select(RuleVersion).where(RuleVersion.programme_id == programme_id)
                                       .order_by(RuleVersion.number.desc()))).scalars())


async def version_rules(db: AsyncSession | AsyncConnection, version_id: int) -> Rules:
    """The tiers of a version (plain rows: a session or a Core connection will do)."""
    tier = Tier.__table__
    rows = (await db.execute(select(tier).where(tier.c.rule_version_id == version_id))).all()
    return Rules(version_id, tier_rules(rows))


def version_in_force(programme_id: Any, at: datetime) -> Select:
    """The id of the last version published to start at or before `at`."""
    return select(RuleVersion.id).where(
        RuleVersion.programme_id == programme_id, RuleVersion.status == RuleVersionStatus.PUBLISHED,
        RuleVersion.effective_from <= at,
    ).order_by(RuleVersion.effective_from.desc()).limit(1)


async def rules_in_force(session: AsyncSession, programme_id: int, at: datetime) -> Rules | None:
    """The tiers of the last version published to start at or before `at`."""
    version_id = (await session.execute(version_in_force(programme_id, at))).scalar_one_or_none()
    return None if version_id is None else await version_rules(session, version_id)


# A published version is never edited (publish_version, update checks), so its tiers
# can be kept: per database (tests use several), per version id and publication
# instant. The id alone is not enough: a restored or truncated database (RESTART
# IDENTITY) hands the same id to another version, which a running process would
# otherwise price at the old version's tiers.
_published: dict[tuple[str, int, datetime | None], Rules] = {}


async def published_rules(db: AsyncSession | AsyncConnection, version_id: int, published_at: datetime | None) -> Rules:
    """The tiers of a version that `version_in_force` found (so published), published at `published_at`."""
    engine = db.get_bind().engine if isinstance(db, AsyncSession) else db.engine
    key = (str(engine.url), version_id, published_at)
    rules = _published.get(key)
    if rules is None:
        rules = await version_rules(db, version_id)
        if len(_published) > 1024:
            _published.clear()
        _published[key] = rules
    return rules


def programme_rules(programme: Programme) -> ProgrammeRules:
    return ProgrammeRules(
        window_kind=programme.window_kind, time_zone=programme.time_zone, window_months=programme.window_months,
        demotion_policy=programme.demotion_policy, max_drop=programme.max_drop, grace_days=programme.grace_days,
        fee_term_months=programme.fee_term_months,
    )


def tier_from_input(values: Mapping[str, Any]) -> TierRule:
    """A TierRule from plain input values (amounts as Decimals)."""
    return TierRule(
        rank=int(values["rank"]), code=str(values.get("code") or ""), name=str(values.get("name") or ""),
        entry_fee=Decimal(values["entry_fee"]), discount_rate=Decimal(values["discount_rate"]),
        training_quota=int(values["training_quota"]), promotion_threshold=Decimal(values["promotion_threshold"]),
        retention_threshold=Decimal(values["retention_threshold"]),
        extra_benefits=tuple(benefit_rule(b["name"], b["quantity"], b.get("code")) for b in values.get("extra_benefits") or []),
    )

