"""Programme maintenance (edit, archive, delete a draft), the member's statement of
qualifying entries, and the movers of a preview."""

from __future__ import annotations

import copy
from decimal import Decimal

from crm.auth import Principal, Role
from tests.helpers import gid, new_customer, new_product, ok, refused
from tests.programme_helpers import AGENT_TIERS, agents_programme, enroll
from tests.test_tenant_walk import pk_of

UPDATE = """mutation($id: ID!, $i: ProgrammeUpdateInput!) { programmeUpdate(id: $id, input: $i) {
    programme { id name description } errors { field code } } }"""
ARCHIVE = "mutation($id: ID!) { programmeArchive(id: $id) { programme { id archivedAt } errors { field code } } }"
RESTORE = "mutation($id: ID!) { programmeRestore(id: $id) { programme { id archivedAt } errors { field code } } }"
DELETE = "mutation($id: ID!) { ruleVersionDelete(id: $id) { deletedId errors { field code } } }"
DRAFT = """mutation($p: ID!, $t: [TierInput!]!) { ruleVersionCreate(programmeId: $p, tiers: $t) { version { id } errors { field code } } }"""
ENROLL = """mutation($i: MembershipEnrollInput!) { membershipEnroll(input: $i) { membership { id } errors { field code } } }"""
PLACE = """mutation($i: OrderPlaceInput!) { orderPlace(input: $i) { order { id lines { id } } errors { code } } }"""


def enrolment(account: str, programme: str) -> dict:
    return {"i": {"accountId": account, "programmeId": programme, "tierCode": "B",
                  "feePayment": {"amount": {"amount": "300000", "currency": "CNY"}, "paidAt": "2026-01-05T00:00:00+08:00"}}}


async def test_edit_a_programme_name_and_description(post_graphql):
    setup = await agents_programme(post_graphql)
    programme = setup["programme"]
    other = (await ok(post_graphql, """mutation { programmeCreate(input: {name: "Members", kind: MEMBER, currency: "EUR",
        timeZone: "Europe/Berlin"}) { programme { id } errors { code } } }""", {}, "programmeCreate"))["programme"]["id"]
    edited = await ok(post_graphql, UPDATE, {"id": programme, "i": {"name": "Agents CN", "description": "For resellers"}},
                      "programmeUpdate")
    assert edited["programme"] == {"id": programme, "name": "Agents CN", "description": "For resellers"}
    # Only what is given changes; a null description clears it.
    assert (await ok(post_graphql, UPDATE, {"id": programme, "i": {"description": None}}, "programmeUpdate"))["programme"] == {
        "id": programme, "name": "Agents CN", "description": None}
    assert await refused(post_graphql, UPDATE, {"id": other, "i": {"name": "agents cn"}}, "programmeUpdate") == [("name", "DUPLICATE")]
    assert await refused(post_graphql, UPDATE, {"id": other, "i": {"name": " "}}, "programmeUpdate") == [("name", "REQUIRED")]
    assert await refused(post_graphql, UPDATE, {"id": other, "i": {}}, "programmeUpdate") == [(None, "REQUIRED")]
    assert await refused(post_graphql, UPDATE, {"id": gid("Programme", 99999), "i": {"name": "X"}}, "programmeUpdate") == [
        ("id", "NOT_FOUND")]
    partner = Principal("p", Role.PARTNER, account_id=1)
    for mutation, variables in ((UPDATE, {"id": programme, "i": {"name": "Mine"}}), (ARCHIVE, {"id": programme}),
                                (DELETE, {"id": setup["version"]})):
        assert (await post_graphql(mutation, variables, as_=partner)).error_codes == ["FORBIDDEN"]


