"""Household connection subsidies over HTTP: the device bank asks the fund to pay a
household's internet connection for a period, naming the device a pupil of that household
received.

The caller is the education service that allocated the device (it knows the pupil and the
household): it names only a device it allocated (403 otherwise, `api.device_views`). The
fund manager (operator) may ask for any. The fund then checks that the device was
delivered to that pupil (409 `device_not_delivered_to_pupil`), that neither the household
nor the pupil has a subsidy in the period (422 `household_already_subsidised`, 409
`pupil_already_subsidised`), and that its balance covers it (409 `insufficient_fund`).

**The household's name and address** arrive in the request body and go no further than
`InternetFund.pay_subsidy`, which keeps only their keyed fingerprint (`ledger.households`).
They are never logged, stored, or echoed: the answer carries the subsidy's id and terms,
not the fingerprint either (a stable pseudonym of the household that no caller needs), and
a refusal's problem names the field at fault, never its value (`api.validation`). The same
request again (the identifiers typed differently or not) answers the same subsidy.
"""

from __future__ import annotations

from typing import Any

from api import schemas as s
from api.common import STAFF, body_uuid, iso, path_uuid
from api.device_views import check_involved
from api.fund_views import PERIOD
from api.parties import caller_party
from api.spec import Call, Operation, Reply, Role
from ledger.households import MAX_IDENTIFIER_LENGTH, HouseholdIdentity
from ledger.subsidies import MAX_SUBSIDY_CENTS, HouseholdSubsidy, SubsidyPayee

REQUESTERS = frozenset({Role.EDUCATION_SERVICE, Role.OPERATOR})
IDENTIFIER = {"type": "string", "minLength": 1, "maxLength": MAX_IDENTIFIER_LENGTH}


def subsidy_json(subsidy: HouseholdSubsidy) -> dict[str, Any]:
    """A subsidy without its household: not even the fingerprint."""
    return {
        "subsidy_id": str(subsidy.id),
        "period": subsidy.period,
        "device_id": str(subsidy.device_id),
        "pupil_id": subsidy.pupil_id,
        "amount_cents": subsidy.amount_cents,
        "payee": subsidy.payee.value,
        "provider_siren": subsidy.provider_siren or None,
        "paid_at": iso(subsidy.paid_at),
    }


async def pay_household_subsidy(call: Call) -> Reply:
    body, fund = call.body, call.services.fund
    device_id = body_uuid(body["device_id"], "device_id")
    household = HouseholdIdentity(body["household"]["name"], body["household"]["address"])
    party = caller_party(call.caller) if call.caller.role is Role.EDUCATION_SERVICE else None

    def pay() -> dict[str, Any]:
        if party is not None:
            check_involved(fund.device_bank.get_device(device_id), party)
        subsidy = fund.pay_subsidy(
            household=household,
            period=body["period"],
            device_id=device_id,
            pupil_id=body["pupil_id"],
            amount_cents=body["amount_cents"],
            payee=body["payee"],
            provider_siren=body.get("provider_siren", ""),
            by=call.caller.name,
            now=call.now,
        )
        return subsidy_json(fund.get_subsidy(subsidy))

    return Reply(await call.services.run(pay), status=201)


async def get_household_subsidy(call: Call) -> Reply:
    subsidy_id = path_uuid(call, "subsidy_id")
    fund = call.services.fund
    return Reply(subsidy_json(await call.services.run(fund.get_subsidy, subsidy_id)))


# Operations -----------------------------------------------------------------------------

SUBSIDY = s.obj(
    {
        "subsidy_id": s.UUID,
        "period": PERIOD,
        "device_id": s.UUID,
        "pupil_id": s.OPAQUE_ID,
        "amount_cents": {**s.CENTS, "maximum": MAX_SUBSIDY_CENTS},
        "payee": s.enum(*(p.value for p in SubsidyPayee)),
        "provider_siren": s.nullable({"type": "string", "pattern": "^[0-9]{9}$"}),
        "paid_at": s.DATETIME,
    }
)
EXAMPLE_SUBSIDY = {
    "subsidy_id": "5e6f7a8b-9c0d-5e1f-8a2b-3c4d5e6f7a8b",
    "period": "2027",
    "device_id": "6f1c2b9e-2d4a-4c1e-9a53-0d6a3f0b7c11",
    "pupil_id": "ine-0750655E-0042",
    "amount_cents": 10_000,
    "payee": "provider",
    "provider_siren": "421938861",
    "paid_at": "2027-10-01T09:00:00+00:00",
}

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        operation_id="pay_household_subsidy",
        method="POST",
        path="/v1/household-subsidies",
        summary="Pay a household's connection for a period, for a pupil who received a device",
        description="The household's name and address identify it and are forgotten at "
        "once: only a keyed fingerprint of them is kept, and neither is answered. One "
        "subsidy per household and period, up to 100 €, to its internet provider (by SIREN) "
        "or to the household; the device named must have been delivered to the pupil. An "
        "education service names the devices it allocated; the operator, any.",
        tag="internet fund",
        roles=REQUESTERS,
        handler=pay_household_subsidy,
        status=201,
        body=s.obj(
            {
                "household": s.obj({"name": IDENTIFIER, "address": IDENTIFIER}),
                "period": PERIOD,
                "device_id": s.UUID,
                "pupil_id": s.OPAQUE_ID,
                "amount_cents": {**s.CENTS, "maximum": MAX_SUBSIDY_CENTS},
                "payee": s.enum(*(p.value for p in SubsidyPayee)),
            },
            {"provider_siren": {"type": "string", "pattern": "^[0-9]{9}$"}},
        ),
        response=SUBSIDY,
        moves_money=True,
        example_body={
            "household": {"name": "Hélène Dupré", "address": "3 rue de la Paix, 75002 Paris"},
            "period": "2027",
            "device_id": EXAMPLE_SUBSIDY["device_id"],
            "pupil_id": EXAMPLE_SUBSIDY["pupil_id"],
            "amount_cents": 10_000,
            "payee": "provider",
            "provider_siren": "421938861",
        },
        example_response=EXAMPLE_SUBSIDY,
    ),
    Operation(
        operation_id="get_household_subsidy",
        method="GET",
        path="/v1/household-subsidies/{subsidy_id}",
        summary="A household subsidy: its period, device, pupil, amount and payee",
        description="No household is named: not even its fingerprint.",
        tag="internet fund",
        roles=STAFF,
        handler=get_household_subsidy,
        response=SUBSIDY,
        example_response=EXAMPLE_SUBSIDY,
        ownership="any",
    ),
)
