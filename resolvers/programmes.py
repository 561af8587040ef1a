"""The programmes domain's Query/Mutation bodies; its types are in schema/programmes.py."""

from __future__ import annotations

from datetime import datetime, timezone

import strawberry
from strawberry.types import Info

from kernel.errors import Code, DomainError
from resolvers.errors import ApiError, ErrorCode
from resolvers.mutations import mutate
from resolvers.ids import decode_id, from_global_id
from schema.common import Money, camel, gid, given, payload_errors
from schema.permissions import Admins, AnyRole, Managers, guarded_field, guarded_mutation
from schema.programmes import (
    AssessmentResult, RiskCheckResult, ProgrammeCreateInput, ProgrammeError, ProgrammeErrorCode, ProgrammePayload, ProgrammePreview,
    ProgrammeType, ProgrammeUpdateInput, RuleVersionDeletePayload, RuleVersionPayload, RuleVersionType, TierInput, TierMove,
)
from tiers import assessment, preview as previews, programmes as service
from tiers.risk import check_programme
from tiers.rules import TierRule, benefit_rule


def _tiers(tiers: list[TierInput]) -> list[TierRule]:
    if len(tiers) > 20:
        raise DomainError.one("tiers", "At most 20 tiers.", Code.TOO_MANY)
    return [TierRule(rank=t.rank, code=t.code, name=t.name, entry_fee=t.entry_fee, discount_rate=t.discount_rate,
                     training_quota=t.training_quota, promotion_threshold=t.promotion_threshold,
                     retention_threshold=t.retention_threshold,
                     extra_benefits=tuple(benefit_rule(b.name, b.quantity, b.code) for b in t.extra_benefits)) for t in tiers]


def _programme_payload(row, errors) -> ProgrammePayload:
    return ProgrammePayload(programme=ProgrammeType.from_row(row) if row else None,
                            errors=payload_errors(errors, ProgrammeError, ProgrammeErrorCode))


def _version_payload(row, errors) -> RuleVersionPayload:
    return RuleVersionPayload(version=RuleVersionType.from_row(row) if row else None,
                              errors=payload_errors(errors, ProgrammeError, ProgrammeErrorCode))


@strawberry.type
class ProgrammeQueries:
    @guarded_field(description="Every live programme, by name; archived ones too with `includeArchived: true`.",
                   permissions=[AnyRole])
    async def programmes(self, info: Info, include_archived: bool = False) -> list[ProgrammeType]:
        async with info.context.database.session() as session:
            rows = await service.all_programmes(session, archived=include_archived)
        return [ProgrammeType.from_row(r) for r in rows]

    @guarded_field(description="What a rule version (typically a draft) would do to every member at `asOf` (default "
                   "now): who moves up, down, stays, and the change in discount cost. Writes nothing.",
                   permissions=[Managers])
    async def programme_preview(self, info: Info, version_id: strawberry.ID, as_of: datetime | None = None) -> ProgrammePreview:
        _, pk = from_global_id(version_id, expected_type="RuleVersion")
        now = datetime.now(timezone.utc)
        async with info.context.database.session() as session:
            try:
                result = await previews.preview(session, pk, as_of or now)
            except DomainError as error:
                first = error.errors[0]
                raise ApiError(ErrorCode.BAD_USER_INPUT, first.message, argument=camel(first.field or "")) from None
        up = sum(n for a, b, n in result.moves if b > a)
        down = sum(n for a, b, n in result.moves if b < a)
        same = sum(n for a, b, n in result.moves if b == a)
        return ProgrammePreview(moving_up=up, moving_down=down, staying=same,
                                moves=[TierMove(from_rank=a, to_rank=b, members=n) for a, b, n in result.moves],
                                discount_cost_change=Money.of(result.discount_cost_change, result.currency),
                                _version_id=pk, _as_of=as_of or now)


