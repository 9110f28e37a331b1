"""The auditor's reads over real HTTP, on each store: balances now and as of the past, each
equal to a fold of the log; indicators; the log paged and filtered; and no writes."""

from __future__ import annotations

import re
from datetime import timedelta
from uuid import UUID

from api.audit_api import KNOWN_KINDS
from api.routes import ROUTES
from ledger.accounts import account_kind, fold
from tests import helpers

PAGE = 1000


def fold_up_to(api, position: int | None = None) -> dict[str, int]:
    """Every account's balance after the log's events up to `position`, read directly."""
    recorder, mapper = api.vouchers.recorder, api.vouchers.mapper
    events, cursor = [], 0
    while page := recorder.select_notifications(cursor, PAGE, position, inclusive_of_start=False):
        events += [mapper.to_domain_event(n) for n in page]
        cursor = page[-1].id
    return fold(events)


def by_kind(balances: dict[str, int]) -> list[dict[str, object]]:
    totals = dict.fromkeys(KNOWN_KINDS, 0)
    for account, cents in balances.items():
        totals[account_kind(account)] += cents
    return [{"kind": k, "balance_cents": c} for k, c in totals.items()]


async def spend(api, campaign: str) -> None:
    """t1 is topped up by a commune (at DURING) and spends 1990 at a vendor."""
    authority = api.token("authority", "commune-75056")
    top_up = f"/v1/campaigns/{campaign}/teachers/t1/top-ups"
    body = {"amount_cents": 2000, "kind": "commune"}
    assert (await api.call("POST", top_up, authority, money=True, json=body))[0] == 201
    campaign_id = UUID(campaign)
    hold = api.vouchers.execute(helpers.place(campaign_id, "t1", "h1", 1990))
    api.vouchers.execute(helpers.capture(campaign_id, "t1", "c1", hold.hold_id, 1990))


