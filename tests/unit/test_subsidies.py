"""Household subsidies without I/O: the cap, the payee, one subsidy per household and
period, the fund's balance, the device delivered to the pupil, and every refusal recording
nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest

from ledger import accounts
from ledger.device_records import DeviceStage
from ledger.devices import Device
from ledger.errors import (
    DeviceNotDeliveredToPupil,
    HouseholdAlreadySubsidised,
    IdempotencyKeyReused,
    InsufficientFund,
    InvalidAmount,
    InvalidInput,
    InvalidPeriod,
    InvalidSiren,
    PupilAlreadySubsidised,
)
from ledger.households import HouseholdIdentity, HouseholdKey
from ledger.subsidies import (
    FUND_ID,
    MAX_SUBSIDY_CENTS,
    Fund,
    HouseholdSubsidy,
    SubsidyPayee,
    check_delivered_to,
    pupils_delivered,
    subsidy_id,
)
from tests.unit.test_devices import (
    DONOR,
    EDUCATION,
    LAPTOP,
    REFURBISHER,
    STEPS,
    UAI,
    a_territory,
    allocate,
)

NOW = datetime(2027, 9, 1, tzinfo=UTC)
KEY = HouseholdKey(bytes(range(32)))
HOUSEHOLD = KEY.fingerprint(HouseholdIdentity("Hélène Dupré", "3 rue de la Paix, Paris"))
NEIGHBOUR = KEY.fingerprint(HouseholdIdentity("Jean Martin", "5 rue de la Paix, Paris"))
DEVICE = UUID(int=7)
PROVIDER = "732829320"


def subsidy(household: str = HOUSEHOLD, amount_cents: int = 10_000, **terms) -> HouseholdSubsidy:
    fields = {"period": "2027", "device_id": DEVICE, "pupil_id": "pupil-7f3a"}
    payee = {"payee": "provider", "provider_siren": PROVIDER}
    return HouseholdSubsidy.pay(
        household=household,
        amount_cents=amount_cents,
        **{**fields, **payee, **terms},
        by="operator",
        now=NOW,
    )


def a_fund(paid_in_cents: int = 50_000) -> Fund:
    fund = Fund.open(by="bank", now=NOW)
    fund.pay_in(
        levy_id=UUID(int=1), payment_ref="VIR-1", amount_cents=paid_in_cents, by="b", now=NOW
    )
    fund.collect_events()
    return fund


def fund_state(fund: Fund) -> tuple:
    return (fund.version, fund.balance_cents, set(fund.subsidised_pupils))


# The subsidy ------------------------------------------------------------------------------


def test_a_subsidy_s_id_is_its_household_and_period():
    paid = subsidy()
    assert paid.id == subsidy_id(HOUSEHOLD, "2027")
    assert subsidy(NEIGHBOUR).id != paid.id
    assert subsidy(period="2028").id != paid.id
    assert (paid.household, paid.payee, paid.provider_siren) == (
        HOUSEHOLD,
        SubsidyPayee.PROVIDER,
        PROVIDER,
    )


def test_the_event_holds_the_fingerprint_and_no_identifier():
    event = subsidy().collect_events()[0]
    values = [str(v) for v in vars(event).values()]
    assert HOUSEHOLD in values
    assert not any("Dupré" in v or "Paix" in v for v in values)


@pytest.mark.parametrize("amount", [1, MAX_SUBSIDY_CENTS])
def test_a_subsidy_pays_up_to_100_euros(amount):
    assert subsidy(amount_cents=amount).amount_cents == amount


@pytest.mark.parametrize("amount", [0, -1, MAX_SUBSIDY_CENTS + 1, 99.5])
def test_a_subsidy_outside_the_cap_is_refused(amount):
    with pytest.raises(InvalidAmount):
        subsidy(amount_cents=amount)


@pytest.mark.parametrize(
    "terms, error",
    [
        ({"payee": "provider", "provider_siren": ""}, InvalidSiren),
        ({"payee": "provider", "provider_siren": "732829321"}, InvalidSiren),
        ({"payee": "household", "provider_siren": PROVIDER}, InvalidInput),
        ({"payee": "neighbour"}, InvalidInput),
        ({"period": "2027-S3"}, InvalidPeriod),
        ({"pupil_id": "Jean Martin"}, InvalidInput),
    ],
)
def test_a_subsidy_with_a_bad_payee_period_or_pupil_is_refused(terms, error):
    with pytest.raises(error):
        subsidy(**terms)


def test_a_subsidy_to_the_household_names_no_provider():
    paid = subsidy(payee="household", provider_siren="")
    assert (paid.payee, paid.provider_siren) == (SubsidyPayee.HOUSEHOLD, "")


def test_the_same_request_again_is_a_retry_and_another_one_is_refused():
    paid = subsidy()
    paid.check_same_request(subsidy().request_digest)
    with pytest.raises(HouseholdAlreadySubsidised) as refused:
        paid.check_same_request(subsidy(amount_cents=5000).request_digest)
    assert isinstance(refused.value, IdempotencyKeyReused)
    assert "Dupré" not in refused.value.message


# The fund ---------------------------------------------------------------------------------


def test_the_fund_pays_a_subsidy_out_of_what_levies_paid_in():
    fund, paid = a_fund(50_000), subsidy()
    fund.pay_out(paid, by="operator", now=NOW)
    assert (fund.paid_in_cents, fund.paid_out_cents, fund.balance_cents) == (50_000, 10_000, 40_000)
    assert fund.id == FUND_ID


def test_a_subsidy_beyond_the_fund_s_balance_is_refused_and_changes_nothing():
    fund = a_fund(9_999)
    before = fund_state(fund)
    with pytest.raises(InsufficientFund):
        fund.pay_out(subsidy(), by="operator", now=NOW)
    assert fund.collect_events() == [] and fund_state(fund) == before


def test_a_second_household_for_a_pupil_subsidised_in_the_period_is_refused():
    fund = a_fund()
    fund.pay_out(subsidy(), by="operator", now=NOW)
    fund.collect_events()
    before = fund_state(fund)
    with pytest.raises(PupilAlreadySubsidised):
        fund.pay_out(subsidy(NEIGHBOUR), by="operator", now=NOW)
    assert fund.collect_events() == [] and fund_state(fund) == before
    fund.pay_out(subsidy(period="2028"), by="operator", now=NOW)  # another period


def test_a_subsidy_posts_from_the_fund_to_its_payee_and_the_fund_s_events_post_nothing():
    fund, to_provider = a_fund(), subsidy()
    to_household = subsidy(
        NEIGHBOUR, 4000, pupil_id="pupil-2", payee="household", provider_siren=""
    )
    fund.pay_out(to_provider, by="operator", now=NOW)
    fund.pay_out(to_household, by="operator", now=NOW)
    balances = accounts.fold(
        [*to_provider.collect_events(), *to_household.collect_events(), *fund.collect_events()]
    )
    assert balances == {
        accounts.internet_fund(): -14_000,  # the levies' postings come from the levy's events
        accounts.internet_provider(PROVIDER): 10_000,
        accounts.household(NEIGHBOUR): 4000,
    }


# The device delivered to the pupil ----------------------------------------------------------


def walked(steps: int) -> tuple[Device, list[object]]:
    """A device along the chain (`tests.unit.test_devices.STEPS`), with all its events."""
    territory = a_territory()
    device = Device.pledge(
        donor=DONOR, territory_id=territory.id, description=LAPTOP, by="donor", now=NOW
    )
    for step in STEPS[:steps]:
        step(device, territory)
    return device, device.collect_events()


ALLOCATED, DELIVERED, RETURNED = 6, 7, 8  # steps taken to reach these stages


def test_a_device_at_the_pupil_s_school_counts():
    device, history = walked(DELIVERED)
    assert device.stage is DeviceStage.DELIVERED
    check_delivered_to(device, "pupil-7f3a", lambda: pytest.fail("state suffices"))
    assert pupils_delivered(history) == {"pupil-7f3a"}


def test_a_device_allocated_but_not_delivered_or_to_another_pupil_is_refused():
    device, history = walked(ALLOCATED)
    with pytest.raises(DeviceNotDeliveredToPupil):
        check_delivered_to(device, "pupil-7f3a", lambda: history)
    device, history = walked(DELIVERED)
    with pytest.raises(DeviceNotDeliveredToPupil):
        check_delivered_to(device, "pupil-other", lambda: history)


def test_a_device_returned_since_still_counts_for_the_pupil_it_was_delivered_to():
    device, history = walked(RETURNED)
    assert device.stage is DeviceStage.RETURNED and device.allocation is None
    check_delivered_to(device, "pupil-7f3a", lambda: history)


def test_a_device_reallocated_at_the_school_was_delivered_to_both_pupils():
    device, history = walked(DELIVERED)
    device.reallocate(
        education_service=EDUCATION, pupil_id="pupil-2", school_uai=UAI, by="ien", now=NOW
    )
    history = [*history, *device.collect_events()]
    assert pupils_delivered(history) == {"pupil-7f3a", "pupil-2"}


def test_a_device_repaired_and_allocated_again_is_not_yet_delivered_to_its_next_pupil():
    device, history = walked(RETURNED)
    device.repair(
        refurbisher=REFURBISHER, parts=(), cost_cents=0, territory=a_territory(), by="t", now=NOW
    )
    allocate(device, pupil="pupil-next")
    history = [*history, *device.collect_events()]
    assert pupils_delivered(history) == {"pupil-7f3a"}
    with pytest.raises(DeviceNotDeliveredToPupil):
        check_delivered_to(device, "pupil-next", lambda: history)
