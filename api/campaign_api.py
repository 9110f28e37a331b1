"""Campaigns over HTTP: the operator opens them, grants their credit, rules what it may
buy, and closes them.

A campaign's key is the operator's `Idempotency-Key`, scoped to the operator
(`api.common.scoped_key`): the same request again answers the same campaign, and the same
key with other terms is refused. Credit is granted from an uploaded CSV file, one teacher id
per line; the file is checked whole before anything is granted, so a bad line changes
nothing. Its key makes the grant resumable (`ledger.grants`): sent again, the same file
under the same key grants only what an interrupted attempt left, and answers the report of
the whole request, as the first attempt did.

The labelling committee's labels are in `api.labels_api`, local authorities' top-ups in
`api.topups_api`, the auditor's reads in `api.audit_api` (balances, indicators) and
`api.events_api` (the log).
"""

from __future__ import annotations

import csv
import io
from typing import Any
from uuid import UUID

from api import schemas as s
from api.common import iso, parse_moment, path_uuid, scoped_key
from api.labels_api import LABELS
from api.spec import Call, Operation, Reply, Role
from ledger.authorities import checked_territories
from ledger.campaigns import MAX_FUNDER_WEIGHT, MAX_FUNDERS, MAX_NAME_LENGTH, Campaign
from ledger.eligibility import EligibilityRule, ResourceKind
from ledger.errors import InvalidIdentifier, InvalidInput
from ledger.ids import check_opaque_id
from ledger.vouchers import VoucherLedger

CSV_HEADERS = (["teacher_id"], ["teacher_id", "territories"])


def campaign_json(campaign: Campaign) -> dict[str, Any]:
    funders = [
        {
            "funder_id": funder,
            "weight": weight,
            "contribution_cents": campaign.contributions[funder],
            "granted_cents": campaign.granted_by_funder[funder],
            "returned_cents": campaign.returned.get(funder, 0),
        }
        for funder, weight in campaign.funders
    ]
    return {
        "campaign_id": str(campaign.id),
        "campaign_key": campaign.campaign_key,
        "name": campaign.name,
        "face_value_cents": campaign.face_value_cents,
        "valid_from": iso(campaign.valid_from),
        "valid_until": iso(campaign.valid_until),
        "budget_cents": campaign.budget_cents,
        "funders": funders,
        "is_open": campaign.is_open,
        "teachers_granted": campaign.teachers_granted,
        "granted_cents": campaign.granted_cents,
        "remaining_cents": campaign.remaining_cents,
        "eligibility": rule_json(campaign.eligibility),
    }


def rule_json(rule: EligibilityRule) -> dict[str, Any]:
    return {
        "required_labels": [label.value for label in rule.required_labels],
        "kind_caps_cents": {kind.value: cents for kind, cents in rule.kind_caps_cents},
    }


# The operator -------------------------------------------------------------------------


async def open_campaign(call: Call) -> Reply:
    services, body = call.services, call.body
    terms = {
        "name": body["name"],
        "face_value_cents": body["face_value_cents"],
        "valid_from": parse_moment(body["valid_from"], "valid_from"),
        "valid_until": parse_moment(body["valid_until"], "valid_until"),
        "budget_cents": body["budget_cents"],
        "funders": tuple((f["funder_id"], f["weight"]) for f in body["funders"]),
    }
    key = scoped_key(call.caller, call.idempotency_key)

    def open_it() -> Campaign:
        vouchers = services.vouchers
        campaign_id = vouchers.open_campaign(
            campaign_key=key, **terms, by=call.caller.name, now=call.now
        )
        return vouchers.get_campaign(campaign_id)

    return Reply(campaign_json(await services.run(open_it)), status=201)


async def get_campaign(call: Call) -> Reply:
    services = call.services
    campaign = await services.run(services.vouchers.get_campaign, path_uuid(call, "campaign_id"))
    return Reply(campaign_json(campaign))