@strawberry.type
class ProgrammeMutations:
    @guarded_mutation(description="Create a grade programme (it has no tiers until a rule version is published).",
                      idempotent=True, permissions=[Admins])
    async def programme_create(self, info: Info, input: ProgrammeCreateInput) -> ProgrammePayload:
        values = {k: getattr(v, "value", v) for k, v in vars(input).items()}
        return _programme_payload(*await mutate(info.context, lambda s: service.create_programme(s, values)))

    @guarded_mutation(description="Change a programme's name or description (the fields given).", permissions=[Admins])
    async def programme_update(self, info: Info, id: strawberry.ID, input: ProgrammeUpdateInput) -> ProgrammePayload:
        async def action(session):
            return await service.update_programme(session, decode_id(id, "Programme", "id"), given(input))
        return _programme_payload(*await mutate(info.context, action))

    @guarded_mutation(description="Archive a programme: it stays readable with its members and history, leaves the "
                      "default `programmes` list and refuses enrolments and fees (ARCHIVED).", permissions=[Admins])
    async def programme_archive(self, info: Info, id: strawberry.ID) -> ProgrammePayload:
        async def action(session):
            return await service.archive_programme(session, decode_id(id, "Programme", "id"), archive=True)
        return _programme_payload(*await mutate(info.context, action))

    @guarded_mutation(description="Restore an archived programme.", permissions=[Admins])
    async def programme_restore(self, info: Info, id: strawberry.ID) -> ProgrammePayload:
        async def action(session):
            return await service.archive_programme(session, decode_id(id, "Programme", "id"), archive=False)
        return _programme_payload(*await mutate(info.context, action))

    @guarded_mutation(description="Delete a draft rule version and its tiers. A published version is refused "
                      "(VERSION_PUBLISHED): members' history refers to it.", permissions=[Admins])
    async def rule_version_delete(self, info: Info, id: strawberry.ID) -> RuleVersionDeletePayload:
        async def action(session):
            return await service.delete_draft(session, decode_id(id, "RuleVersion", "id"))
        row, errors = await mutate(info.context, action)
        return RuleVersionDeletePayload(deleted_id=gid("RuleVersion", row.id) if row else None,
                                        errors=payload_errors(errors, ProgrammeError, ProgrammeErrorCode))

    @guarded_mutation(description="Create a draft rule version with its tiers. Refused: ranks or codes not unique, "
                      "thresholds not increasing with rank, retention above promotion, a discount outside [0, 1), "
                      "negative fees or quotas.", idempotent=True, permissions=[Admins])
    async def rule_version_create(self, info: Info, programme_id: strawberry.ID, tiers: list[TierInput]) -> RuleVersionPayload:
        async def action(session):
            return await service.create_draft(session, decode_id(programme_id, "Programme", "programme_id"), _tiers(tiers))
        return _version_payload(*await mutate(info.context, action))

    @guarded_mutation(description="Replace the tiers of a draft; a published version is never edited.", permissions=[Admins])
    async def rule_version_update(self, info: Info, id: strawberry.ID, tiers: list[TierInput]) -> RuleVersionPayload:
        async def action(session):
            return await service.update_draft(session, decode_id(id, "RuleVersion", "id"), _tiers(tiers))
        return _version_payload(*await mutate(info.context, action))

    @guarded_mutation(description="Publish a draft from `effectiveFrom` on, which must be later than every published "
                      "version's (effective dates never overlap) and not before the members' history (tier changes, "
                      "qualifying volume, orders): what was decided under the old rules stays as it was "
                      "(OUT_OF_RANGE).", permissions=[Admins])
    async def rule_version_publish(self, info: Info, id: strawberry.ID, effective_from: datetime) -> RuleVersionPayload:
        async def action(session):
            return await service.publish(session, decode_id(id, "RuleVersion", "id"), effective_from)
        return _version_payload(*await mutate(info.context, action))

    @guarded_mutation(description="Assess every member of a programme at `asOf` (default now) over the last closed "
                      "period: promotions, demotions (soft landing), lapsed fee terms and overrides. Idempotent.",
                      permissions=[Admins])
    async def tier_assess(self, info: Info, programme_id: strawberry.ID, as_of: datetime | None = None) -> AssessmentResult:
        try:
            pk = decode_id(programme_id, "Programme", "programme_id")
            run = await assessment.assess_programme(info.context.database.session, pk, as_of or datetime.now(timezone.utc),
                                                    risk=info.context.risk_rule)
        except DomainError as error:
            return AssessmentResult(members=0, promoted=0, demoted=0, expired=0, at_risk=0, rule_version_id=None,
                                    errors=payload_errors(error.errors, ProgrammeError, ProgrammeErrorCode))
        return AssessmentResult(members=run.members, promoted=run.promoted, demoted=run.demoted, expired=run.expired,
                                at_risk=run.at_risk, rule_version_id=gid("RuleVersion", run.rule_version_id), errors=[])

    @guarded_mutation(description="Tell every member of a programme whose tier is at risk at `asOf` (default now): "
                      "the open period ends within the deployment's days (CRM_RISK_DAYS, default 30) and its volume is "
                      "below its share (CRM_RISK_SHARE_PERCENT, default 100) of the earned tier's retention threshold. "
                      "Emits tier.at_risk at most once per member and period, so it is safe to repeat or schedule "
                      "(`crm check-risk`); tierAssess runs it too.", permissions=[Admins])
    async def tier_risk_check(self, info: Info, programme_id: strawberry.ID,
                              as_of: datetime | None = None) -> RiskCheckResult:
        try:
            pk = decode_id(programme_id, "Programme", "programme_id")
            told = await check_programme(info.context.database.session, pk, as_of or datetime.now(timezone.utc),
                                         info.context.risk_rule)
        except DomainError as error:
            return RiskCheckResult(at_risk=0, errors=payload_errors(error.errors, ProgrammeError, ProgrammeErrorCode))
        return RiskCheckResult(at_risk=told, errors=[])
