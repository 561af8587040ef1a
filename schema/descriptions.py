"""Descriptions of arguments and enum values, kept in one place and written into the
built schema (so schema.graphql and introspection carry them). Types and fields are
described where they are declared."""

from __future__ import annotations

from graphql import GraphQLEnumType, GraphQLInterfaceType, GraphQLObjectType, GraphQLSchema

ARGUMENTS = {
    "first": "Page size, paging forwards: 0 to 100 (default 20 when neither first nor last is given).",
    "after": "Cursor to page forwards from: a previous page's endCursor.",
    "last": "Page size, paging backwards: 0 to 100; not together with first.",
    "before": "Cursor to page backwards from: a previous page's startCursor.",
    "filter": "Which items; all given conditions must hold.",
    "orderBy": "Ordering keys, most significant first; the id breaks ties.",
    "id": "Global ID of the object.",
    "input": "The values; see the input type.",
    "allowDuplicate": "true: keep the customer even when its email, phone or tax ID matches a live customer's.",
    "intoId": "The customer that remains.",
    "fromId": "The customer merged away.",
    "stage": "The stage to move to.",
    "lostReason": "Why the deal was lost; required when moving to LOST.",
    "probability": "Win probability 0 to 100; default: the new stage's.",
    "by": "A medium; absent: any medium.",
    "ownerId": "Only this user's (follow-ups, deals); absent: everyone's.",
    "dueBefore": "Only follow-ups due before this time.",
    "lines": "The lines and quantities to return; absent: everything not yet returned.",
    "reason": "Why the goods came back.",
    "doneAt": "When it was completed; default now.",
    "returnedAt": "When the goods came back, for imports (give the UTC offset); default now.",
    "paidAt": ("When it was paid, for imports (give the UTC offset; not before it was placed nor in the future, "
               "OUT_OF_RANGE); default now. Its volume counts from that instant."),
    "programmeId": "Global ID of the programme.",
    "accountId": "Global ID of the member account (a customer).",
    "membershipId": "Global ID of the membership.",
    "versionId": "Global ID of the rule version.",
    "asOf": "The instant to assess at (give the UTC offset); default now.",
    "at": "The instant (give the UTC offset); default now.",
    "tiers": "The tiers, 1 to 20.",
    "effectiveFrom": "When the version takes effect; later than every published version's.",
    "amount": "Signed amount in the programme's currency, two decimals at most.",
    "key": "Idempotency key: an adjustment with a key already posted changes nothing.",
    "occurredAt": "When the adjustment counts; default now.",
    "kind": "FLOOR or LOCK.",
    "tierCode": "The tier, by code.",
    "expiresAt": "When it lapses; absent: until revoked.",
    "title": "What the session is.",
    "sessionAt": "When the session takes place (future).",
    "email": "Login email.",
    "from": "Start of the period (inclusive; give the UTC offset).",
    "to": "End of the period (exclusive; give the UTC offset).",
    "currency": "ISO 4217 code: only money in this currency counts.",
    "top": "How many ranked customers to return, 0 to 100.",
    "channelId": "Only deals of this channel.",
    "segmentId": "Global ID of the segment.",
    "customerId": "Global ID of the customer.",
    "opportunityId": "Global ID of one of the customer's deals (optional).",
    "windowMonths": "How many months back the window reaches, 1 to 120.",
    "segment": "Only customers in this segment.",
    "name": "What the key is for.",
    "password": "The password.",
    "refreshToken": "A refresh token from login or an earlier refresh.",
    "role": "The role the key acts with; default the user's.",
    "userId": "Global ID of the user; default the caller.",
    "windowAt": "An instant inside the window to list (give the UTC offset); default the current window.",
    "includeArchived": "true: archived programmes too.",
    "timeZone": "IANA time zone in which a spend record's days begin; default UTC.",
}

