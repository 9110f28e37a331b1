"""Household subsidies: the fund pays the internet connection of the least well-off
households of pupils who received a device.

The **fund** (`Fund`, one for the whole programme) holds what the telecom operators' levies
paid in, less what subsidies paid out. Its balance lives on the aggregate, and each levy
payment and each subsidy is saved in one transaction with it: two subsidies that would
overdraw it together read the same version, the store refuses the second, and its retry
on fresh state is refused if the balance no longer covers it.

A **subsidy** (`HouseholdSubsidy`) pays up to 100 € (`MAX_SUBSIDY_CENTS`) of one
household's connection for one period, once, to the household's internet provider (by its
SIREN) or to the household itself. It names a device delivered to a pupil of that
household: the device must be at the pupil's school now, allocated to that pupil, or have
been delivered to that pupil before (a device returned since still counts for the period).

A household is known only by its fingerprint (`ledger.households`), and the subsidy's id
derives from that fingerprint and the period: the store's primary key itself refuses a second
subsidy for the same household and period, even from two processes at once. The same
request again is a retry and answers the same subsidy; another request for that household
and period is refused. The fund also refuses a second household naming a pupil already
subsidised in the period: one pupil belongs to one household.

The books (`ledger.accounts`) post each subsidy from the fund's account to the provider's
account (`internet_provider:{SIREN}`) or the household's (`household:{fingerprint}`). The fund's
own events carry the same amounts for its balance and post nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from enum import Enum
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.device_records import DeviceStage, check_choice, check_pupil
from ledger.devices import Device
from ledger.errors import (
    DeviceNotDeliveredToPupil,
    HouseholdAlreadySubsidised,
    InsufficientFund,
    InvalidAmount,
    InvalidInput,
    PupilAlreadySubsidised,
)
from ledger.fund_records import check_amount, check_period
from ledger.households import check_fingerprint
from ledger.identifiers import check_siren
from ledger.ids import TIRELIRE_NAMESPACE, request_digest

MAX_SUBSIDY_CENTS = 10_000  # 100 € per household and period, the pilot's connection share
FUND_ID = uuid5(TIRELIRE_NAMESPACE, "internet_fund")


class SubsidyPayee(Enum):
    PROVIDER = "provider"  # the household's internet provider, by its SIREN
    HOUSEHOLD = "household"


def subsidy_id(household: str, period: str) -> UUID:
    """One subsidy per household and period: the id is the rule."""
    household, period = check_fingerprint(household), check_period(period)
    return uuid5(TIRELIRE_NAMESPACE, f"household_subsidy:{household}:{period}")


class HouseholdSubsidy(Aggregate):
    """A household's subsidy for a period. The id is `subsidy_id(fingerprint, period)`."""

    class Paid(Aggregate.Created):
        household: str  # its fingerprint, never a name or an address
        period: str
        device_id: UUID
        pupil_id: str
        amount_cents: int
        payee: SubsidyPayee
        provider_siren: str  # "" when paid to the household
        request_digest: str
        paid_by: str
        paid_at: datetime

        def apply(self, subsidy: HouseholdSubsidy) -> None:
            subsidy.household = self.household
            subsidy.period = self.period
            subsidy.device_id = self.device_id
            subsidy.pupil_id = self.pupil_id
            subsidy.amount_cents = self.amount_cents
            subsidy.payee = self.payee
            subsidy.provider_siren = self.provider_siren
            subsidy.request_digest = self.request_digest
            subsidy.paid_at = self.paid_at

    @classmethod
    def pay(
        cls,
        *,
        household: str,
        period: str,
        device_id: UUID,
        pupil_id: str,
        amount_cents: int,
        payee: SubsidyPayee | str,
        provider_siren: str = "",
        by: str,
        now: datetime,
    ) -> HouseholdSubsidy:
        """A subsidy, its values checked; the fund and the device are checked by the caller."""
        pupil_id = check_pupil(pupil_id)
        check_amount(amount_cents, "subsidy")
        if amount_cents > MAX_SUBSIDY_CENTS:
            raise InvalidAmount(
                f"a subsidy is at most {MAX_SUBSIDY_CENTS} cents per household and period",
                field="subsidy",
            )
        payee, provider_siren = check_payee(payee, provider_siren)
        assert isinstance(device_id, UUID), "the application loads the device"
        fields = (device_id, pupil_id, amount_cents, payee.value, provider_siren)
        return cls._create(
            cls.Paid,
            id=subsidy_id(household, period),
            timestamp=now,
            household=household,
            period=period,
            device_id=device_id,
            pupil_id=pupil_id,
            amount_cents=amount_cents,
            payee=payee,
            provider_siren=provider_siren,
            request_digest=request_digest("pay_subsidy", household, period, *fields),
            paid_by=by,
            paid_at=now,
        )

    def check_same_request(self, digest: str) -> None:
        if digest != self.request_digest:
            raise HouseholdAlreadySubsidised(
                f"the household is subsidised already for {self.period}",
                period=self.period,
                subsidy_id=str(self.id),
            )


