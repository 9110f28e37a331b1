"""The internet fund on the in-memory store: levies in, subsidies out for devices delivered
through a real device bank, co-financing matched and spent, retries answered as the first
time, refusals recording nothing, and the books balanced and replayable."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError

from ledger import accounts
from ledger.cofinancing import CoFinancing
from ledger.errors import (
    CoFinancingNotFound,
    ContributionRateNotFound,
    DeviceNotDeliveredToPupil,
    DeviceNotFound,
    DomainError,
    HouseholdAlreadySubsidised,
    IdempotencyKeyReused,
    InsufficientFund,
    LevyAlreadyDeclared,
    LevyNotFound,
    MatchedAmountExceeded,
    PaymentExceedsLevy,
    PupilAlreadySubsidised,
    RateAlreadyDecided,
    TerritoryNotFound,
)
from ledger.fund_app import InternetFund
from ledger.households import HouseholdIdentity, HouseholdKey
from ledger.levies import LevyPeriod, OperatorLevy
from ledger.parties import company, organisation, school
from ledger.settings import Settings
from ledger.subsidies import FUND_ID, Fund, HouseholdSubsidy

NOW = datetime(2027, 9, 1, tzinfo=UTC)
DAY = timedelta(days=1)
DUE = date(2027, 12, 31)
KEY = HouseholdKey(bytes(range(32)))
DONOR = company("38012986646850")
COLLECTOR, REFURBISHER, EDUCATION = "73282932000074", "55210055400013", "44306184100047"
UAI = "0750655E"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
ORANGE, FREE = "380129866", "421938861"  # telecom operators (SIREN)
HELENE = HouseholdIdentity("Hélène Dupré", "3 rue de la Paix, 75002 Paris")


@pytest.fixture
def fund(memory_settings: Settings) -> InternetFund:
    """The fund with its own device bank on the same log, a territory and organisations."""
    app = InternetFund(memory_settings, household_key=KEY)
    bank = app.device_bank
    bank.register_territory(
        code="lyon",
        name="Métropole de Lyon",
        kind="metropolis",
        budget_cents=1_000_000,
        funder_id="bdt",
        by="operator",
        now=NOW,
    )
    for siret, role in [(COLLECTOR, "collector"), (REFURBISHER, "refurbisher")]:
        bank.approve_organisation(siret=siret, name=role, role=role, by="op", now=NOW)
    bank.approve_organisation(
        siret=EDUCATION, name="Rectorat", role="education_service", by="op", now=NOW
    )
    return app


def allocated(fund: InternetFund, pupil: str, serial: str) -> UUID:
    """A device taken through the chain and allocated to a pupil of UAI's school."""
    bank = fund.device_bank
    device = bank.pledge_device(
        donor=DONOR,
        territory="lyon",
        kind="laptop",
        serial_number=serial,
        make="Dell",
        model="Latitude 5490",
        by="donor",
        now=NOW,
    )
    for giver, receiver in [(DONOR, COLLECTOR), (organisation(COLLECTOR), REFURBISHER)]:
        bank.hand_over(device, giver=giver, receiver=organisation(receiver), by="u", now=NOW)
        bank.confirm_handover(device, receiver=organisation(receiver), by="u", now=NOW + DAY)
    bank.diagnose(device, refurbisher=REFURBISHER, grade="A", by="tech", now=NOW + DAY)
    bank.wipe(
        device,
        refurbisher=REFURBISHER,
        method="crypto_erase",
        certificate_id=f"BL-{serial}",
        certificate_sha256=SHA256,
        by="tech",
        now=NOW + DAY,
    )
    bank.refurbish(
        device, refurbisher=REFURBISHER, parts=["SSD"], cost_cents=4500, by="t", now=NOW + DAY
    )
    bank.allocate(
        device, education_service=EDUCATION, pupil_id=pupil, school_uai=UAI, by="e", now=NOW + DAY
    )
    return device


def delivered(fund: InternetFund, pupil: str = "pupil-1", serial: str = "SN1") -> UUID:
    device = allocated(fund, pupil, serial)
    bank = fund.device_bank
    bank.deliver(device, refurbisher=REFURBISHER, by="driver", now=NOW + 2 * DAY)
    bank.confirm_handover(
        device, receiver=school(UAI), receiver_ref="cpe-42", by="cpe", now=NOW + 3 * DAY
    )
    return device


