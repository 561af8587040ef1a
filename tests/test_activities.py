"""Activities, commitments and the follow-up inbox."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest

from crm.auth import Principal, Role
from tests.helpers import gid, new_customer, new_opportunity, new_user, ok, refused

LOG = """mutation($input: ActivityLogInput!) { activityLog(input: $input) {
  activity { id kind subject open overdue dueAt doneAt user { id } customer { id } opportunity { id } contact { id } }
  errors { field code } } }"""
COMPLETE = "mutation($id: ID!) { activityComplete(id: $id) { activity { id open doneAt } errors { field code } } }"
INBOX = """query($owner: ID, $before: DateTime) { followUps(ownerId: $owner, dueBefore: $before) {
  totalCount edges { node { subject overdue } } } }"""


def as_user(user_id: str) -> Principal:
    pk = int(base64.b64decode(user_id).decode().split(":")[1])
    return Principal(subject=f"user-{pk}", role=Role.SALES, user_id=pk)


def iso(delta_days: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=delta_days)).isoformat()


async def test_a_call_is_done_when_logged_a_follow_up_stays_open(post_graphql):
    customer = await new_customer(post_graphql)
    call = (await ok(post_graphql, LOG, {"input": {"customerId": customer, "kind": "CALL", "subject": "Intro call"}}, "activityLog"))["activity"]
    assert call["open"] is False and call["doneAt"] is not None
    follow = (await ok(post_graphql, LOG, {"input": {"customerId": customer, "kind": "EMAIL", "subject": "Send prices",
                                                     "dueAt": iso(2)}}, "activityLog"))["activity"]
    assert follow["open"] is True and follow["overdue"] is False
    promise = (await ok(post_graphql, LOG, {"input": {"customerId": customer, "kind": "COMMITMENT", "subject": "Free on-site training"}}, "activityLog"))["activity"]
    assert promise["open"] is True
    done = (await ok(post_graphql, COMPLETE, {"id": follow["id"]}, "activityComplete"))["activity"]
    assert done["open"] is False
    assert await refused(post_graphql, COMPLETE, {"id": follow["id"]}, "activityComplete") == [("id", "NO_CHANGE")]


async def test_open_commitments_of_a_customer_across_all_staff(post_graphql):
    customer = await new_customer(post_graphql)
    ann = as_user(await new_user(post_graphql, "ann@example.com"))
    bob = as_user(await new_user(post_graphql, "bob@example.com"))
    for who, subject in ((ann, "Discount next order"), (bob, "Visit in May"), (bob, "Call back")):
        kind = "COMMITMENT" if subject != "Call back" else "CALL"
        await ok(post_graphql, LOG, {"input": {"customerId": customer, "kind": kind, "subject": subject}}, "activityLog", as_=who)
    query = """query($id: ID!) { customer(id: $id) { activities(filter: {kind: {eq: COMMITMENT}, open: true}) {
      edges { node { subject user { email } } } } } }"""
    result = await post_graphql(query, {"id": customer})
    assert sorted((e["node"]["subject"], e["node"]["user"]["email"]) for e in result.data["customer"]["activities"]["edges"]) == [
        ("Discount next order", "ann@example.com"), ("Visit in May", "bob@example.com")]


async def test_follow_up_inbox_per_owner_soonest_first(post_graphql):
    customer = await new_customer(post_graphql)
    ann = as_user(await new_user(post_graphql, "ann@example.com"))
    bob = as_user(await new_user(post_graphql, "bob@example.com"))
    for who, subject, due in ((ann, "late", -1), (ann, "soon", 1), (ann, "later", 10), (bob, "bob's", 1)):
        await ok(post_graphql, LOG, {"input": {"customerId": customer, "kind": "CALL", "subject": subject, "dueAt": iso(due)}}, "activityLog", as_=who)
    ann_id = gid("User", ann.user_id)
    result = await post_graphql(INBOX, {"owner": ann_id})
    assert [(e["node"]["subject"], e["node"]["overdue"]) for e in result.data["followUps"]["edges"]] == [
        ("late", True), ("soon", False), ("later", False)]
    due_soon = await post_graphql(INBOX, {"owner": ann_id, "before": iso(5)})
    assert due_soon.data["followUps"]["totalCount"] == 2
    everyone = await post_graphql(INBOX, {})
    assert everyone.data["followUps"]["totalCount"] == 4
    assert (await post_graphql(INBOX, {"owner": "bad"})).error_codes == ["INVALID_ID"]


@pytest.mark.parametrize(
    ("extra", "field", "code"),
    [
        ({"subject": ""}, "subject", "REQUIRED"),
        ({"subject": "x" * 301}, "subject", "TOO_LONG"),
        ({"dueAt": "2026-01-01T10:00:00"}, "dueAt", "INVALID"),  # no UTC offset
        ({"customerId": gid("Customer", 77777)}, "customerId", "NOT_FOUND"),
        ({"opportunityId": gid("Opportunity", 77777)}, "opportunityId", "NOT_FOUND"),
        ({"contactId": "junk"}, "contactId", "INVALID"),
    ],
)
async def test_log_refuses_bad_input(post_graphql, extra, field, code):
    customer = await new_customer(post_graphql)
    assert await refused(post_graphql, LOG, {"input": {"customerId": customer, "kind": "NOTE", "subject": "s", **extra}},
                         "activityLog") == [(field, code)]
    assert (await post_graphql("{ activities { totalCount } }")).data["activities"]["totalCount"] == 0


async def test_deal_and_contact_must_belong_to_the_customer(post_graphql):
    mine = await new_customer(post_graphql, "Mine")
    other = await new_customer(post_graphql, "Other")
    deal = await new_opportunity(post_graphql, other)
    contact = (await ok(post_graphql, "mutation($i: ContactCreateInput!) { contactCreate(input: $i) { contact { id } errors { code } } }",
                        {"i": {"customerId": other, "name": "Olga"}}, "contactCreate"))["contact"]["id"]
    assert await refused(post_graphql, LOG, {"input": {"customerId": mine, "kind": "NOTE", "subject": "s", "opportunityId": deal}},
                         "activityLog") == [("opportunityId", "MISMATCHED_CUSTOMER")]
    assert await refused(post_graphql, LOG, {"input": {"customerId": mine, "kind": "NOTE", "subject": "s", "contactId": contact}},
                         "activityLog") == [("contactId", "MISMATCHED_CUSTOMER")]
    logged = await ok(post_graphql, LOG, {"input": {"customerId": other, "kind": "MEETING", "subject": "s",
                                                    "opportunityId": deal, "contactId": contact}}, "activityLog")
    assert logged["activity"]["opportunity"] == {"id": deal} and logged["activity"]["contact"] == {"id": contact}


CONSENT_CASES = [
    # (consent withdrawn, kind, refused?)
    ({"doNotContact": True}, "VISIT", True),
    ({"doNotContact": True}, "MEETING", True),
    ({"doNotContact": True}, "NOTE", False),  # a note reaches no one
    ({"doNotContact": True}, "COMMITMENT", False),
    ({"emailOptOut": True}, "EMAIL", True),
    ({"emailOptOut": True}, "CALL", False),
    ({"phoneOptOut": True}, "CALL", True),
    ({"phoneOptOut": True}, "SMS", False),
    ({"smsOptOut": True}, "SMS", True),
    ({"smsOptOut": True}, "EMAIL", False),
]


@pytest.mark.parametrize(("consent", "kind", "refuse"), CONSENT_CASES)
async def test_outbound_activities_honour_withdrawn_consent_of_customer_and_contact(post_graphql, consent, kind, refuse):
    """The `contactable` rule decides: an outbound activity with a customer, or a contact
    of it, who withdrew that consent is refused and nothing is written; an inbound one
    (the customer called) is logged. Having no address for a medium refuses nothing:
    the activity records what was done."""
    withdrawn = await new_customer(post_graphql, "Withdrawn", consent=consent)
    willing = await new_customer(post_graphql, "Willing")
    contact = (await ok(post_graphql, """mutation($i: ContactCreateInput!) { contactCreate(input: $i) { contact { id } errors { code } } }""",
                        {"i": {"customerId": willing, "name": "Pat", "consent": consent}}, "contactCreate"))["contact"]["id"]
    activities = "query($id: ID!) { customer(id: $id) { activities { totalCount } } }"
    for target, field in (({"customerId": withdrawn}, "customerId"), ({"customerId": willing, "contactId": contact}, "contactId")):
        outbound = {"input": {**target, "kind": kind, "subject": "Reach out"}}
        if refuse:
            assert await refused(post_graphql, LOG, outbound, "activityLog") == [(field, "CONSENT_WITHDRAWN")]
            assert (await post_graphql(activities, {"id": target["customerId"]})).data["customer"]["activities"]["totalCount"] == 0
        else:
            await ok(post_graphql, LOG, outbound, "activityLog")
        inbound = await ok(post_graphql, LOG.replace("kind subject", "kind inbound subject"),
                           {"input": {**outbound["input"], "inbound": True}}, "activityLog")
        assert inbound["activity"]["inbound"] is True
    # Consent given back: outbound again.
    await ok(post_graphql, """mutation($id: ID!) { customerUpdate(id: $id, input: {consent: {doNotContact: false, emailOptOut: false,
        phoneOptOut: false, smsOptOut: false}}) { customer { id } errors { code } } }""", {"id": withdrawn}, "customerUpdate")
    await ok(post_graphql, LOG, {"input": {"customerId": withdrawn, "kind": kind, "subject": "Welcome back"}}, "activityLog")
