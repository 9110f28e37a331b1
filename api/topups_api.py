"""Top-ups over HTTP: a local authority adds to a teacher's credit in a campaign, from its
own funds.

The authority is the caller; its `Idempotency-Key`, scoped to it (`api.common.scoped_key`),
makes a retried top-up answer the same top-up. The campaigns themselves are in
`api.campaign_api`.
"""

from __future__ import annotations

from api import schemas as s
from api.common import committed, path_uuid, scoped_key
from api.spec import Call, Operation, Reply, Role
from ledger.commands import TopUp
from ledger.credits import TopUpKind


async def top_up_credit(call: Call) -> Reply:
    command = TopUp(
        campaign_id=path_uuid(call, "campaign_id"),
        teacher_id=call.path["teacher_id"],
        key=scoped_key(call.caller, call.idempotency_key),
        by=call.caller.name,
        now=call.now,
        authority_id=call.caller.subject,
        kind=TopUpKind(call.body["kind"]),
        amount_cents=call.body["amount_cents"],
    )
    receipt = await committed(call.services.committer.submit(command))
    return Reply(
        {
            "topup_id": str(receipt.topup_id),
            "account_id": str(command.account_id),
            "authority_id": command.authority_id,
            "kind": command.kind.value,
            "amount_cents": receipt.amount_cents,
        },
        status=201,
    )


# Operations ---------------------------------------------------------------------------

AUTHORITY = frozenset({Role.AUTHORITY})

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        operation_id="top_up_credit",
        method="POST",
        path="/v1/campaigns/{campaign_id}/teachers/{teacher_id}/top-ups",
        summary="Top up a teacher's credit from the calling local authority's funds",
        description="The calling authority becomes a funder of the teacher's credit: at "
        "the year's end, its share of what is left goes back to it. An authority acts "
        "under the id that names its territory (`commune-75056`, `departement-974`, "
        "`region-11`, in its token) and tops up only the teachers whose school lies "
        "there, as the campaign's grant file recorded them; anyone else is refused "
        "(403 `outside_territory`). `kind` must be the authority's level.",
        tag="authority",
        roles=AUTHORITY,
        handler=top_up_credit,
        status=201,
        body=s.obj({"amount_cents": s.CENTS, "kind": s.enum(*(k.value for k in TopUpKind))}),
        response=s.obj(
            {
                "topup_id": s.UUID,
                "account_id": s.UUID,
                "authority_id": s.OPAQUE_ID,
                "kind": s.enum(*(k.value for k in TopUpKind)),
                "amount_cents": s.CENTS,
            }
        ),
        moves_money=True,
        example_body={"amount_cents": 2000, "kind": "commune"},
        example_response={
            "topup_id": "1a2b3c4d-5e6f-5a7b-8c9d-0e1f2a3b4c5d",
            "account_id": "9d7e6f5a-4b3c-5d2e-8f1a-0b9c8d7e6f5a",
            "authority_id": "commune-75056",
            "kind": "commune",
            "amount_cents": 2000,
        },
        ownership="territory",
    ),
)
