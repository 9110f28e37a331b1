"""The demo's internet fund: levies in, households' connections out, and co-financing.

The regulator decides the year's contribution rate; three telecom operators declare their
revenue (one corrects its declaration downwards) and pay their levies, one of them late and
in part. The fund then pays the internet connection of households of pupils who received a
computer in the donation drive (100 € each, to the household or to its provider); a
household asked for twice, typed otherwise, is refused. In the drive's first territory the
operator, a local authority and a company co-finance the scale-up 1:1:1: spending stops at
the matched amount, and at the programme's end what is left returns to the funders pro
rata. Households appear in the books only as keyed fingerprints (`ledger.households`).

On PostgreSQL the fund needs `TIRELIRE_HOUSEHOLD_KEY_FILE`; without it this part is left
out and the demo says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TextIO

from api.demo_devices import DriveTally
from ledger.device_bank import DeviceBank
from ledger.errors import DomainError, InvalidHouseholdKey
from ledger.fund_app import InternetFund
from ledger.households import HouseholdIdentity
from ledger.money import Money
from ledger.settings import Settings

PERIOD = "2028"
RATE = (35, 10_000)  # 0.35 % of the revenue from electronic communication services
DECIDED_ON, DUE_ON = date(2027, 12, 15), date(2028, 3, 31)
FUND_START = datetime(2028, 1, 10, 9, tzinfo=UTC)
# SIREN, revenue in cents, the part of its levy paid (in ‰), days after the due date
TELECOM_OPERATORS = (
    ("552100554", 2_000_000_000, 1000, -20),
    ("732829320", 1_200_000_000, 1000, -5),
    ("443061841", 400_000_000, 600, 12),
)
CORRECTED = ("732829320", 1_150_000_000)  # revenue after an audit of its declaration
SUBSIDY_CENTS = 10_000
SUBSIDIES_PER_TERRITORY = 4
PROVIDER_SIREN = "791234560"
FUNDERS = (("operator", 40_000), ("local_authority", 40_000), ("company", 30_000))
SPEND_CENTS = (60_000, 40_000)  # the second goes beyond the matched amount: refused


@dataclass
class FundTally:
    levies_due_cents: int = 0
    levies_paid_cents: int = 0
    late: int = 0
    subsidies: int = 0
    subsidies_cents: int = 0
    matched_cents: int = 0
    spent_cents: int = 0
    returned_cents: int = 0
    refused: Counter[str] = field(default_factory=Counter)


def run_fund(
    settings: Settings, bank: DeviceBank, drive: DriveTally, run_key: str, out: TextIO
) -> FundTally | None:
    try:
        fund = InternetFund(settings, device_bank=bank)
    except InvalidHouseholdKey as missing:
        print(f"\nInternet fund: left out ({missing.message})", file=out)
        return None
    tally = FundTally()
    try:
        levies(fund, tally)
        subsidies(fund, drive, run_key, tally)
        cofinancing(fund, drive, tally)
    finally:
        fund.close()
    return tally


def attempt(tally: FundTally, command: Callable[..., object], **arguments: object) -> bool:
    """Run a command; a refusal is counted by its code (nothing was recorded)."""
    try:
        command(**arguments)
    except DomainError as refused:
        tally.refused[refused.code] += 1
        return False
    return True


def levies(fund: InternetFund, tally: FundTally) -> None:
    fund.decide_rate(
        period=PERIOD,
        rate_numerator=RATE[0],
        rate_denominator=RATE[1],
        reference="Décision ARCEP n° 2027-2142 (démo)",
        decided_on=DECIDED_ON,
        due_on=DUE_ON,
        by="regulator:arcep",
        now=FUND_START,
    )
    for siren, revenue, _, _ in TELECOM_OPERATORS:
        fund.declare_revenue(
            siren=siren, period=PERIOD, revenue_cents=revenue, by=siren, now=FUND_START
        )
    fund.correct_declaration(
        siren=CORRECTED[0],
        period=PERIOD,
        key="audit-2028",
        revenue_cents=CORRECTED[1],
        reason="revenue from broadcasting taken out after audit",
        by=CORRECTED[0],
        now=FUND_START + timedelta(days=30),
    )
    due_at = datetime.combine(DUE_ON, datetime.min.time(), UTC)
    for siren, _, share, days in TELECOM_OPERATORS:
        due = fund.get_levy(siren, PERIOD).levy_cents
        fund.receive_levy_payment(
            siren=siren,
            period=PERIOD,
            payment_ref=f"VIR-{siren}-{PERIOD}",
            amount_cents=due * share // 1000,
            by="bank-statement",
            now=due_at + timedelta(days=days),
        )
    month_after = due_at + timedelta(days=30)
    statuses = fund.levy_statuses(PERIOD, month_after)
    tally.levies_due_cents = sum(s.levy_cents for s in statuses)
    tally.levies_paid_cents = sum(s.paid_cents for s in statuses)
    behind = (*fund.late_payments(PERIOD, month_after), *fund.overdue_levies(PERIOD, month_after))
    tally.late = len({status.siren for status in behind})


def subsidies(fund: InternetFund, drive: DriveTally, run_key: str, tally: FundTally) -> None:
    """The first pupils of each territory: their households' connections for the year."""
    now, chosen = FUND_START + timedelta(days=120), Counter[str]()
    for n, (device, pupil, territory) in enumerate(drive.handed_to_pupils):
        if chosen[territory] == SUBSIDIES_PER_TERRITORY:
            continue
        chosen[territory] += 1
        household = HouseholdIdentity(f"Famille {pupil}", f"{n} rue des Écoles ({run_key})")
        to_provider = n % 2 == 0
        if attempt(
            tally,
            fund.pay_subsidy,
            household=household,
            period=PERIOD,
            device_id=device,
            pupil_id=pupil,
            amount_cents=SUBSIDY_CENTS,
            payee="provider" if to_provider else "household",
            provider_siren=PROVIDER_SIREN if to_provider else "",
            by="education-service",
            now=now,
        ):
            tally.subsidies += 1
            tally.subsidies_cents += SUBSIDY_CENTS
    if drive.handed_to_pupils:  # the first household again, typed in capitals: refused
        device, pupil, _ = drive.handed_to_pupils[0]
        again = HouseholdIdentity(f"FAMILLE {pupil.upper()}", f"0 RUE DES ÉCOLES ({run_key})")
        attempt(
            tally,
            fund.pay_subsidy,
            household=again,
            period=PERIOD,
            device_id=device,
            pupil_id=pupil,
            amount_cents=SUBSIDY_CENTS,
            payee="household",
            by="education-service",
            now=now,
        )