COMMON_CODES = {
    "REQUIRED": "A value is missing (or null where it cannot be cleared).",
    "INVALID": "The value is malformed, or an ID is not one of ours or of the wrong type.",
    "TOO_LONG": "Text over the length limit.",
    "TOO_MANY": "Too many items in a list.",
    "OUT_OF_RANGE": "A number outside its range: negative money or quantity, a probability over 100, a date out of range.",
    "UNKNOWN_CURRENCY": "Not an ISO 4217 currency code.",
    "NOT_FOUND": "A well-formed ID of nothing.",
    "ARCHIVED": "The object, or one the input refers to, is archived (or a user deactivated).",
    "NO_CHANGE": "Nothing to do: archiving what is archived, completing what is complete, moving to the current stage.",
    "DUPLICATE": "Another object already has this value; relatedId is that object.",
    "NOT_A_PARTNER": "The customer referred to is not classified PARTNER.",
    "MERGE_INTO_SELF": "A customer cannot be merged into itself.",
    "MERGED": "The customer was merged into another (relatedId) and cannot be restored.",
    "MEMBERSHIP_CONFLICT": "Both customers are members of one grade programme; end one membership first.",
    "OVERLAPPING_PERIOD": "Spend is already recorded for part of the period (relatedId: that record).",
    "NOT_AN_ORGANISATION": "Contacts belong to organisations, not persons.",
    "INVALID_STAGE_MOVE": "The stage move is not allowed (see opportunityMoveStage), or a closed deal's terms were changed.",
    "LOST_REASON_REQUIRED": "Moving to LOST needs a lost reason.",
    "MISMATCHED_CUSTOMER": "The deal or contact belongs to another customer.",
    "INACTIVE_PRODUCT": "The product is inactive or archived (relatedId: the product).",
    "CURRENCY_MISMATCH": "Lines of one order must share one currency.",
    "INVALID_STATUS": "The order's status does not allow this.",
    "NOTHING_TO_RETURN": "Every unit of the order was returned already.",
    "DUPLICATE_RANK": "Two tiers have the same rank.",
    "DUPLICATE_CODE": "Two tiers have the same code.",
    "RETENTION_ABOVE_PROMOTION": "A tier's retention threshold is above its promotion threshold.",
    "THRESHOLDS_NOT_INCREASING": "Thresholds do not increase with rank.",
    "VERSION_PUBLISHED": "A published rule version is never edited.",
    "OVERLAPPING_EFFECTIVE_DATE": "The effective date is not later than every published version's.",
    "UNKNOWN_TIME_ZONE": "Not an IANA time zone.",
    "FEE_TOO_LOW": "The payment is below what is due (the entry fee, less an upgrade's credit); amountDue says how much.",
    "CREDITED": "The fee's unexpired part was credited to an upgrade (relatedId); refund that payment first.",
    "CONSENT_WITHDRAWN": "The customer or contact withdrew consent for this kind of outbound contact; log it inbound or not at all.",
    "NO_RULES_IN_FORCE": "The programme has no published rules in force at that time.",
    "UNKNOWN_TIER": "No tier with this code in the rules in force.",
    "QUOTA_EXHAUSTED": "Not that much of the benefit (training sessions, ...) is left this benefit period.",
    "UNKNOWN_BENEFIT": "The membership has no benefit with this code.",
    "TOO_LATE": "The session has started.",
    "ALREADY_REFUNDED": "The fee was refunded already.",
    "NOT_A_MEMBER": "The account is not a member of the programme.",
    "INVALID_FILTER": "The segment's filter cannot be applied (too deep, too many values, ...).",
    "REGISTERED_BY_ANOTHER_PARTNER": "Another partner holds an unexpired registration on the customer.",
    "OWNED_BY_DIRECT_SALES": "Direct sales works an open deal with the customer (relatedId).",
    "INVALID_CREDENTIALS": "The email or password is not right (which one is not said).",
    "THROTTLED": "Too many failed logins from this email or address; wait a few minutes.",
    "INVALID_TOKEN": "The refresh token is invalid, spent or expired.",
    "WEAK_PASSWORD": "The password is too short, too long or too uniform.",
    "ROLE_NOT_ALLOWED": "A key cannot act with more than its user's role.",
}

