"""The authorization matrix: every operation × every role × own and foreign objects,
checked against the one policy table (each operation's roles and ownership in
`api.routes.ROUTES`). Expected: 0 unexpected successes, and nothing recorded by a refusal."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from api.routes import ROUTES
from api.services import SERVICES
from api.spec import Operation, Role
from ledger.claims_desk import ClaimsDesk
from ledger.redemptions import Redemptions
from ledger.reimbursement import default_rule_book
from tests import helpers

PARAM = re.compile(r"{(\w+)}")
SOME_UUID = "00000000-0000-4000-8000-000000000000"
SUBJECTS = {
    Role.TEACHER: "t1",
    Role.OPERATOR: "op-1",
    Role.COMMITTEE: "comite-1",
    Role.AUTHORITY: "commune-75056",
    Role.AUDITOR: "cour-des-comptes",
}


def fill(path: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"the matrix has no value for {{{name}}}: add one"
        return values[name]

    return PARAM.sub(value, path)


async def request(api, op: Operation, role: Role | None, subject: str, values) -> tuple[int, Any]:
    who = {} if role is None else api.token(role.value, subject)
    kwargs: dict[str, Any] = {}
    if op.upload:
        kwargs["data"] = b"teacher_id\nt9\n"
        kwargs["headers"] = {"Content-Type": op.upload}
    elif op.body is not None:
        kwargs["json"] = op.example_body
    return await api.call(op.method, fill(op.path, values), who, money=True, **kwargs)


def world(api) -> dict[str, Any]:
    """Two vendors, two teachers; each teacher holds at one vendor, B's hold captured and
    claimed. `own` names the first party's objects, `foreign` the second's."""
    a, b = api.vendor(), api.vendor("Géo Junior", "552100554", "55210055400013")
    resource_a, resource_b = api.resource(a, "lecture"), api.resource(b, "geo")
    campaign = api.campaign(("t1", "t2"))
    redemptions = Redemptions(api.vouchers, api.vendors, api.catalogue)
    hold_a = redemptions.redeem(
        campaign_id=UUID(campaign),
        teacher_id="t1",
        key="ha",
        resource_id=UUID(resource_a),
        order_ref="o-a",
        by="t1",
        now=helpers.DURING,
    )
    hold_b = redemptions.redeem(
        campaign_id=UUID(campaign),
        teacher_id="t2",
        key="hb",
        resource_id=UUID(resource_b),
        order_ref="o-b",
        by="t2",
        now=helpers.DURING,
    )
    api.vouchers.execute(helpers.capture(UUID(campaign), "t2", "cb", hold_b.hold_id, 1990))
    account_b = api.vouchers.account_view(UUID(campaign), "t2").account_id
    desk = ClaimsDesk(api.settings, default_rule_book())
    try:
        claim_b = desk.submit_claim(
            b,
            "claim-b",
            [api.vouchers.redemption(account_b, hold_b.hold_id)],
            by="v",
            now=helpers.DURING,
        )
    finally:
        desk.close()
    services = api.client.server.app[SERVICES]  # it holds the codes' secret
    account_a = api.vouchers.account_view(UUID(campaign), "t1").account_id
    key_a, _ = services.api_keys.issue(subject=a, by="op", now=helpers.DURING)
    key_b, _ = services.api_keys.issue(subject=b, by="op", now=helpers.DURING)
    common = {"campaign_id": campaign, "teacher_id": "t1", "batch_id": SOME_UUID}
    return {
        "vendor": a,
        "own": {
            **common,
            "vendor_id": a,
            "resource_id": resource_a,
            "hold_id": str(hold_a.hold_id),
            "code": services.codes.encode(account_a, hold_a.hold_id),
            "claim_id": SOME_UUID,
            "key_id": key_a,
        },
        "foreign": {
            **common,
            "vendor_id": b,
            "resource_id": resource_b,
            "hold_id": str(hold_b.hold_id),  # t2's hold, asked for by t1
            "code": services.codes.encode(account_b, hold_b.hold_id),
            "claim_id": str(claim_b),
            "key_id": key_b,
        },
    }


async def test_no_role_reaches_an_operation_it_is_not_named_in_and_no_caller_none(api):
    objects = world(api)
    subjects = {**SUBJECTS, Role.VENDOR: objects["vendor"]}
    log = api.vouchers.recorder.max_notification_id()
    unexpected, calls = [], 0
    for op in ROUTES:
        status, problem = await request(api, op, None, "", objects["own"])
        calls += 1
        if status != 401:
            unexpected.append((op.operation_id, "anonymous", status))
        for role in set(Role) - op.roles:
            status, problem = await request(api, op, role, subjects[role], objects["own"])
            calls += 1
            if status != 403 or problem.get("code") != "forbidden":
                unexpected.append((op.operation_id, role.value, status))
    assert calls > len(ROUTES) * 2
    assert unexpected == []
    assert api.vouchers.recorder.max_notification_id() == log


async def test_no_owner_reaches_another_owner_s_objects(api):
    objects = world(api)
    subjects = {**SUBJECTS, Role.VENDOR: objects["vendor"]}
    log = api.vouchers.recorder.max_notification_id()
    unexpected, calls = [], 0
    for op in ROUTES:
        if op.ownership != "self":
            continue
        for role in op.roles & {Role.TEACHER, Role.VENDOR}:
            status, _ = await request(api, op, role, subjects[role], objects["foreign"])
            calls += 1
            if status < 400:
                unexpected.append((op.operation_id, role.value, status))
    assert calls >= 5
    assert unexpected == []
    assert api.vouchers.recorder.max_notification_id() == log


async def test_no_authority_reaches_a_teacher_outside_its_territory(api):
    objects = world(api)  # its teachers' school is in Paris
    log = api.vouchers.recorder.max_notification_id()
    unexpected, calls = [], 0
    for op in ROUTES:
        if op.ownership != "territory":
            continue
        for outsider in ("commune-69123", "commune-97411", "commune-2A004"):
            status, problem = await request(api, op, Role.AUTHORITY, outsider, objects["own"])
            calls += 1
            if status != 403 or problem.get("code") != "outside_territory":
                unexpected.append((op.operation_id, outsider, status))
        assert api.vouchers.recorder.max_notification_id() == log
        status, _ = await request(api, op, Role.AUTHORITY, "commune-75056", objects["own"])
        assert status < 400, (op.operation_id, status)  # the matrix's objects are reachable
    assert calls >= 3
    assert unexpected == []
