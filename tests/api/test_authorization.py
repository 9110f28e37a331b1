"""The authorization matrix: every operation × every role × own and foreign objects,
checked against the one policy table (each operation's roles and ownership in
`api.routes.ROUTES`). Expected: 0 unexpected successes, and nothing recorded by a refusal."""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Any
from uuid import UUID

from api.routes import ROUTES
from api.services import SERVICES
from api.spec import Operation, Role
from ledger.claims_desk import ClaimsDesk
from ledger.parties import organisation, party_ref
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
    Role.DONOR: "company:38012986646850",
    Role.COLLECTOR: "organisation:73282932000074",
    Role.REFURBISHER: "organisation:55210055400013",
    Role.EDUCATION_SERVICE: "organisation:44306184100047",
    Role.SCHOOL: "school:0750655E",
    Role.TELECOM_OPERATOR: "telecom:380129866",
    Role.REGULATOR: "arcep",
    Role.COMPANY: "company:38012986646850",
}
# Roles whose objects are their own: each is tried on another owner's objects.
OWNERS = frozenset(
    {
        Role.TEACHER,
        Role.VENDOR,
        Role.DONOR,
        Role.COLLECTOR,
        Role.REFURBISHER,
        Role.EDUCATION_SERVICE,
        Role.SCHOOL,
        Role.TELECOM_OPERATOR,
    }
)
# The other parties of the device banks, whose objects are the foreign ones.
OTHER_COLLECTOR, OTHER_REFURBISHER = "48223541300010", "51234567900017"
OTHER_DONOR = "individual:donor-81f2"
OTHER_TELECOM_OPERATOR = "421938861"  # its SIREN
ORGANISATIONS = (Role.COLLECTOR, Role.REFURBISHER, Role.EDUCATION_SERVICE)


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
    common = {
        "campaign_id": campaign,
        "teacher_id": "t1",
        "batch_id": SOME_UUID,
        "period": "2027",
        "subsidy_id": SOME_UUID,
        "log_size": "1",
    }
    devices = device_world(api)
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
            "siren": party_ref(SUBJECTS[Role.TELECOM_OPERATOR]),
            **devices["own"],
        },
        "foreign": {
            **common,
            "vendor_id": b,
            "resource_id": resource_b,
            "hold_id": str(hold_b.hold_id),  # t2's hold, asked for by t1
            "code": services.codes.encode(account_b, hold_b.hold_id),
            "claim_id": str(claim_b),
            "key_id": key_b,
            "siren": OTHER_TELECOM_OPERATOR,
            **devices["foreign"],
        },
    }


def device_world(api) -> dict[str, dict[str, str]]:
    """A device of the donor of SUBJECTS, in a lot; and another donor's device, in a lot,
    received by another refurbisher and diagnosed as the examples diagnose: a retry of
    that diagnosis by a refurbisher that never held it must not pass for one."""
    bank, now = api.devices, helpers.DURING
    territory = {"code": "lyon", "name": "Lyon", "kind": "metropolis", "funder_id": "f"}
    bank.register_territory(**territory, budget_cents=10_000, by="o", now=now)
    approvals = [(party_ref(SUBJECTS[role]), role.value) for role in ORGANISATIONS]
    approvals += [(OTHER_COLLECTOR, "collector"), (OTHER_REFURBISHER, "refurbisher")]
    for siret, role in approvals:
        bank.approve_organisation(siret=siret, name=siret, role=role, by="o", now=now)
    laptop = {"territory": "lyon", "kind": "laptop", "make": "Dell", "model": "E7470"}
    own = bank.pledge_device(
        donor=SUBJECTS[Role.DONOR], serial_number="OWN-1", **laptop, by="d", now=now
    )
    foreign = bank.pledge_device(
        donor=OTHER_DONOR, serial_number="THEIRS-1", **laptop, by="d", now=now
    )
    chain = (OTHER_DONOR, organisation(OTHER_COLLECTOR), organisation(OTHER_REFURBISHER))
    for giver, receiver in pairwise(chain):
        bank.hand_over(foreign, giver=giver, receiver=receiver, by="x", now=now)
        bank.confirm_handover(foreign, receiver=receiver, by="x", now=now)
    diagnosis = next(op for op in ROUTES if op.operation_id == "diagnose_device").example_body
    bank.diagnose(foreign, refurbisher=OTHER_REFURBISHER, **diagnosis, by="x", now=now)
    own_lot = bank.form_lot(key="ours", device_ids=[own], by="x", now=now)
    foreign_lot = bank.form_lot(key="theirs", device_ids=[foreign], by="x", now=now)
    return {
        "own": {
            "device_id": str(own),
            "lot_id": str(own_lot),
            "siret": party_ref(SUBJECTS[Role.REFURBISHER]),
            "territory_code": "lyon",
        },
        "foreign": {
            "device_id": str(foreign),
            "lot_id": str(foreign_lot),
            "siret": OTHER_REFURBISHER,
            "territory_code": "lyon",
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
        for role in op.roles & OWNERS:
            status, _ = await request(api, op, role, subjects[role], objects["foreign"])
            calls += 1
            if status < 400:
                unexpected.append((op.operation_id, role.value, status))
    assert calls >= 50
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