def decide(fund: InternetFund, numerator: int = 35, period: str = "2027") -> UUID:
    return fund.decide_rate(
        period=period,
        rate_numerator=numerator,
        rate_denominator=10_000,
        reference="Décision ARCEP n° 2027-0456",
        decided_on=date(2027, 2, 15),
        due_on=DUE,
        by="arcep",
        now=NOW,
    )


def levied(fund: InternetFund, paid_cents: int = 350_000) -> None:
    """Orange's levy of 3 500 € for 2027, paid (in part) into the fund."""
    decide(fund)
    fund.declare_revenue(siren=ORANGE, period="2027", revenue_cents=10**8, by="orange", now=NOW)
    if paid_cents:
        fund.receive_levy_payment(
            siren=ORANGE,
            period="2027",
            payment_ref="VIR-ORANGE-1",
            amount_cents=paid_cents,
            by="bank",
            now=NOW,
        )


def subsidise(
    fund: InternetFund,
    device: UUID,
    household: HouseholdIdentity = HELENE,
    pupil: str = "pupil-1",
    amount_cents: int = 10_000,
    now: datetime = NOW + 4 * DAY,
) -> UUID:
    return fund.pay_subsidy(
        household=household,
        period="2027",
        device_id=device,
        pupil_id=pupil,
        amount_cents=amount_cents,
        payee="provider",
        provider_siren=FREE,
        by="operator",
        now=now,
    )


def log(fund: InternetFund) -> list[object]:
    notifications = fund.recorder.select_notifications(1, 100_000)
    return [fund.mapper.to_domain_event(n) for n in notifications]


def assert_refused(fund: InternetFund, error: type[DomainError], action) -> DomainError:
    """The action raises `error`, and nothing is recorded."""
    before = len(log(fund))
    with pytest.raises(error) as refused:
        action()
    assert len(log(fund)) == before
    return refused.value


# Levies -----------------------------------------------------------------------------------


def test_a_levy_is_declared_corrected_paid_and_its_payment_goes_into_the_fund(fund):
    levied(fund, paid_cents=100_000)
    cents = fund.correct_declaration(
        siren=ORANGE,
        period="2027",
        key="c1",
        revenue_cents=12 * 10**7,
        reason="audit",
        by="orange",
        now=NOW,
    )
    assert cents == 420_000 and fund.get_levy(ORANGE, "2027").outstanding_cents == 320_000
    assert fund.fund_balance_cents() == 100_000
    assert fund.get_levy_period("2027").levies == {ORANGE: fund.get_levy(ORANGE, "2027").id}


def test_decisions_declarations_and_payments_retried_answer_as_the_first_time(fund):
    first = decide(fund)
    levied(fund)
    before = len(log(fund))
    assert decide(fund) == first
    fund.declare_revenue(siren=ORANGE, period="2027", revenue_cents=10**8, by="o", now=NOW)
    fund.receive_levy_payment(
        siren=ORANGE,
        period="2027",
        payment_ref="VIR-ORANGE-1",
        amount_cents=350_000,
        by="bank",
        now=NOW + DAY,
    )
    assert len(log(fund)) == before and fund.fund_balance_cents() == 350_000


def test_a_levy_refused_records_nothing(fund):
    assert_refused(
        fund,
        ContributionRateNotFound,
        lambda: fund.declare_revenue(siren=ORANGE, period="2027", revenue_cents=1, by="o", now=NOW),
    )
    levied(fund, paid_cents=0)
    assert_refused(fund, RateAlreadyDecided, lambda: decide(fund, numerator=40))
    assert_refused(
        fund,
        LevyAlreadyDeclared,
        lambda: fund.declare_revenue(siren=ORANGE, period="2027", revenue_cents=2, by="o", now=NOW),
    )
    for siren, cents, error in [(FREE, 1, LevyNotFound), (ORANGE, 350_001, PaymentExceedsLevy)]:
        assert_refused(
            fund,
            error,
            lambda s=siren, c=cents: fund.receive_levy_payment(
                siren=s, period="2027", payment_ref="VIR-X", amount_cents=c, by="b", now=NOW
            ),
        )
    assert fund.get_fund() is None and fund.fund_balance_cents() == 0