async def test_an_archived_programme_is_readable_refuses_enrolments_and_leaves_default_lists(post_graphql):
    setup = await agents_programme(post_graphql, effective_from="2020-01-01T00:00:00+08:00")
    programme = setup["programme"]
    member, newcomer = [await new_customer(post_graphql, name, classification="PARTNER") for name in ("Member", "Newcomer")]
    await enroll(post_graphql, member, programme, "B", "300000", "2026-01-05T00:00:00+08:00")
    archived = await ok(post_graphql, ARCHIVE, {"id": programme}, "programmeArchive")
    assert archived["programme"]["archivedAt"] is not None
    assert await refused(post_graphql, ARCHIVE, {"id": programme}, "programmeArchive") == [("id", "NO_CHANGE")]
    assert (await post_graphql("{ programmes { id } }")).data["programmes"] == []
    listed = await post_graphql("{ programmes(includeArchived: true) { id archivedAt } }")
    assert [p["id"] for p in listed.data["programmes"]] == [programme]
    # Readable, with its members.
    node = await post_graphql("query($id: ID!) { node(id: $id) { ... on Programme { name archivedAt } } }", {"id": programme})
    assert node.data["node"]["archivedAt"] is not None
    assert (await post_graphql("query($a: ID!) { membership(accountId: $a) { tier { code } } }", {"a": member})).data[
        "membership"] == {"tier": {"code": "B"}}
    assert await refused(post_graphql, ENROLL, enrolment(newcomer, programme), "membershipEnroll") == [("programmeId", "ARCHIVED")]
    assert (await post_graphql("query($a: ID!) { membership(accountId: $a) { id } }", {"a": newcomer})).data["membership"] is None
    await ok(post_graphql, RESTORE, {"id": programme}, "programmeRestore")
    await ok(post_graphql, ENROLL, enrolment(newcomer, programme), "membershipEnroll")
    assert await refused(post_graphql, RESTORE, {"id": programme}, "programmeRestore") == [("id", "NO_CHANGE")]


async def test_delete_a_draft_but_never_a_published_version(post_graphql):
    setup = await agents_programme(post_graphql)
    draft = (await ok(post_graphql, DRAFT, {"p": setup["programme"], "t": AGENT_TIERS}, "ruleVersionCreate"))["version"]["id"]
    assert (await ok(post_graphql, DELETE, {"id": draft}, "ruleVersionDelete"))["deletedId"] == draft
    assert (await post_graphql("query($id: ID!) { node(id: $id) { id } }", {"id": draft})).data["node"] is None
    assert await refused(post_graphql, DELETE, {"id": draft}, "ruleVersionDelete") == [("id", "NOT_FOUND")]
    assert await refused(post_graphql, DELETE, {"id": setup["version"]}, "ruleVersionDelete") == [("id", "VERSION_PUBLISHED")]
    versions = await post_graphql("query($id: ID!) { node(id: $id) { ... on Programme { versions { id status tiers { code } } } } }",
                                  {"id": setup["programme"]})
    assert versions.data["node"]["versions"] == [{"id": setup["version"], "status": "PUBLISHED", "tiers": [{"code": "B"}, {"code": "A"}]}]


STATEMENT = """query($a: ID!, $at: DateTime, $w: DateTime, $n: Int, $after: String) { membership(accountId: $a, at: $at) {
    qualifyingVolume { amount } qualifyingEntries(windowAt: $w, first: $n, after: $after) { totalCount
      pageInfo { hasNextPage endCursor } edges { node { occurredAt amount { amount currency } kind source sourceId reason } } } } }"""


