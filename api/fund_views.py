"""The internet fund's levies as JSON: a period's rate, a levy's status at a moment, and a
levy as its operator sees it (revenue and every payment); their schemas and examples."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api import schemas as s
from ledger.levies import LevyPayment, LevyPeriod, LevyStatus, OperatorLevy

PERIOD = {"type": "string", "pattern": "^20[0-9]{2}(-(S[12]|T[1-4]|0[1-9]|1[0-2]))?$"}
PAYMENT_REF = {"type": "string", "pattern": "^[A-Za-z0-9_.:/-]{1,64}$"}


def rate_json(period: LevyPeriod) -> dict[str, Any]:
    return {
        "period": period.period,
        "rate_numerator": period.rate.numerator,
        "rate_denominator": period.rate.denominator,
        "reference": period.reference,
        "decided_on": period.decided_on.isoformat(),
        "due_on": period.due_on.isoformat(),
        "operators": len(period.levies),
    }


def status_json(status: LevyStatus) -> dict[str, Any]:
    return {
        "levy_id": str(status.levy_id),
        "siren": status.siren,
        "period": status.period,
        "due_on": status.due_on.isoformat(),
        "levy_cents": status.levy_cents,
        "paid_cents": status.paid_cents,
        "outstanding_cents": status.outstanding_cents,
        "overdue_cents": status.overdue_cents,
        "late_payments": [payment_json(p, late=True) for p in status.late_payments],
    }


def payment_json(payment: LevyPayment, *, late: bool) -> dict[str, Any]:
    return {
        "payment_ref": payment.payment_ref,
        "amount_cents": payment.amount_cents,
        "received_at": payment.received_at.isoformat(),
        "late": late,
    }


def levy_json(levy: OperatorLevy, now: datetime) -> dict[str, Any]:
    """A levy as its operator sees it: the status, the revenue and every payment."""
    status = levy.status(now)
    return {
        **status_json(status),
        "revenue_cents": levy.revenue_cents,
        "rate_numerator": levy.rate.numerator,
        "rate_denominator": levy.rate.denominator,
        "payments": [
            payment_json(p, late=p.received_at.date() > levy.due_on) for p in levy.payments
        ],
    }


SIREN, LEVY_ID = "380129866", "3c9a1f0e-5b7d-5e2a-8c4f-1d2e3f4a5b6c"
RATE = s.obj(
    {
        "period": PERIOD,
        "rate_numerator": {"type": "integer", "minimum": 1},
        "rate_denominator": {"type": "integer", "minimum": 1},
        "reference": s.SHORT_TEXT,
        "decided_on": s.DATE,
        "due_on": s.DATE,
        "operators": s.COUNT,
    }
)
PAYMENT = s.obj(
    {
        "payment_ref": PAYMENT_REF,
        "amount_cents": s.CENTS,
        "received_at": s.DATETIME,
        "late": s.BOOLEAN,
    }
)
STATUS_FIELDS = {
    "levy_id": s.UUID,
    "siren": {"type": "string", "pattern": "^[0-9]{9}$"},
    "period": PERIOD,
    "due_on": s.DATE,
    "levy_cents": s.CENTS_OR_ZERO,
    "paid_cents": s.CENTS_OR_ZERO,
    "outstanding_cents": s.SIGNED_CENTS,
    "overdue_cents": s.CENTS_OR_ZERO,
    "late_payments": s.array(PAYMENT, 200),
}
LEVY_STATUS = s.obj(STATUS_FIELDS)
LEVY = s.obj(
    {
        **STATUS_FIELDS,
        "revenue_cents": s.CENTS_OR_ZERO,
        "rate_numerator": {"type": "integer", "minimum": 1},
        "rate_denominator": {"type": "integer", "minimum": 1},
        "payments": s.array(PAYMENT, 200),
    }
)
EXAMPLE_RATE = {
    "period": "2027",
    "rate_numerator": 7,
    "rate_denominator": 2000,
    "reference": "Décision ARCEP n° 2027-0456",
    "decided_on": "2027-02-15",
    "due_on": "2027-12-31",
    "operators": 0,
}
EXAMPLE_STATUS = {
    "levy_id": LEVY_ID,
    "siren": SIREN,
    "period": "2027",
    "due_on": "2027-12-31",
    "levy_cents": 350_000,
    "paid_cents": 0,
    "outstanding_cents": 350_000,
    "overdue_cents": 0,
    "late_payments": [],
}
EXAMPLE_LEVY = {
    **EXAMPLE_STATUS,
    "revenue_cents": 100_000_000,
    "rate_numerator": 7,
    "rate_denominator": 2000,
    "payments": [],
}
PAID_LEVY = {
    **EXAMPLE_LEVY,
    "paid_cents": 350_000,
    "outstanding_cents": 0,
    "payments": [
        {
            "payment_ref": "VIR-2027-0042",
            "amount_cents": 350_000,
            "received_at": "2027-11-30T10:00:00+00:00",
            "late": False,
        }
    ],
}