def test_overdue_levies_and_late_payments_are_listed_by_now(fund):
    levied(fund, paid_cents=100_000)
    fund.declare_revenue(siren=FREE, period="2027", revenue_cents=10**6, by="free", now=NOW)
    after_due = datetime(2028, 1, 15, tzinfo=UTC)
    assert fund.overdue_levies("2027", NOW) == ()
    assert [(s.siren, s.overdue_cents) for s in fund.overdue_levies("2027", after_due)] == [
        (ORANGE, 250_000),
        (FREE, 3500),
    ]
    fund.receive_levy_payment(
        siren=FREE,
        period="2027",
        payment_ref="VIR-FREE-1",
        amount_cents=3500,
        by="bank",
        now=after_due,
    )
    assert [s.siren for s in fund.overdue_levies("2027", after_due)] == [ORANGE]
    (late,) = fund.late_payments("2027", after_due)
    assert (late.siren, [p.payment_ref for p in late.late_payments]) == (FREE, ["VIR-FREE-1"])


# Household subsidies ----------------------------------------------------------------------


def test_a_subsidy_naming_a_device_delivered_to_the_pupil_is_paid_from_the_fund(fund):
    levied(fund)
    device = delivered(fund)
    subsidy = fund.get_subsidy(subsidise(fund, device))
    assert subsidy.id == fund.subsidy_of(HELENE, "2027")
    assert (subsidy.device_id, subsidy.pupil_id, subsidy.provider_siren) == (
        device,
        "pupil-1",
        FREE,
    )
    assert subsidy.household == KEY.fingerprint(HELENE)
    assert fund.fund_balance_cents() == 340_000


def test_the_same_household_typed_otherwise_is_answered_as_the_first_time(fund):
    levied(fund)
    device = delivered(fund)
    first = subsidise(fund, device)
    before = len(log(fund))
    typed = HouseholdIdentity("  HELENE dupre ", "3, Rue de la Paix - 75002 PARIS")
    assert subsidise(fund, device, typed) == first
    assert len(log(fund)) == before
    refused = assert_refused(
        fund, HouseholdAlreadySubsidised, lambda: subsidise(fund, device, typed, amount_cents=50)
    )
    assert "Dupr" not in refused.message and "Paix" not in refused.message


def test_a_subsidy_for_a_device_not_delivered_to_the_pupil_is_refused(fund):
    levied(fund)
    device = allocated(fund, "pupil-1", "SN1")
    assert_refused(fund, DeviceNotDeliveredToPupil, lambda: subsidise(fund, device))
    device = delivered(fund, "pupil-2", "SN2")
    assert_refused(fund, DeviceNotDeliveredToPupil, lambda: subsidise(fund, device, pupil="p-9"))
    assert_refused(fund, DeviceNotFound, lambda: subsidise(fund, UUID(int=5)))
    assert fund.fund_balance_cents() == 350_000


def test_a_device_delivered_and_since_returned_still_counts_for_its_pupil(fund):
    levied(fund)
    device = delivered(fund)
    fund.device_bank.return_device(
        device, school_uai=UAI, refurbisher=REFURBISHER, reason="moved", by="c", now=NOW + 3 * DAY
    )
    fund.device_bank.confirm_handover(
        device, receiver=organisation(REFURBISHER), by="t", now=NOW + 4 * DAY
    )
    subsidise(fund, device)
    assert fund.fund_balance_cents() == 340_000


def test_a_subsidy_beyond_the_fund_or_for_a_pupil_already_subsidised_is_refused(fund):
    device = delivered(fund)
    assert_refused(fund, InsufficientFund, lambda: subsidise(fund, device))  # no fund yet
    levied(fund, paid_cents=15_000)
    subsidise(fund, device)
    neighbour = HouseholdIdentity("Jean Martin", "5 rue de la Paix, 75002 Paris")
    assert_refused(fund, PupilAlreadySubsidised, lambda: subsidise(fund, device, neighbour))
    other = delivered(fund, "pupil-2", "SN2")
    assert_refused(
        fund, InsufficientFund, lambda: subsidise(fund, other, neighbour, pupil="pupil-2")
    )
    assert fund.fund_balance_cents() == 5000