class Fund(Aggregate):
    """The universal internet service fund: levies paid in, subsidies paid out. The id is
    `FUND_ID`; it opens with the first levy paid in."""

    class Event(Aggregate.Event):
        pass

    class Opened(Aggregate.Created):
        opened_by: str
        opened_at: datetime

        def apply(self, fund: Fund) -> None:
            fund.paid_in_cents = 0
            fund.paid_out_cents = 0
            fund.subsidised_pupils = set()  # (period, pupil id)

    class LevyPaidIn(Event):
        levy_id: UUID
        payment_ref: str
        amount_cents: int
        paid_in_by: str
        paid_in_at: datetime

        def apply(self, fund: Fund) -> None:
            fund.paid_in_cents += self.amount_cents

    class SubsidyPaidOut(Event):
        subsidy_id: UUID
        period: str
        pupil_id: str
        amount_cents: int
        paid_out_by: str
        paid_out_at: datetime

        def apply(self, fund: Fund) -> None:
            fund.paid_out_cents += self.amount_cents
            fund.subsidised_pupils.add((self.period, self.pupil_id))

    @classmethod
    def open(cls, *, by: str, now: datetime) -> Fund:
        return cls._create(cls.Opened, id=FUND_ID, timestamp=now, opened_by=by, opened_at=now)

    @property
    def balance_cents(self) -> int:
        """Levies paid in less subsidies paid out; never below zero."""
        return self.paid_in_cents - self.paid_out_cents

    def pay_in(
        self, *, levy_id: UUID, payment_ref: str, amount_cents: int, by: str, now: datetime
    ) -> None:
        """A levy payment, matched to its levy (whose event is saved with this one)."""
        assert amount_cents > 0, "the levy checks its payment"
        self.trigger_event(
            self.LevyPaidIn,
            timestamp=now,
            levy_id=levy_id,
            payment_ref=payment_ref,
            amount_cents=amount_cents,
            paid_in_by=by,
            paid_in_at=now,
        )

    def check_subsidy(self, *, period: str, pupil_id: str, amount_cents: int) -> None:
        if (period, pupil_id) in self.subsidised_pupils:
            raise PupilAlreadySubsidised(
                f"a household is subsidised already for pupil {pupil_id} in {period}",
                period=period,
            )
        if amount_cents > self.balance_cents:
            raise InsufficientFund(
                f"{amount_cents} cents asked, {self.balance_cents} in the fund",
                asked_cents=amount_cents,
                balance_cents=self.balance_cents,
            )

    def pay_out(self, subsidy: HouseholdSubsidy, *, by: str, now: datetime) -> None:
        """Pay a new subsidy from the fund (its event is saved with this one)."""
        period, pupil, amount = subsidy.period, subsidy.pupil_id, subsidy.amount_cents
        self.check_subsidy(period=period, pupil_id=pupil, amount_cents=amount)
        self.trigger_event(
            self.SubsidyPaidOut,
            timestamp=now,
            subsidy_id=subsidy.id,
            period=period,
            pupil_id=pupil,
            amount_cents=amount,
            paid_out_by=by,
            paid_out_at=now,
        )


def check_payee(payee: SubsidyPayee | str, provider_siren: str) -> tuple[SubsidyPayee, str]:
    payee = check_choice(SubsidyPayee, payee, "payee")
    if payee is SubsidyPayee.PROVIDER:
        return payee, check_siren(provider_siren)
    if provider_siren:
        raise InvalidInput("a subsidy paid to the household names no provider", field="provider")
    return payee, ""


def pupils_delivered(history: Iterable[object]) -> frozenset[str]:
    """The pupils a device was ever delivered to, from its events in order: the pupil it
    was allocated to when a school confirmed its delivery, and each pupil it was
    reallocated to while at the school."""
    pupil: str | None = None
    at_school = False
    delivered: set[str] = set()
    for event in history:
        if isinstance(event, Device.Allocated | Device.Reallocated):
            pupil = event.pupil_id
        elif isinstance(event, Device.HandoverConfirmed):
            at_school = event.stage is DeviceStage.DELIVERED
            if event.stage is DeviceStage.RETURNED:
                pupil = None
        if at_school and pupil is not None:
            delivered.add(pupil)
    return frozenset(delivered)


def check_delivered_to(
    device: Device, pupil_id: str, history: Callable[[], Iterable[object]]
) -> None:
    """The device is at the pupil's school now, or was delivered to the pupil before
    (`history` reads the device's events, only when needed)."""
    allocation = device.allocation
    if device.stage is DeviceStage.DELIVERED and allocation and allocation.pupil_id == pupil_id:
        return
    if pupil_id not in pupils_delivered(history()):
        raise DeviceNotDeliveredToPupil(
            f"device {device.id} was not delivered to pupil {pupil_id}",
            device_id=str(device.id),
        )