async def set_eligibility(call: Call) -> Reply:
    services, body = call.services, call.body
    campaign_id = path_uuid(call, "campaign_id")
    rule = EligibilityRule(
        tuple(body.get("required_labels", ())), tuple(body.get("kind_caps_cents", {}).items())
    )

    def set_rule() -> EligibilityRule:
        services.vouchers.set_eligibility(campaign_id, rule, by=call.caller.name, now=call.now)
        return services.vouchers.get_campaign(campaign_id).eligibility

    return Reply({"campaign_id": str(campaign_id), **rule_json(await services.run(set_rule))})


def bad_line(line: int, reason: str) -> InvalidInput:
    return InvalidInput(f"line {line}: {reason}; nothing was granted", line=line)


def teacher_on(line: int, row: list[str]) -> tuple[str, tuple[str, ...]]:
    """A line's teacher id and the territories of their school (space-separated)."""
    if len(row) not in (1, 2):
        raise bad_line(line, f"a teacher id and their territories per line, not {len(row)} fields")
    try:
        teacher = check_opaque_id(row[0], "teacher id")
        return teacher, checked_territories(row[1].split() if len(row) == 2 else ())
    except InvalidIdentifier as error:
        raise bad_line(line, error.message) from None


def teachers_of(raw: bytes) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """The teacher ids of an uploaded CSV file, in order, and the territories given for
    them; a bad line refuses the file."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the file is not UTF-8 text; nothing was granted") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    teachers: list[str] = []
    seen: dict[str, tuple[str, ...]] = {}
    try:
        for row in reader:
            if not row or (reader.line_num == 1 and row in CSV_HEADERS):
                continue  # a blank line, or the header
            teacher, places = teacher_on(reader.line_num, row)
            if seen.setdefault(teacher, places) != places:
                raise bad_line(reader.line_num, f"{teacher} is listed with other territories")
            teachers.append(teacher)
    except csv.Error as error:
        raise bad_line(reader.line_num, str(error)) from None
    if not teachers:
        raise InvalidInput("the file lists no teacher")
    return teachers, {t: places for t, places in seen.items() if places}


def whole_grant(vouchers: VoucherLedger, campaign_id: UUID, grant_key: str) -> tuple[int, int]:
    """Teachers granted and chunks recorded under one grant key, by whichever attempts:
    the report of the whole request, the same on every retry."""
    granted = chunks = 0
    for event in vouchers.events.get(campaign_id):
        if isinstance(event, Campaign.CreditsGranted) and event.grant_key == grant_key:
            granted, chunks = granted + event.teacher_count, chunks + 1
    return granted, chunks


async def grant_credits(call: Call) -> Reply:
    services = call.services
    campaign_id = path_uuid(call, "campaign_id")
    key = scoped_key(call.caller, call.idempotency_key)

    def grant() -> tuple[int, int, int]:  # a large file is read off the event loop too
        vouchers, (teachers, territories) = services.vouchers, teachers_of(call.body)
        vouchers.grant_credits(
            campaign_id,
            teachers,
            grant_key=key,
            by=call.caller.name,
            now=call.now,
            territories=territories,
        )
        return len(dict.fromkeys(teachers)), *whole_grant(vouchers, campaign_id, key)

    listed, granted, chunks = await services.run(grant)
    return Reply(
        {
            "campaign_id": str(campaign_id),
            "teachers": listed,
            "granted": granted,
            "already_granted": listed - granted,
            "chunks": chunks,
        }
    )


async def close_campaign(call: Call) -> Reply:
    services = call.services
    campaign_id = path_uuid(call, "campaign_id")
    returned = await services.run(
        lambda: services.vouchers.close_campaign(campaign_id, by=call.caller.name, now=call.now)
    )
    return Reply(
        {
            "campaign_id": str(campaign_id),
            "returned": [{"funder_id": f, "returned_cents": c} for f, c in returned.items()],
            "returned_cents": sum(returned.values()),
        }
    )


async def run_year_end_expiry(call: Call) -> Reply:
    services = call.services
    campaign_id = path_uuid(call, "campaign_id")

    def expire() -> tuple[int, Campaign]:
        vouchers = services.vouchers
        cents = vouchers.run_year_end_expiry(campaign_id, by=call.caller.name, now=call.now)
        return cents, vouchers.get_campaign(campaign_id)

    cents, campaign = await services.run(expire)
    return Reply(
        {
            "campaign_id": str(campaign_id),
            "credit_returned_cents": cents,
            "budget_returned_cents": sum(campaign.returned.values()),
        }
    )


# Operations ---------------------------------------------------------------------------

OPERATOR = frozenset({Role.OPERATOR})
READERS = frozenset({Role.OPERATOR, Role.AUDITOR})
CAMPAIGN_ID = "6f1c2b9e-2d4a-4c1e-9a53-0d6a3f0b7c11"
WEIGHT = {"type": "integer", "minimum": 1, "maximum": MAX_FUNDER_WEIGHT}
NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH}
KIND_CAPS = s.obj({}, {kind.value: s.CENTS for kind in ResourceKind})
RULE = {"required_labels": LABELS, "kind_caps_cents": KIND_CAPS}
EXAMPLE_RULE = {"required_labels": ["reconnu_interet_pedagogique"], "kind_caps_cents": {}}
FUNDERS = s.array(s.obj({"funder_id": s.OPAQUE_ID, "weight": WEIGHT}), MAX_FUNDERS, 1)
FUNDER_STATE = s.obj(
    {"funder_id": s.OPAQUE_ID, "weight": WEIGHT}
    | dict.fromkeys(("contribution_cents", "granted_cents", "returned_cents"), s.CENTS_OR_ZERO)
)
CAMPAIGN = s.obj(
    {
        "campaign_id": s.UUID,
        "campaign_key": s.TEXT,
        "name": NAME,
        "face_value_cents": s.CENTS,
        "valid_from": s.DATETIME,
        "valid_until": s.DATETIME,
        "budget_cents": s.CENTS,
        "funders": s.array(FUNDER_STATE, MAX_FUNDERS, 1),
        "is_open": s.BOOLEAN,
        "teachers_granted": s.COUNT,
        "granted_cents": s.CENTS_OR_ZERO,
        "remaining_cents": s.CENTS_OR_ZERO,
        "eligibility": s.obj(RULE),
    }
)
OPEN_BODY = {
    "name": "Rentrée 2027",
    "face_value_cents": 7800,
    "valid_from": "2027-09-01T00:00:00+00:00",
    "valid_until": "2028-06-27T00:00:00+00:00",
    "budget_cents": 780_000,
    "funders": [{"funder_id": "etat", "weight": 7}, {"funder_id": "region-idf", "weight": 3}],
}
NOTHING_GRANTED = {"granted_cents": 0, "returned_cents": 0}
EXAMPLE_CAMPAIGN = {
    "campaign_id": CAMPAIGN_ID,
    "campaign_key": "operator:op-1:rentree-2027",
    **{k: v for k, v in OPEN_BODY.items() if k != "funders"},
    "funders": [
        {"funder_id": f, "weight": w, "contribution_cents": c, **NOTHING_GRANTED}
        for f, w, c in (("etat", 7, 546_000), ("region-idf", 3, 234_000))
    ],
    "is_open": True,
    "teachers_granted": 0,
    "granted_cents": 0,
    "remaining_cents": 780_000,
    "eligibility": {"required_labels": [], "kind_caps_cents": {}},
}

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        operation_id="open_campaign",
        method="POST",
        path="/v1/campaigns",
        summary="Open a campaign: face value, validity, budget and its funders' weights",
        description="The Idempotency-Key is the campaign's key: the same request again "
        "answers the same campaign; the same key with other terms is refused. The budget "
        "and each face value are split between funders by weight, to the cent.",
        tag="operator",
        roles=OPERATOR,
        handler=open_campaign,
        status=201,
        body=s.obj(
            {
                "name": NAME,
                "face_value_cents": s.CENTS,
                "valid_from": s.DATETIME,
                "valid_until": s.DATETIME,
                "budget_cents": s.CENTS,
                "funders": FUNDERS,
            }
        ),
        response=CAMPAIGN,
        moves_money=True,
        example_body=OPEN_BODY,
        example_response=EXAMPLE_CAMPAIGN,
    ),
    Operation(
        operation_id="get_campaign",
        method="GET",
        path="/v1/campaigns/{campaign_id}",
        summary="A campaign: its terms, funders, what was granted and its eligibility rule",
        tag="operator",
        roles=READERS,
        handler=get_campaign,
        response=CAMPAIGN,
        example_response=EXAMPLE_CAMPAIGN,
        ownership="any",
    ),
    Operation(
        operation_id="set_eligibility",
        method="PUT",
        path="/v1/campaigns/{campaign_id}/eligibility",
        summary="Say what the campaign's credit may buy: required labels, caps per kind",
        description="Replaces the rule. No labels: any resource listed in the catalogue. "
        "Caps are in cents per kind of resource, per teacher's credit. Holds placed from "
        "now on are checked against it.",
        tag="operator",
        roles=OPERATOR,
        handler=set_eligibility,
        body=s.obj({}, RULE),
        response=s.obj({"campaign_id": s.UUID, **RULE}),
        example_body=EXAMPLE_RULE,
        example_response={"campaign_id": CAMPAIGN_ID, **EXAMPLE_RULE},
        ownership="any",
    ),
    Operation(
        operation_id="grant_credits",
        method="POST",
        path="/v1/campaigns/{campaign_id}/grants",
        summary="Grant the face value to every teacher of an uploaded CSV file",
        description="A UTF-8 CSV file, one teacher per line: their id and, in a second "
        "field, the territories of their school separated by spaces (`commune:75056 "
        "departement:75 region:11`), which decide the local authorities that may top "
        "them up; an optional first line `teacher_id,territories`. A bad line refuses "
        "the whole file (422, naming the line). A "
        "teacher listed twice is granted once; one already granted in this campaign is "
        "counted in `already_granted`. The same file again under the same key grants "
        "only what an interrupted attempt left and answers the same report. A file is at "
        "most the server's body size (1 MiB by default): grant a large list in several "
        "files, each under its own key.",
        tag="operator",
        roles=OPERATOR,
        handler=grant_credits,
        upload="text/csv",
        response=s.obj(
            {"campaign_id": s.UUID}
            | dict.fromkeys(("teachers", "granted", "already_granted", "chunks"), s.COUNT)
        ),
        moves_money=True,
        example_body=b"teacher_id,territories\n"
        b"teacher-0000042,commune:75056 departement:75 region:11\n"
        b"teacher-0000043,commune:97411 departement:974 region:04\n",
        example_response={
            "campaign_id": CAMPAIGN_ID,
            "teachers": 2,
            "granted": 2,
            "already_granted": 0,
            "chunks": 1,
        },
        ownership="any",
    ),
    Operation(
        operation_id="close_campaign",
        method="POST",
        path="/v1/campaigns/{campaign_id}/close",
        summary="Stop granting; return the budget never granted to its funders",
        tag="operator",
        roles=OPERATOR,
        handler=close_campaign,
        response=s.obj(
            {
                "campaign_id": s.UUID,
                "returned": s.array(
                    s.obj({"funder_id": s.OPAQUE_ID, "returned_cents": s.CENTS_OR_ZERO}),
                    MAX_FUNDERS,
                ),
                "returned_cents": s.CENTS_OR_ZERO,
            }
        ),
        moves_money=True,
        example_response={
            "campaign_id": CAMPAIGN_ID,
            "returned": [
                {"funder_id": "etat", "returned_cents": 535_080},
                {"funder_id": "region-idf", "returned_cents": 229_320},
            ],
            "returned_cents": 764_400,
        },
        ownership="any",
    ),
    Operation(
        operation_id="run_year_end_expiry",
        method="POST",
        path="/v1/campaigns/{campaign_id}/year-end-expiry",
        summary="After the campaign ends: close it and return unspent credit to funders",
        description="Refused while the campaign runs. Pending holds expire, then each "
        "account's remainder goes back to its funders pro rata. `credit_returned_cents` is "
        "what this run returned: a second run finds every account expired and answers 0.",
        tag="operator",
        roles=OPERATOR,
        handler=run_year_end_expiry,
        response=s.obj(
            {"campaign_id": s.UUID}
            | dict.fromkeys(("credit_returned_cents", "budget_returned_cents"), s.CENTS_OR_ZERO)
        ),
        moves_money=True,
        example_response={
            "campaign_id": CAMPAIGN_ID,
            "credit_returned_cents": 13_610,
            "budget_returned_cents": 764_400,
        },
        ownership="any",
    ),
)