def test_no_identifier_of_a_household_reaches_the_log(fund):
    levied(fund)
    subsidise(fund, delivered(fund))
    stored = b"".join(n.state for n in fund.recorder.select_notifications(1, 100_000))
    for word in ["Hélène", "Helene", "helene", "Dupré", "dupre", "Paix", "paix", "75002"]:
        assert word.encode() not in stored


def test_a_stale_fund_is_refused_by_the_store(fund):
    """Two subsidies read the same version of the fund: the store keeps one."""
    levied(fund)
    one, two = delivered(fund, "pupil-1", "SN1"), delivered(fund, "pupil-2", "SN2")
    neighbour = HouseholdIdentity("Jean Martin", "5 rue de la Paix, 75002 Paris")
    stale = []
    for household, device, pupil in [(HELENE, one, "pupil-1"), (neighbour, two, "pupil-2")]:
        subsidy = HouseholdSubsidy.pay(
            household=fund.fingerprint(household),
            period="2027",
            device_id=device,
            pupil_id=pupil,
            amount_cents=100,
            payee="household",
            by="op",
            now=NOW,
        )
        copy = fund.repository.get(FUND_ID)
        copy.pay_out(subsidy, by="op", now=NOW)
        stale.append((subsidy, copy))
    fund.record(*stale[0])
    with pytest.raises(IntegrityError):
        fund.record(*stale[1])