async def _statement(post_graphql, account: str, *, at: str | None = None, window_at: str | None = None, as_=None,
                     page: int = 2) -> tuple[str, list[dict], int]:
    """Every entry, page by page; the volume of the membership at `at`; totalCount."""
    entries, after, kwargs = [], None, {"as_": as_} if as_ else {}
    while True:
        result = await post_graphql(STATEMENT, {"a": account, "at": at, "w": window_at, "n": page, "after": after}, **kwargs)
        assert not result.errors, result.body
        membership = result.data["membership"]
        connection = membership["qualifyingEntries"]
        entries += [edge["node"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return membership["qualifyingVolume"]["amount"], entries, connection["totalCount"]
        after = connection["pageInfo"]["endCursor"]


async def test_the_statement_of_a_window_sums_to_its_qualifying_volume(post_graphql):
    setup = await agents_programme(post_graphql, effective_from="2020-01-01T00:00:00+08:00")
    programme = setup["programme"]
    product = await new_product(post_graphql, "STD", "10000.00", currency="CNY")
    agent, other = [await new_customer(post_graphql, name, classification="PARTNER") for name in ("Agent", "Other")]
    membership = (await enroll(post_graphql, agent, programme, "B", "300000", "2025-01-10T00:00:00+08:00"))["membership"]["id"]
    await enroll(post_graphql, other, programme, "B", "300000", "2025-01-10T00:00:00+08:00")

    def order(placed_at: str, units: int, paid: bool = True) -> dict:
        return {"i": {"customerId": agent, "placedAt": placed_at, "paid": paid,
                      "lines": [{"productId": product, "quantity": units}]}}
    last_year = (await ok(post_graphql, PLACE, order("2025-03-01T10:00:00+08:00", 10), "orderPlace"))["order"]
    returned = (await ok(post_graphql, """mutation($id: ID!, $l: ID!) { orderReturn(id: $id, lines: [{lineId: $l, quantity: 2}],
        returnedAt: "2025-04-01T10:00:00+08:00") { orderReturn { id } errors { code } } }""",
        {"id": last_year["id"], "l": last_year["lines"][0]["id"]}, "orderReturn"))["orderReturn"]["id"]
    # An order at 23:30 on New Year's Eve in Shanghai counts in that year.
    eve = (await ok(post_graphql, PLACE, order("2025-12-31T23:30:00+08:00", 1), "orderPlace"))["order"]["id"]
    this_year = (await ok(post_graphql, PLACE, order("2026-02-01T10:00:00+08:00", 5), "orderPlace"))["order"]["id"]
    cancelled = (await ok(post_graphql, PLACE, order("2026-03-01T10:00:00+08:00", 3, paid=False), "orderPlace"))["order"]["id"]
    await ok(post_graphql, "mutation($id: ID!) { orderCancel(id: $id) { order { id } errors { code } } }", {"id": cancelled}, "orderCancel")
    await ok(post_graphql, """mutation($m: ID!) { qualifyingAdjust(membershipId: $m, amount: "1234.56", reason: "Migrated",
        key: "k1", occurredAt: "2026-05-01T00:00:00+08:00") { membership { id } errors { code } } }""", {"m": membership},
        "qualifyingAdjust")

    # The current window (2026), as of now, paged two at a time. B's fee term ended on
    # 10 January, so 2026's orders were at list price: 5 x 10,000 + 1,234.56.
    volume, entries, total = await _statement(post_graphql, agent)
    assert sum(Decimal(e["amount"]["amount"]) for e in entries) == Decimal(volume) == Decimal("51234.56")
    # The unpaid order never counted (orders count once paid), so its cancellation
    # subtracts nothing either: neither is in the statement.
    assert total == len(entries) == 2
    assert [(e["kind"], e["sourceId"]) for e in entries] == [("ORDER", this_year), ("ADJUSTMENT", None)]
    assert entries[1]["source"] == "adjustment:k1" and entries[1]["reason"] == "Migrated"
    assert [e["occurredAt"] for e in entries] == sorted(e["occurredAt"] for e in entries)

    # A past window, chosen by an instant inside it: all of 2025 in Shanghai.
    volume, entries, total = await _statement(post_graphql, agent, window_at="2025-06-01T00:00:00Z")
    year_end = await post_graphql("query($a: ID!) { membership(accountId: $a, at: \"2025-12-31T23:59:59.999999+08:00\") { qualifyingVolume { amount } } }",
                                  {"a": agent})
    assert sum(Decimal(e["amount"]["amount"]) for e in entries) == Decimal(year_end.data["membership"]["qualifyingVolume"]["amount"])
    assert [(e["kind"], e["sourceId"]) for e in entries] == [("ORDER", last_year["id"]), ("RETURN", returned), ("ORDER", eve)]
    assert sum(Decimal(e["amount"]["amount"]) for e in entries) == Decimal("81000.00")  # 9,000 x (10 - 2 + 1)

    # As of an instant in the past, the default window is that instant's, up to it.
    volume, entries, _ = await _statement(post_graphql, agent, at="2025-03-15T00:00:00+08:00")
    assert Decimal(volume) == sum(Decimal(e["amount"]["amount"]) for e in entries) == Decimal("90000.00")

    # The partner sees its own statement; another partner sees nothing of it.
    own = Principal("agent", Role.PARTNER, account_id=pk_of(agent))
    mine = await post_graphql("{ myMembership { qualifyingVolume { amount } qualifyingEntries { totalCount edges { node { amount { amount } } } } } }",
                              as_=own)
    assert not mine.errors and mine.data["myMembership"]["qualifyingEntries"]["totalCount"] == 2
    stranger = Principal("other", Role.PARTNER, account_id=pk_of(other))
    foreign = await post_graphql(STATEMENT, {"a": agent}, as_=stranger)
    assert not foreign.errors and foreign.data["membership"] is None
    mine = await post_graphql("{ myMembership { qualifyingEntries { totalCount } } }", as_=stranger)
    assert mine.data["myMembership"]["qualifyingEntries"]["totalCount"] == 0
    bad = await post_graphql(STATEMENT, {"a": agent, "w": "2025-06-01T00:00:00"})
    assert bad.error_codes == ["BAD_USER_INPUT"]


MOVERS = """query($v: ID!, $n: Int, $after: String) { programmePreview(versionId: $v, asOf: "2026-01-01T01:00:00+08:00") {
    movingUp movingDown staying movers(first: $n, after: $after) { totalCount pageInfo { hasNextPage endCursor }
      edges { node { membershipId fromRank toRank fromTier { code discountRate } toTier { code discountRate }
                     qualifyingVolume { amount currency } discountRateChange account { name } } } } } }"""


async def test_the_preview_names_who_moves_in_pages_of_constant_statements(post_graphql, count_statements):
    setup = await agents_programme(post_graphql)
    programme = setup["programme"]
    product = await new_product(post_graphql, "BULK", "10000.00", currency="CNY")
    agents = [await new_customer(post_graphql, f"Agent {i}", classification="PARTNER") for i in range(5)]
    memberships = [(await enroll(post_graphql, agent, programme, "B", "300000", "2025-01-10T10:00:00+08:00"))["membership"]["id"]
                   for agent in agents]
    for agent in agents[:4]:  # 60 units at B: 540,000 each; the fifth buys nothing and stays B by fee
        await ok(post_graphql, PLACE, {"i": {"customerId": agent, "placedAt": "2025-03-01T10:00:00+08:00", "paid": True,
                                             "lines": [{"productId": product, "quantity": 60}]}}, "orderPlace")
    tiers = copy.deepcopy(AGENT_TIERS) + [{"rank": 3, "code": "C", "name": "C", "entryFee": "900000", "discountRate": "0.30",
                                           "trainingQuota": 20, "promotionThreshold": "2000000", "retentionThreshold": "900000"}]
    tiers[1].update(promotionThreshold="520000", retentionThreshold="400000")
    tiers[2].update(promotionThreshold="530000", retentionThreshold="500000")
    draft = (await ok(post_graphql, DRAFT, {"p": programme, "t": tiers}, "ruleVersionCreate"))["version"]["id"]

    movers, after, pages = [], None, 0
    while True:
        result = await post_graphql(MOVERS, {"v": draft, "n": 3, "after": after})
        assert not result.errors, result.body
        preview = result.data["programmePreview"]
        movers += [edge["node"] for edge in preview["movers"]["edges"]]
        pages += 1
        if not preview["movers"]["pageInfo"]["hasNextPage"]:
            break
        after = preview["movers"]["pageInfo"]["endCursor"]
    # The counts stay, and the list is who they count.
    assert (preview["movingUp"], preview["movingDown"], preview["staying"]) == (4, 0, 1)
    assert pages == 2 and preview["movers"]["totalCount"] == 4
    assert [m["membershipId"] for m in movers] == memberships[:4]
    assert {m["account"]["name"] for m in movers} == {f"Agent {i}" for i in range(4)}
    for mover in movers:
        assert (mover["fromRank"], mover["toRank"], mover["fromTier"]["code"], mover["toTier"]["code"]) == (1, 3, "B", "C")
        assert mover["qualifyingVolume"] == {"amount": "540000.00", "currency": "CNY"}
        assert Decimal(mover["discountRateChange"]) == Decimal("0.2")
    # Backwards from the end gives the same members.
    backwards = await post_graphql("""query($v: ID!) { programmePreview(versionId: $v, asOf: "2026-01-01T01:00:00+08:00") {
        movers(last: 2) { edges { node { membershipId } } pageInfo { hasPreviousPage } } } }""", {"v": draft})
    assert [e["node"]["membershipId"] for e in backwards.data["programmePreview"]["movers"]["edges"]] == memberships[2:4]
    assert backwards.data["programmePreview"]["movers"]["pageInfo"]["hasPreviousPage"] is True

    counts = []
    for size in (1, 4):
        await post_graphql(MOVERS, {"v": draft, "n": size})  # warm: the rules of a published version are kept
        async with count_statements() as log:
            result = await post_graphql(MOVERS, {"v": draft, "n": size})
        assert len(result.data["programmePreview"]["movers"]["edges"]) == size
        counts.append(len(log))
    assert counts[0] == counts[1], counts
    bad = await post_graphql(MOVERS, {"v": draft, "n": 2, "after": "junk"})
    assert bad.error_codes == ["BAD_USER_INPUT"]