async def test_balances_now_and_as_of_the_past_equal_a_fold_of_the_log(api):
    campaign = api.campaign(("t1", "t2"))
    granted = api.vouchers.recorder.max_notification_id()
    await spend(api, campaign)
    auditor = api.token("auditor", "cour-des-comptes")

    status, now = await api.call("GET", "/v1/audit/balances", auditor)
    assert status == 200 and now["source"] == "read_model"
    assert now["kinds"] == by_kind(fold_up_to(api)) and now["trial_balance_cents"] == 0
    assert now["position"] == api.vouchers.recorder.max_notification_id()

    then = fold_up_to(api, granted)
    status, past = await api.call("GET", f"/v1/audit/balances?position={granted}", auditor)
    assert (status, past["source"], past["position"]) == (200, "log", granted)
    assert past["kinds"] == by_kind(then) != now["kinds"] and past["trial_balance_cents"] == 0
    # Granted at START, spent at DURING: the books as of the day after START are `then`.
    at = (helpers.START + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    status, dated = await api.call("GET", "/v1/audit/balances", auditor, params={"at": at})
    assert (status, dated["kinds"], dated["position"]) == (200, past["kinds"], granted)

    account = f"teacher_available:{api.vouchers.account_view(UUID(campaign), 't1').account_id}"
    path = "/v1/audit/account-balance"
    status, one = await api.call("GET", path, auditor, params={"account": account})
    assert (status, one["balance_cents"], one["kind"]) == (
        200,
        7800 + 2000 - 1990,
        "teacher_available",
    )
    query = {"account": account, "position": str(granted)}
    status, one = await api.call("GET", path, auditor, params=query)
    assert (status, one["balance_cents"]) == (200, then[account]) and then[account] == 7800
    status, one = await api.call("GET", path, auditor, params={"account": "funder:commune-75056"})
    assert one["balance_cents"] == -2000

    for params, field in (
        ({"position": "1", "at": at}, "/at"),
        ({"position": str(10**9)}, "/position"),
        ({"at": "2027-09-02T00:00:00"}, "/at"),
    ):
        status, problem = await api.call("GET", "/v1/audit/balances", auditor, params=params)
        assert (status, problem["field"]) == (422, field)
    status, problem = await api.call("GET", path, auditor, params={"account": "piggy:1"})
    assert (status, problem["code"]) == (422, "invalid_input")
    assert (await api.call("GET", "/v1/audit/balances", api.token("operator", "op-1")))[0] == 200
    status, problem = await api.call("GET", "/v1/audit/balances", api.token("teacher", "t1"))
    assert (status, problem["code"]) == (403, "forbidden")


async def test_the_indicators_count_what_teachers_spent(api):
    campaign = api.campaign(("t1", "t2"))
    await spend(api, campaign)
    status, indicators = await api.call(
        "GET", "/v1/audit/indicators", api.token("auditor", "cour-des-comptes")
    )
    assert (status, indicators) == (
        200,
        {
            "teachers_who_spent": 1,
            "captured_cents": 1990,
            "refunded_cents": 0,
            "purchases_cents": 1990,
            "french_edtechs_listed": 0,
        },
    )


async def test_the_log_is_paged_by_position_and_filtered_by_type_and_time(api):
    campaign = api.campaign(("t1", "t2"))
    await spend(api, campaign)
    auditor = api.token("auditor", "cour-des-comptes")
    log = api.vouchers.recorder.select_notifications(0, PAGE, inclusive_of_start=False)
    head = log[-1].id

    seen, after, more = [], 0, True
    while more:
        status, page = await api.call(
            "GET", "/v1/audit/events", auditor, params={"after": after, "limit": 2}
        )
        assert status == 200 and len(page["events"]) <= 2
        seen += page["events"]
        after, more = page["next_after"], page["more"]
    positions = [e["position"] for e in seen]
    assert positions == [n.id for n in log] and after == head
    opened = seen[0]
    assert opened["topic"] == "ledger.campaigns:Campaign.Opened"
    assert opened["originator_id"] == campaign and opened["originator_version"] == 1
    assert opened["state"]["funders"] == [["etat", 7], ["region-idf", 3]]

    status, page = await api.call(
        "GET", "/v1/audit/events", auditor, params={"type": "CreditAccount.ToppedUp"}
    )
    assert status == 200 and [e["topic"] for e in page["events"]] == [
        "ledger.credits:CreditAccount.ToppedUp"
    ]
    topped = page["events"][0]
    assert topped["timestamp"] == helpers.DURING.isoformat()
    assert (topped["state"]["kind"], topped["state"]["amount_cents"]) == ("commune", 2000)
    assert re.fullmatch(r"[0-9a-f-]{36}", topped["state"]["topup_id"])
    assert page["more"] is False and page["next_after"] == head

    window = {"since": helpers.DURING.isoformat(), "until": helpers.END.isoformat()}
    status, page = await api.call("GET", "/v1/audit/events", auditor, params=window)
    assert status == 200 and [e["topic"].rsplit(".", 1)[1] for e in page["events"]] == [
        "ToppedUp",
        "HoldPlaced",
        "HoldCaptured",
    ]
    status, page = await api.call(
        "GET", "/v1/audit/events", auditor, params={"type": "Granted", "limit": 1}
    )
    assert [e["topic"] for e in page["events"]] == ["ledger.credits:CreditAccount.Granted"]
    assert page["more"] is True

    for params in ({"type": "Nope"}, {"limit": 0}, {"after": -1}, {"since": "yesterday"}):
        status, problem = await api.call("GET", "/v1/audit/events", auditor, params=params)
        assert (status, problem["code"]) == (422, "invalid_input"), params


async def test_an_auditor_may_write_nothing(api):
    campaign = api.campaign(("t1",))
    resource = api.resource(api.vendor(), "lecture-cp")
    auditor = api.token("auditor", "cour-des-comptes")
    values = {"campaign_id": campaign, "teacher_id": "t1", "resource_id": resource}
    writes = [op for op in ROUTES if op.method != "GET"]
    log = api.vouchers.recorder.max_notification_id()
    refused = []
    for op in writes:
        path = re.sub(r"{(\w+)}", lambda m: values.get(m.group(1), "x"), op.path)
        body = {"data": b"t1\n"} if op.upload else {"json": op.example_body}
        status, problem = await api.call(op.method, path, auditor, money=True, **body)
        refused.append((op.operation_id, status, problem.get("code")))
    assert refused == [(op.operation_id, 403, "forbidden") for op in writes]
    assert len(writes) >= 12 and api.vouchers.recorder.max_notification_id() == log
