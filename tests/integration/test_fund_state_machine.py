"""The internet fund under random commands, valid and invalid, on each store.

Hypothesis has the regulator decide rates, telecom operators declare, correct and pay their
levies, the fund pay households' connections for pupils who received a device (households
typed with other accents, cases and spaces, devices not delivered, pupils not theirs), and
funders pledge, pay and spend co-financing in a territory. A model kept here, by its own
arithmetic, says what the books must hold. After every step:

- a refused command recorded nothing (same log size);
- the fund balance equals the levies paid minus the subsidies paid, on the fund aggregate
  and in the books;
- no household was subsidised twice in a period (the model knows households by who they
  are, not by how they were typed);
- spend never exceeds the matched amount: three times the smallest kind's payments;
- the trial balance of the log's postings is zero;
- replaying every aggregate from the store gives its live state.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ledger import accounts
from ledger.errors import DomainError
from ledger.fund_app import InternetFund
from ledger.households import HouseholdIdentity, HouseholdKey
from ledger.parties import company, organisation, school
from ledger.settings import Settings
from ledger.subsidies import FUND_ID, HouseholdSubsidy
from tests.stateful import run_on_postgresql, run_on_sqlite

NOW = datetime(2027, 9, 1, tzinfo=UTC)
KEY = HouseholdKey(bytes(range(32)))
DONOR = company("38012986646850")
COLLECTOR, REFURBISHER, EDUCATION = "73282932000074", "55210055400013", "44306184100047"
UAI = "0750655E"
SIRENS = ("380129866", "421938861")
PERIODS = ("2027", "2028")
# Households as the model knows them, each typed several ways.
HOUSEHOLDS = (
    ("Hélène Dupré", "3 rue de la Paix, 75002 Paris"),
    ("Karim Benali", "12 avenue Jean Jaurès, 69007 Lyon"),
    ("Marie Hoarau", "8 chemin des Lataniers, 97400 Saint-Denis"),
)
SPELLINGS = (
    lambda text: text,
    lambda text: text.upper(),
    lambda text: "  " + text.replace(" ", "   ") + " ",
    lambda text: text.replace("é", "e").replace("è", "e"),
)
PUPILS = ("pupil-0", "pupil-1", "pupil-2")
KINDS = ("operator", "local_authority", "company")
AMOUNTS = st.sampled_from((0, 2_500, 2_500, 10_000, 10_001))


class FundMachine(RuleBasedStateMachine):
    store_factory = None  # set per store below

    @initialize()
    def open_the_fund(self) -> None:
        self.fund = InternetFund(
            Settings(database_url=type(self).store_factory()), household_key=KEY
        )
        self.now = NOW
        self.serial = itertools.count()
        self.devices = {pupil: self.deliver(pupil) for pupil in PUPILS[:2]}
        self.devices[PUPILS[2]] = self.allocate(PUPILS[2])  # never delivered
        self.fund.open_cofinancing(territory="lyon", by="op", now=NOW)
        self.rates: set[str] = {"2027"}
        # A rate and one declaration to start from: the rules add others, valid or not.
        self.fund.decide_rate(
            period="2027",
            rate_numerator=35,
            rate_denominator=10_000,
            reference="ARCEP 2027",
            decided_on=date(2027, 2, 1),
            due_on=date(2027, 12, 31),
            by="arcep",
            now=NOW,
        )
        self.fund.declare_revenue(
            siren=SIRENS[0], period="2027", revenue_cents=10**8, by="op", now=NOW
        )
        self.levies_paid = self.subsidies_paid = 0
        self.subsidised: set[tuple[int, str]] = set()
        self.paid_by_kind = dict.fromkeys(KINDS, 0)
        self.spent = 0
        self.ids: set[UUID] = set()

    def teardown(self) -> None:
        if hasattr(self, "fund"):
            self.fund.device_bank.close()
            self.fund.close()

    # Seeding devices -------------------------------------------------------------------

    def allocate(self, pupil: str) -> UUID:
        bank = self.fund.device_bank
        if not hasattr(self, "seeded"):
            self.seeded = True
            bank.register_territory(
                code="lyon",
                name="Lyon",
                kind="metropolis",
                budget_cents=10**6,
                funder_id="bdt",
                by="op",
                now=NOW,
            )
            for siret, role in ((COLLECTOR, "collector"), (REFURBISHER, "refurbisher")):
                bank.approve_organisation(siret=siret, name=role, role=role, by="op", now=NOW)
            bank.approve_organisation(
                siret=EDUCATION, name="Rectorat", role="education_service", by="op", now=NOW
            )
        device = bank.pledge_device(
            donor=DONOR,
            territory="lyon",
            kind="laptop",
            serial_number=f"SN-{pupil}",
            make="Dell",
            model="Latitude",
            by="d",
            now=NOW,
        )
        for giver, receiver in ((DONOR, COLLECTOR), (organisation(COLLECTOR), REFURBISHER)):
            bank.hand_over(device, giver=giver, receiver=organisation(receiver), by="u", now=NOW)
            bank.confirm_handover(device, receiver=organisation(receiver), by="u", now=NOW)
        bank.diagnose(device, refurbisher=REFURBISHER, grade="A", by="t", now=NOW)
        bank.wipe(
            device,
            refurbisher=REFURBISHER,
            method="overwrite",
            certificate_id=f"EC-{pupil}",
            certificate_sha256="ab" * 32,
            by="t",
            now=NOW,
        )
        bank.refurbish(
            device, refurbisher=REFURBISHER, parts=("ssd",), cost_cents=3000, by="t", now=NOW
        )
        bank.allocate(
            device, education_service=EDUCATION, pupil_id=pupil, school_uai=UAI, by="e", now=NOW
        )
        return device

    def deliver(self, pupil: str) -> UUID:
        device, bank = self.allocate(pupil), self.fund.device_bank
        bank.deliver(device, refurbisher=REFURBISHER, by="r", now=NOW)
        bank.confirm_handover(device, receiver=school(UAI), receiver_ref="cpe", by="s", now=NOW)
        return device

    # Running commands ------------------------------------------------------------------

    def log_size(self) -> int:
        return self.fund.recorder.max_notification_id() or 0

    def act(self, action) -> bool:  # type: ignore[no-untyped-def]
        self.now += timedelta(hours=5)
        before = self.log_size()
        try:
            action()
        except DomainError:
            assert self.log_size() == before
            return False
        return True

    # Rules -----------------------------------------------------------------------------

    @rule(period=st.sampled_from(PERIODS), numerator=st.sampled_from((35, 50, 20_000)))
    def decide_rate(self, period: str, numerator: int) -> None:
        done = self.act(
            lambda: self.fund.decide_rate(
                period=period,
                rate_numerator=numerator,
                rate_denominator=10_000,
                reference=f"ARCEP {period}-{numerator}",
                decided_on=date(2027, 2, 1),
                due_on=date(2027, 12, 31),
                by="arcep",
                now=self.now,
            )
        )
        if done:
            assert numerator <= 10_000
            self.rates.add(period)

    @rule(
        siren=st.sampled_from(SIRENS),
        period=st.sampled_from(PERIODS),
        revenue=st.sampled_from((-1, 0, 10**6, 10**8)),
    )
    def declare(self, siren: str, period: str, revenue: int) -> None:
        if self.act(
            lambda: self.fund.declare_revenue(
                siren=siren, period=period, revenue_cents=revenue, by=siren, now=self.now
            )
        ):
            assert period in self.rates

    @rule(
        siren=st.sampled_from(SIRENS),
        period=st.sampled_from(PERIODS),
        revenue=st.sampled_from((0, 5 * 10**5, 2 * 10**8)),
    )
    def correct(self, siren: str, period: str, revenue: int) -> None:
        key = f"corr-{next(self.serial)}"
        self.act(
            lambda: self.fund.correct_declaration(
                siren=siren,
                period=period,
                key=key,
                revenue_cents=revenue,
                reason="audit",
                by=siren,
                now=self.now,
            )
        )

    @rule(
        siren=st.sampled_from(SIRENS[:1] * 3 + SIRENS[1:]),
        period=st.sampled_from(PERIODS[:1] * 3 + PERIODS[1:]),
        amount=st.sampled_from((175, 20_000, 35_000, 10**6)),
        again=st.booleans(),
    )
    def pay_levy(self, siren: str, period: str, amount: int, again: bool) -> None:
        ref = f"VIR-{siren}-{period}-{amount}" if again else f"VIR-{next(self.serial)}"
        was = self.fund_balance()
        if self.act(
            lambda: self.fund.receive_levy_payment(
                siren=siren,
                period=period,
                payment_ref=ref,
                amount_cents=amount,
                by="bank",
                now=self.now,
            )
        ):
            self.levies_paid += self.fund_balance() - was  # a retried reference adds nothing
            assert self.fund_balance() - was in (0, amount)

    @rule(
        who=st.integers(0, len(HOUSEHOLDS) - 1),
        spelling=st.sampled_from(SPELLINGS),
        period=st.sampled_from(PERIODS),
        pupil=st.sampled_from(PUPILS),
        device_of=st.sampled_from((None, None, None, *PUPILS)),  # None: the pupil's own
        amount=AMOUNTS,
    )
    def pay_subsidy(self, who, spelling, period, pupil, device_of, amount) -> None:  # type: ignore[no-untyped-def]
        device_of = device_of or pupil
        name, address = HOUSEHOLDS[who]
        household = HouseholdIdentity(spelling(name), spelling(address))
        paid: list[UUID] = []
        if self.act(
            lambda: paid.append(
                self.fund.pay_subsidy(
                    household=household,
                    period=period,
                    device_id=self.devices[device_of],
                    pupil_id=pupil,
                    amount_cents=amount,
                    payee="household",
                    by="fm",
                    now=self.now,
                )
            )
        ):
            self.ids.add(paid[0])
            if (who, period) in self.subsidised:
                return  # a retry of the same subsidy: nothing new
            assert pupil == device_of and pupil != PUPILS[2] and 0 < amount <= 10_000
            self.subsidised.add((who, period))
            self.subsidies_paid += amount

    @rule(
        kinds=st.sampled_from((KINDS[:1], KINDS[1:2], KINDS)),
        amount=st.sampled_from((1_000, 7_000)),
    )
    def pledge_and_pay(self, kinds: tuple[str, ...], amount: int) -> None:
        for kind in kinds:
            self.pledge_and_pay_one(kind, amount)

    def pledge_and_pay_one(self, kind: str, amount: int) -> None:
        key, funder = f"p-{next(self.serial)}", f"{kind}-1"
        if self.act(
            lambda: self.fund.pledge(
                territory="lyon",
                key=key,
                funder_id=funder,
                funder_kind=kind,
                amount_cents=amount,
                by=funder,
                now=self.now,
            )
        ) and self.act(
            lambda: self.fund.receive_cofinancing_payment(
                territory="lyon",
                key=key,
                funder_id=funder,
                amount_cents=amount,
                by="bank",
                now=self.now,
            )
        ):
            self.paid_by_kind[kind] += amount

    @rule(amount=st.sampled_from((1, 999, 3_000, 21_000)))
    def spend(self, amount: int) -> None:
        key = f"s-{next(self.serial)}"
        if self.act(
            lambda: self.fund.spend(
                territory="lyon",
                key=key,
                amount_cents=amount,
                purpose="devices",
                reference="lot-7",
                by="fm",
                now=self.now,
            )
        ):
            self.spent += amount
            assert self.spent <= 3 * min(self.paid_by_kind.values())

    # Invariants ------------------------------------------------------------------------

    def fund_balance(self) -> int:
        return self.fund.fund_balance_cents()

    @invariant()
    def the_fund_holds_levies_paid_less_subsidies_paid(self) -> None:
        if hasattr(self, "fund"):
            assert self.fund_balance() == self.levies_paid - self.subsidies_paid >= 0

    @invariant()
    def spend_never_exceeds_the_matched_amount(self) -> None:
        if hasattr(self, "fund"):
            report = self.fund.cofinancing_report("lyon")
            assert report.matched_cents == 3 * min(self.paid_by_kind.values())
            assert report.spent_cents == self.spent <= report.matched_cents

    @invariant()
    def the_books_balance_and_replay_equals_live(self) -> None:
        if not hasattr(self, "fund"):
            return
        notifications = self.fund.recorder.select_notifications(start=None, limit=100_000)
        events = [self.fund.mapper.to_domain_event(n) for n in notifications]
        balances = accounts.fold(events)
        assert sum(balances.values()) == 0
        in_fund = sum(v for a, v in balances.items() if a.startswith("internet_fund:"))
        assert in_fund == self.levies_paid - self.subsidies_paid
        subsidies = {e.originator_id for e in events if isinstance(e, HouseholdSubsidy.Paid)}
        assert len(subsidies) == len(self.subsidised)
        for aggregate_id in {*self.ids, FUND_ID} & {e.originator_id for e in events}:
            replayed = None
            for event in self.fund.events.get(aggregate_id):
                replayed = event.mutate(replayed)
            assert replayed.__dict__ == self.fund.repository.get(aggregate_id).__dict__


def test_the_fund_holds_under_random_commands_on_sqlite(tmp_path_factory) -> None:
    run_on_sqlite(FundMachine, tmp_path_factory, steps=30, share=0.3)


@pytest.mark.postgres
def test_the_fund_holds_under_random_commands_on_postgresql(pg_template: str) -> None:
    run_on_postgresql(FundMachine, pg_template, steps=30, share=0.2)
