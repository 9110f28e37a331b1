"""The internet fund: the application through which telecom operators' levies come in,
households' connections are paid, and territories' co-financing is matched and spent (the
rules live in `ledger.levies`, `ledger.subsidies`, `ledger.cofinancing`; households'
fingerprints in `ledger.households`).

Each command saves all it changes in one transaction: a declaration with the period's roll
of operators; a levy payment with the fund; a subsidy with the fund. On a concurrent write
the store refuses the save, and the command loads again and retries on fresh state: a
fund drained meanwhile then refuses the subsidy. Every id derives from a natural key or a
client's key, so a retry answers as the first time.

Devices and territories are read through the device bank (`ledger.device_bank`), which
reads the same log. Given none, the fund makes one on the same settings (on the in-memory
store, sharing this application's recorder, as the other stores share their table).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from ledger.application import LedgerApplication
from ledger.cofinancing import CoFinancing, CoFinancingReport, SpendPurpose, cofinancing_id
from ledger.device_bank import DeviceBank
from ledger.errors import (
    CoFinancingNotFound,
    ContributionRateNotFound,
    LevyNotFound,
    SubsidyNotFound,
)
from ledger.fund_records import Rate, check_period
from ledger.households import HouseholdIdentity, HouseholdKey, load_household_key
from ledger.levies import LevyPeriod, LevyStatus, OperatorLevy, levy_id, levy_period_id
from ledger.matching import DEFAULT_RATIO, FunderKind
from ledger.money import Amounts
from ledger.settings import Settings
from ledger.subsidies import (
    FUND_ID,
    Fund,
    HouseholdSubsidy,
    SubsidyPayee,
    check_delivered_to,
    subsidy_id,
)
from ledger.territories import territory_id


class InternetFund(LedgerApplication):
    """The universal internet service fund: levies, household subsidies, co-financing."""

    def __init__(
        self,
        settings: Settings,
        *,
        device_bank: DeviceBank | None = None,
        household_key: HouseholdKey | None = None,
        **extra_env: str,
    ) -> None:
        super().__init__(settings, **extra_env)
        if device_bank is None:
            device_bank = DeviceBank(settings, **extra_env)
            if settings.store.kind == "memory":
                device_bank.recorder = device_bank.events.recorder = self.recorder
        self.device_bank = device_bank
        self.household_key = household_key or load_household_key(settings)

    # Levies ------------------------------------------------------------------------------

    def decide_rate(
        self,
        *,
        period: str,
        rate_numerator: int,
        rate_denominator: int,
        reference: str,
        decided_on: date,
        due_on: date,
        by: str,
        now: datetime,
    ) -> UUID:
        """Record the regulator's rate for a period; a retry answers the same id."""
        rate = Rate.of(rate_numerator, rate_denominator)
        terms = {"reference": reference, "decided_on": decided_on, "due_on": due_on}

        def attempt() -> UUID:
            decided = LevyPeriod.decide(period=period, rate=rate, **terms, by=by, now=now)
            existing = self._find(decided.id)
            if existing is not None:
                existing.check_same_request(decided.request_digest)
            else:
                self.record(decided)
            return decided.id

        return self.retrying(attempt, "the rate decision")

    def declare_revenue(
        self, *, siren: str, period: str, revenue_cents: int, by: str, now: datetime
    ) -> UUID:
        """An operator's revenue for a period, and its levy; a retry answers the same id."""

        def attempt() -> UUID:
            roll = self.get_levy_period(period)
            levy = OperatorLevy.declare(
                siren=siren, period=roll, revenue_cents=revenue_cents, by=by, now=now
            )
            existing = self._find(levy.id)
            if existing is not None:
                existing.check_same_request(levy.request_digest)
                return levy.id
            roll.list_operator(siren=levy.siren, levy_id=levy.id, by=by, now=now)
            self.record(levy, roll)
            return levy.id

        return self.retrying(attempt, "the declaration")

    def correct_declaration(
        self,
        *,
        siren: str,
        period: str,
        key: str,
        revenue_cents: int,
        reason: str,
        by: str,
        now: datetime,
    ) -> int:
        """Correct an operator's revenue under a client key; answers the levy after it."""

        def attempt() -> int:
            levy = self.get_levy(siren, period)
            levy.correct(key=key, revenue_cents=revenue_cents, reason=reason, by=by, now=now)
            self.record(levy)
            return levy.levy_cents

        return self.retrying(attempt, "the levy")

    def receive_levy_payment(
        self,
        *,
        siren: str,
        period: str,
        payment_ref: str,
        amount_cents: int,
        by: str,
        now: datetime,
    ) -> UUID:
        """Match a payment to an operator's levy and pay it into the fund; answers the levy."""

        def attempt() -> UUID:
            levy = self.get_levy(siren, period)
            payment = {"payment_ref": payment_ref, "amount_cents": amount_cents}
            if levy.receive_payment(**payment, by=by, now=now):
                fund = self._find(FUND_ID) or Fund.open(by=by, now=now)
                fund.pay_in(levy_id=levy.id, **payment, by=by, now=now)
                self.record(levy, fund)
            return levy.id

        return self.retrying(attempt, "the levy and the fund")

    def get_levy_period(self, period: str) -> LevyPeriod:
        found = self._find(levy_period_id(period))
        if not isinstance(found, LevyPeriod):
            raise ContributionRateNotFound(f"no contribution rate is decided for {period}")
        return found

    def get_levy(self, siren: str, period: str) -> OperatorLevy:
        return self._get(levy_id(siren, period), OperatorLevy, LevyNotFound, "levy")

    def levy_statuses(self, period: str, now: datetime) -> tuple[LevyStatus, ...]:
        """Every levy of the period as it stands at `now`, in the order operators declared."""
        roll = self.get_levy_period(period)
        return tuple(self.repository.get(i).status(now) for i in roll.levies.values())

    def overdue_levies(self, period: str, now: datetime) -> tuple[LevyStatus, ...]:
        """The levies whose payment is missing: past due at `now` with an amount outstanding."""
        return tuple(s for s in self.levy_statuses(period, now) if s.overdue_cents)

    def late_payments(self, period: str, now: datetime) -> tuple[LevyStatus, ...]:
        """The levies with payments received after their due date."""
        return tuple(s for s in self.levy_statuses(period, now) if s.late_payments)

    # Household subsidies -----------------------------------------------------------------

    def fingerprint(self, household: HouseholdIdentity) -> str:
        """What stands for the household in every record (`ledger.households`)."""
        return self.household_key.fingerprint(household)

    def pay_subsidy(
        self,
        *,
        household: HouseholdIdentity,
        period: str,
        device_id: UUID,
        pupil_id: str,
        amount_cents: int,
        payee: SubsidyPayee | str,
        provider_siren: str = "",
        by: str,
        now: datetime,
    ) -> UUID:
        """Pay a household's connection for a period from the fund, once; the device must
        have been delivered to the pupil. A retry answers the same subsidy."""
        fingerprint = self.fingerprint(household)
        terms = {"device_id": device_id, "pupil_id": pupil_id, "amount_cents": amount_cents}
        payment = {"payee": payee, "provider_siren": provider_siren, "by": by, "now": now}

        def attempt() -> UUID:
            subsidy = HouseholdSubsidy.pay(household=fingerprint, period=period, **terms, **payment)
            existing = self._find(subsidy.id)
            if existing is not None:
                existing.check_same_request(subsidy.request_digest)
                return subsidy.id
            device = self.device_bank.get_device(device_id)
            history = self.device_bank.repository.event_store.get
            check_delivered_to(device, subsidy.pupil_id, lambda: history(device.id))
            fund = self._find(FUND_ID) or Fund.open(by=by, now=now)  # empty: refuses
            fund.pay_out(subsidy, by=by, now=now)
            self.record(subsidy, fund)
            return subsidy.id

        return self.retrying(attempt, "the fund")

    def get_fund(self) -> Fund | None:
        """The fund, or None before the first levy is paid in."""
        return self._find(FUND_ID)

    def fund_balance_cents(self) -> int:
        """Levies paid in less subsidies paid out."""
        fund = self.get_fund()
        return 0 if fund is None else fund.balance_cents

    def subsidy_of(self, household: HouseholdIdentity, period: str) -> UUID:
        """The id a household's subsidy for a period has, or would have."""
        return subsidy_id(self.fingerprint(household), check_period(period))

    def get_subsidy(self, subsidy_id: UUID) -> HouseholdSubsidy:
        return self._get(subsidy_id, HouseholdSubsidy, SubsidyNotFound, "household subsidy")

    # Co-financing ------------------------------------------------------------------------

    def open_cofinancing(
        self, *, territory: str, ratio: Sequence[int] = DEFAULT_RATIO, by: str, now: datetime
    ) -> UUID:
        """Open a device-bank territory's co-financing with the funder kinds' ratio."""

        def attempt() -> UUID:
            home = self.device_bank.get_territory(territory_id(territory))
            opened = CoFinancing.open(territory=home, ratio=ratio, by=by, now=now)
            existing = self._find(opened.id)
            if existing is not None:
                existing.check_same_request(opened.request_digest)
            else:
                self.record(opened)
            return opened.id

        return self.retrying(attempt, "the co-financing")

    def pledge(
        self,
        *,
        territory: str,
        key: str,
        funder_id: str,
        funder_kind: FunderKind | str,
        amount_cents: int,
        by: str,
        now: datetime,
    ) -> None:
        """A funder's pledge to a territory's co-financing, under its key."""
        terms = {"key": key, "funder_id": funder_id, "amount_cents": amount_cents}
        kind = {"funder_kind": funder_kind}
        self._on_cofinancing(territory, CoFinancing.pledge, **terms, **kind, by=by, now=now)

    def receive_cofinancing_payment(
        self,
        *,
        territory: str,
        key: str,
        funder_id: str,
        amount_cents: int,
        by: str,
        now: datetime,
    ) -> None:
        """A funder pays (part of) its pledge into a territory's co-financing."""
        terms = {"key": key, "funder_id": funder_id, "amount_cents": amount_cents}
        self._on_cofinancing(territory, CoFinancing.receive_payment, **terms, by=by, now=now)

    def spend(
        self,
        *,
        territory: str,
        key: str,
        amount_cents: int,
        purpose: SpendPurpose | str,
        reference: str,
        by: str,
        now: datetime,
    ) -> Amounts:
        """Spend a territory's matched money; answers the spend's lineage, (funder, cents)."""
        terms = {"key": key, "amount_cents": amount_cents, "purpose": purpose}
        return self._on_cofinancing(
            territory, CoFinancing.spend, **terms, reference=reference, by=by, now=now
        )

    def close_cofinancing(self, *, territory: str, by: str, now: datetime) -> Amounts:
        """End a territory's co-financing; answers what returns to each funder."""
        return self._on_cofinancing(territory, CoFinancing.close, by=by, now=now)

    def get_cofinancing(self, territory: str) -> CoFinancing:
        return self._get(
            cofinancing_id(territory), CoFinancing, CoFinancingNotFound, "co-financing"
        )

    def cofinancing_report(self, territory: str) -> CoFinancingReport:
        """Pledged, paid, matched, spent and returned in a territory, per kind and funder."""
        return self.get_cofinancing(territory).report()

    # Plumbing ----------------------------------------------------------------------------

    def _on_cofinancing(self, territory: str, command: Any, **arguments: Any) -> Any:
        def attempt() -> Any:
            cofinancing = self.get_cofinancing(territory)
            answer = command(cofinancing, **arguments)
            self.record(cofinancing)
            return answer

        return self.retrying(attempt, "the co-financing")