def test_concurrent_subsidies_never_overdraw_the_fund_nor_pay_a_household_twice(fund):
    levied(fund, paid_cents=30_000)  # three subsidies of 100 €
    devices = [delivered(fund, f"pupil-{n}", f"SN{n}") for n in range(6)]
    # A second application on the same log: two processes' worth of writers.
    other = InternetFund(fund.settings, device_bank=fund.device_bank, household_key=KEY)
    other.recorder = other.events.recorder = fund.recorder
    apps = [fund, other]
    households = [HouseholdIdentity(f"Famille {n}", f"{n} rue Neuve, Lyon") for n in range(6)]
    outcomes: list[object] = []
    start = threading.Barrier(8)

    def pay(n: int) -> None:
        start.wait()
        app, device, household, pupil = apps[n % 2], devices[n % 6], households[n % 6], n % 6
        try:
            outcomes.append(subsidise(app, device, household, f"pupil-{pupil}"))
        except DomainError as refused:
            outcomes.append(type(refused))

    threads = [threading.Thread(target=pay, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    paid = {o for o in outcomes if isinstance(o, UUID)}
    assert len(paid) == 3 and fund.fund_balance_cents() == 0
    assert set(outcomes) - paid <= {InsufficientFund, HouseholdAlreadySubsidised}
    assert_books_balance(fund)


# Co-financing -----------------------------------------------------------------------------


def test_co_financing_is_matched_spent_reported_and_returned(fund):
    fund.open_cofinancing(territory="lyon", by="operator", now=NOW)
    for funder, kind, cents in [
        ("bdt", "operator", 60_000),
        ("metropole-lyon", "local_authority", 40_000),
        ("orange-fondation", "company", 50_000),
    ]:
        key = f"{funder}-1"
        fund.pledge(
            territory="lyon",
            key=key,
            funder_id=funder,
            funder_kind=kind,
            amount_cents=cents,
            by=funder,
            now=NOW,
        )
        fund.receive_cofinancing_payment(
            territory="lyon", key=key, funder_id=funder, amount_cents=cents, by="bank", now=NOW
        )
    lineage = fund.spend(
        territory="lyon",
        key="s1",
        amount_cents=90_000,
        purpose="devices",
        reference="inv-7",
        by="operator",
        now=NOW,
    )
    assert lineage == (("bdt", 30_000), ("metropole-lyon", 30_000), ("orange-fondation", 30_000))
    assert_refused(
        fund,
        MatchedAmountExceeded,
        lambda: fund.spend(
            territory="lyon",
            key="s2",
            amount_cents=30_001,
            purpose="subsidies",
            reference="sub-1",
            by="op",
            now=NOW,
        ),
    )
    report = fund.cofinancing_report("lyon")
    assert (report.pledged_cents, report.paid_cents, report.matched_cents) == (
        150_000,
        150_000,
        120_000,
    )
    assert (report.spent_cents, report.available_cents) == (90_000, 30_000)
    returned = fund.close_cofinancing(territory="lyon", by="operator", now=NOW + DAY)
    assert returned == (("bdt", 30_000), ("metropole-lyon", 10_000), ("orange-fondation", 20_000))
    assert_books_balance(fund)


def test_co_financing_needs_a_device_bank_territory_and_an_open_one(fund):
    assert_refused(
        fund, TerritoryNotFound, lambda: fund.open_cofinancing(territory="lille", by="o", now=NOW)
    )
    assert_refused(
        fund,
        CoFinancingNotFound,
        lambda: fund.pledge(
            territory="lyon",
            key="p",
            funder_id="bdt",
            funder_kind="operator",
            amount_cents=1,
            by="o",
            now=NOW,
        ),
    )
    first = fund.open_cofinancing(territory="lyon", by="operator", now=NOW)
    assert fund.open_cofinancing(territory="lyon", by="operator", now=NOW + DAY) == first
    assert_refused(
        fund,
        IdempotencyKeyReused,
        lambda: fund.open_cofinancing(territory="lyon", ratio=(2, 1, 1), by="o", now=NOW),
    )


# The books --------------------------------------------------------------------------------


def assert_books_balance(fund: InternetFund) -> None:
    """Trial balance zero; the fund's account, its aggregate and its money events agree."""
    events = log(fund)
    balances = accounts.fold(events)
    assert sum(balances.values()) == 0
    paid_in = sum(e.amount_cents for e in events if isinstance(e, OperatorLevy.PaymentReceived))
    paid_out = sum(e.amount_cents for e in events if isinstance(e, HouseholdSubsidy.Paid))
    assert balances.get(accounts.internet_fund(), 0) == paid_in - paid_out
    assert fund.fund_balance_cents() == paid_in - paid_out >= 0
    subsidised = [(e.household, e.period) for e in events if isinstance(e, HouseholdSubsidy.Paid)]
    assert len(subsidised) == len(set(subsidised))
    for e in events:
        if isinstance(e, CoFinancing.Spent):
            assert sum(c for _, c in e.attribution) == e.amount_cents


def test_the_books_balance_and_replay_equals_live(fund):
    levied(fund)
    subsidise(fund, delivered(fund))
    fund.correct_declaration(
        siren=ORANGE,
        period="2027",
        key="c1",
        revenue_cents=9 * 10**7,
        reason="audit",
        by="orange",
        now=NOW,
    )
    fund.open_cofinancing(territory="lyon", by="operator", now=NOW)
    for funder, kind in [("bdt", "operator"), ("region", "local_authority"), ("sfr", "company")]:
        fund.pledge(
            territory="lyon",
            key=f"p-{funder}",
            funder_id=funder,
            funder_kind=kind,
            amount_cents=999,
            by="f",
            now=NOW,
        )
        fund.receive_cofinancing_payment(
            territory="lyon", key=funder, funder_id=funder, amount_cents=999, by="f", now=NOW
        )
    fund.spend(
        territory="lyon",
        key="s",
        amount_cents=1000,
        purpose="subsidies",
        reference="sub-1",
        by="op",
        now=NOW,
    )
    fund.close_cofinancing(territory="lyon", by="operator", now=NOW)
    assert_books_balance(fund)
    kinds = (LevyPeriod, OperatorLevy, Fund, HouseholdSubsidy, CoFinancing)
    replayed_kinds = set()
    for aggregate_id in {e.originator_id for e in log(fund)}:
        live = fund.repository.get(aggregate_id)
        if not isinstance(live, kinds):
            continue
        replayed = None
        for event in fund.repository.event_store.get(aggregate_id):
            replayed = event.mutate(replayed)
        assert vars(replayed) == vars(live)
        replayed_kinds.add(type(live))
    assert replayed_kinds == set(kinds)