ENUM_VALUES = {
    "CustomerKind": {"ORGANISATION": "A company or other organisation; has contacts.", "PERSON": "An individual."},
    "CustomerClassification": {
        "POTENTIAL": "Could become a customer; not yet qualified.",
        "TARGET": "In the market we go after.",
        "CUSTOMER": "Buys from us.",
        "PARTNER": "Sells for us (an agent or member of a grade programme).",
        "NON_TARGET": "Outside the market we go after.",
    },
    "LifecycleStage": {
        "LEAD": "Known, not yet engaged.",
        "PROSPECT": "Engaged, interest shown.",
        "OPPORTUNITY": "A concrete deal is open.",
        "CUSTOMER": "Has bought.",
        "LOYAL": "Buys repeatedly.",
        "CHURNED": "Stopped buying.",
    },
    "OpportunityStage": {
        "LEAD": "Open: a possible deal (default probability 10%).",
        "QUALIFIED": "Open: need, budget and decision maker confirmed (25%).",
        "PROPOSAL": "Open: an offer was made (50%).",
        "NEGOTIATION": "Open: terms under discussion (75%).",
        "WON": "Closed: the customer bought (100%). Final.",
        "LOST": "Closed: the customer did not buy (0%); may be reopened to LEAD or QUALIFIED.",
    },
    "ActivityKind": {
        "CALL": "A phone call.", "VISIT": "A visit.", "EMAIL": "An email.", "SMS": "A text message.", "MEETING": "A meeting.",
        "NOTE": "A note for the record.", "COMMITMENT": "A promise made to the customer; open until kept.",
    },
    "OrderStatus": {
        "PLACED": "Placed, not paid.", "PAID": "Paid; returns apply to it.",
        "CANCELLED": "Cancelled before payment.", "RETURNED": "Paid, then every unit returned.",
    },
    "ChannelKind": {
        "DIRECT": "Direct sales.", "WEB": "Website.", "EVENT": "Fairs and events.", "SOCIAL": "Social media.",
        "EMAIL": "Email campaigns.", "PHONE": "Phone campaigns.", "PARTNER": "Channel partners.",
    },
    "UserRole": {
        "ADMIN": "Everything, including programme rules, users and keys.",
        "MANAGER": "All CRM data; assessment previews.",
        "SALES": "Reads customers; writes what it owns.",
        "PARTNER": "Only its own partner account.",
    },
    "OrderDirection": {"ASC": "Ascending.", "DESC": "Descending."},
    "ContactMedium": {"EMAIL": "Email.", "PHONE": "Phone calls.", "SMS": "Text messages."},
    "DuplicateReason": {"EMAIL": "Same email.", "PHONE": "Same phone digits.", "TAX_ID": "Same tax ID."},
    "ProgrammeKind": {"AGENT": "Channel partners (agents); members must be classified PARTNER.", "MEMBER": "Any customer."},
    "WindowKind": {"CALENDAR_YEAR": "Calendar years in the programme's time zone.",
                   "ANNIVERSARY": "Years from each member's joining date.",
                   "ROLLING_MONTHS": "Each month looks back over the last N months."},
    "DemotionPolicy": {"NEVER": "Earned tiers are never lost.", "AT_PERIOD_END": "Assessed at period end, with soft landing."},
    "BenefitPeriodKind": {"MEMBERSHIP_YEAR": "Years from each member's joining date (the default).",
                          "CALENDAR_YEAR": "Calendar years in the programme's time zone."},
    "RuleVersionStatus": {"DRAFT": "Editable, not in force.", "PUBLISHED": "Immutable, in force from its effective date."},
    "TierChangeReason": {"FEE_PAID": "An entry fee was paid.", "PROMOTED": "Volume reached a promotion threshold.",
                         "DEMOTED": "A closed window missed the retention threshold.", "OVERRIDE": "A manual floor or lock.",
                         "EXPIRED": "A fee term or override lapsed (the explanation's `lapsed` lists which).",
                         "REFUND": "An entry fee was refunded.",
                         "EARNED": "The tier earned by volume changed (up or down; `earnedRank` and the explanation's "
                                   "`earned_before` say from what to what) while the tier in force did not: a fee "
                                   "term or floor holds it.",
                         "PROMOTION_UNDONE": "A return or cancellation left a promotion's window below its threshold."},
    "OverrideKind": {"FLOOR": "At least this tier.", "LOCK": "Exactly this tier."},
    "QualifyingEntryKind": {"ORDER": "A placed order: adds its net total.", "RETURN": "Goods returned: subtracts their value.",
                            "CANCELLATION": "An order cancelled: subtracts its total.",
                            "ADJUSTMENT": "An admin's correction, signed, with a reason.",
                            "OTHER": "A source this server does not know."},
    "RfmSegment": {
        "IMPORTANT_VALUE": "High recency, frequency and monetary: the best customers.",
        "IMPORTANT_DEVELOP": "Recent and big-spending, not frequent: develop frequency.",
        "IMPORTANT_RETAIN": "Frequent and big-spending, not recent: win back before they go.",
        "IMPORTANT_RECALL": "Big-spending only: recall them.",
        "GENERAL_VALUE": "Recent and frequent, small spend.",
        "GENERAL_DEVELOP": "Recent only.",
        "GENERAL_RETAIN": "Frequent only.",
        "GENERAL_RECALL": "Low on all three.",
    },
}


def describe(schema: GraphQLSchema) -> None:
    """Fills in argument and enum value descriptions that declarations left empty."""
    for name, gql_type in schema.type_map.items():
        if name.startswith("__"):
            continue
        if isinstance(gql_type, (GraphQLObjectType, GraphQLInterfaceType)):
            for field in gql_type.fields.values():
                for arg_name, arg in field.args.items():
                    if not arg.description:
                        arg.description = ARGUMENTS.get(arg_name)
        elif isinstance(gql_type, GraphQLEnumType):
            docs = ENUM_VALUES.get(name, {})
            for value_name, value in gql_type.values.items():
                if value.description:
                    continue
                if name.endswith("ErrorCode"):
                    value.description = COMMON_CODES.get(value_name)
                elif name.endswith("OrderField"):
                    value.description = f"By {value_name.lower().replace('_', ' ')}."
                else:
                    value.description = docs.get(value_name)


def describe_row_scopes(schema: GraphQLSchema, scopes: dict) -> None:
    """Says on each fetchable type which of its objects a partner reads, from the row
    scopes themselves (resolvers/scoping.ROW_SCOPES), so the schema cannot claim other."""
    for type_name, scope in scopes.items():
        gql_type = schema.type_map[type_name]
        if scope.partner is None:
            note = "Partners read none of these (staff only)."
        elif scope.shared:
            note = f"Partners: {scope.shared}"
        else:
            note = "Partners read only their own account's."
        gql_type.description = f"{gql_type.description}\n\n{note}" if gql_type.description else note