def cofinancing(fund: InternetFund, drive: DriveTally, tally: FundTally) -> None:
    if not drive.handed_to_pupils:
        return
    territory, now = drive.handed_to_pupils[0][2], FUND_START + timedelta(days=60)
    fund.open_cofinancing(territory=territory, by="operator", now=now)
    for kind, cents in FUNDERS:
        funder, key = f"{kind}-{territory}", f"{kind}-2028"
        terms = {"territory": territory, "key": key, "funder_id": funder, "amount_cents": cents}
        fund.pledge(**terms, funder_kind=kind, by=funder, now=now)
        fund.receive_cofinancing_payment(**terms, by="bank-statement", now=now)
    for n, cents in enumerate(SPEND_CENTS):
        attempt(
            tally,
            fund.spend,
            territory=territory,
            key=f"spend-{n}",
            amount_cents=cents,
            purpose="devices",
            reference=f"lot-{n}",
            by="operator",
            now=now + timedelta(days=n + 1),
        )
    fund.close_cofinancing(territory=territory, by="operator", now=now + timedelta(days=200))
    report = fund.cofinancing_report(territory)
    tally.matched_cents, tally.spent_cents = report.matched_cents, report.spent_cents
    tally.returned_cents = report.returned_cents


def print_fund(tally: FundTally | None, out: TextIO) -> None:
    if tally is None:
        return
    print(
        f"\nInternet fund {PERIOD}: {Money(tally.levies_due_cents)} of levies due, "
        f"{Money(tally.levies_paid_cents)} paid in ({tally.late} operator(s) late or short); "
        f"{tally.subsidies} households' connections paid, {Money(tally.subsidies_cents)}; "
        f"co-financing matched {Money(tally.matched_cents)}, spent {Money(tally.spent_cents)}, "
        f"{Money(tally.returned_cents)} returned to its funders",
        file=out,
    )
    refused = ", ".join(f"{code} × {n}" for code, n in sorted(tally.refused.items()))
    print(f"Refused, with nothing changed: {refused or 'none'}", file=out)
