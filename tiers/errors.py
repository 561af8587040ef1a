"""Error codes of the grade programme domain."""

from kernel.errors import domain_codes

ProgrammeErrorCode = domain_codes(
    "ProgrammeErrorCode", "duplicate", "duplicate_rank", "duplicate_code", "retention_above_promotion",
    "thresholds_not_increasing", "version_published", "overlapping_effective_date", "unknown_time_zone",
)
MembershipErrorCode = domain_codes(
    "MembershipErrorCode", "not_a_partner", "fee_too_low", "no_rules_in_force", "unknown_tier", "currency_mismatch",
    "quota_exhausted", "too_late", "already_refunded", "not_a_member",
    "unknown_benefit",
    "credited",
)
