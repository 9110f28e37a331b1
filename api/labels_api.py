"""Labels over HTTP: the labelling committee grants a label to a resource of the
catalogue, or withdraws it, each time with its reason and the date of its decision.

A campaign's eligibility rule (`api.campaign_api`) may require these labels of what its
credit buys.
"""

from __future__ import annotations

from api import schemas as s
from api.common import parse_day, path_uuid
from api.spec import Call, Operation, Reply, Role
from ledger.catalogue import MAX_REASON_LENGTH
from ledger.eligibility import Label, member_of


async def change_label(call: Call, grant: bool) -> Reply:
    services, body = call.services, call.body
    catalogue = services.catalogue
    resource_id = path_uuid(call, "resource_id")
    label = member_of(Label, body["label"], "label")
    decision = {
        "reason": body["reason"],
        "decided_on": parse_day(body["decided_on"], "decided_on"),
        "by": call.caller.name,
        "now": call.now,
    }

    def change() -> tuple[Label, ...]:
        (catalogue.grant_label if grant else catalogue.withdraw_label)(
            resource_id, label, **decision
        )
        return catalogue.get_resource(resource_id).current.labels

    labels = await services.run(change)
    return Reply({"resource_id": str(resource_id), "labels": [x.value for x in labels]})


async def grant_label(call: Call) -> Reply:
    return await change_label(call, grant=True)


async def withdraw_label(call: Call) -> Reply:
    return await change_label(call, grant=False)


# Operations ---------------------------------------------------------------------------

COMMITTEE = frozenset({Role.COMMITTEE})
RESOURCE_ID = "3c9a7b1e-5d2f-5e4a-9b8c-7d6e5f4a3b2c"
LABEL = s.enum(*(label.value for label in Label))
LABELS = {**s.array(LABEL, max_items=len(Label)), "uniqueItems": True}
DECISION = {"reason": {**s.TEXT, "maxLength": MAX_REASON_LENGTH}, "decided_on": s.DATE}
EXAMPLE_DECISION = {"reason": "Avis du comité du 14 septembre 2027", "decided_on": "2027-09-14"}
LABELLED = s.obj({"resource_id": s.UUID, "labels": LABELS})

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        operation_id="grant_label",
        method="POST",
        path="/v1/resources/{resource_id}/labels",
        summary="Grant a label to a resource, with the committee's reason and decision date",
        tag="committee",
        roles=COMMITTEE,
        handler=grant_label,
        body=s.obj({"label": LABEL, **DECISION}),
        response=LABELLED,
        example_body={"label": "francais", **EXAMPLE_DECISION},
        example_response={"resource_id": RESOURCE_ID, "labels": ["francais"]},
        ownership="any",
    ),
    Operation(
        operation_id="withdraw_label",
        method="POST",
        path="/v1/resources/{resource_id}/labels/withdraw",
        summary="Withdraw a label from a resource, with the reason and decision date",
        tag="committee",
        roles=COMMITTEE,
        handler=withdraw_label,
        body=s.obj({"label": LABEL, **DECISION}),
        response=LABELLED,
        example_body={"label": "francais", **EXAMPLE_DECISION},
        example_response={"resource_id": RESOURCE_ID, "labels": []},
        ownership="any",
    ),
)
