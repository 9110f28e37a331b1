"""The device pipeline's fold and figures without I/O: stays opened and ended by each stage's
event, the same rows whichever pages the log is cut into, and the arithmetic of yield,
cost and limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from ledger.device_records import DeviceDescription, DeviceStage
from ledger.devices import Device
from ledger.errors import InvalidInput
from ledger.organisations import Organisation
from ledger.parties import Actor, company, organisation
from ledger.territories import Territory
from projections.device_pipeline import (
    DEFAULT_STUCK_LIMITS,
    STUCK_AFTER,
    UNWIPED_STUCK_AFTER,
    DeliveredCost,
    DeviceYield,
    check_limits,
)
from projections.devices import PipelineFold, fold

T0, DAY = datetime(2027, 9, 1, tzinfo=UTC), timedelta(days=1)
DONOR = Actor.donor(company("38012986646850"))
COLLECTOR_SIRET, REFURBISHER_SIRET = "73282932000074", "55210055400013"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def approved(siret: str, role: str) -> Actor:
    org = Organisation.register(siret=siret, name=f"Organisation {siret}", by="op", now=T0)
    org.approve(role=role, by="op", now=T0)
    return org.actor()


COLLECTOR = approved(COLLECTOR_SIRET, "collector")
REFURBISHER = approved(REFURBISHER_SIRET, "refurbisher")
TERRITORY = Territory.register(
    code="lyon",
    name="Métropole de Lyon",
    kind="metropolis",
    budget_cents=100_000,
    funder_id="banque-des-territoires",
    by="op",
    now=T0,
)


def walked(serial: str, days: tuple[int, ...]) -> list[object]:
    """The events of a device pledged on day 0, then collected, received, diagnosed, wiped and
    refurbished on the given days (as many steps as days), with a revoked handover too."""
    device = Device.pledge(
        donor=DONOR,
        territory_id=TERRITORY.id,
        description=DeviceDescription("laptop", serial, "Dell", "Latitude 5490"),
        by="d",
        now=T0,
    )
    device.hand_over(giver=DONOR, receiver=COLLECTOR, by="d", now=T0)
    device.revoke_handover(giver=DONOR, reason="not home", by="d", now=T0)
    steps = (
        lambda at: move(device, DONOR, COLLECTOR, at),
        lambda at: move(device, COLLECTOR, REFURBISHER, at),
        lambda at: device.diagnose(refurbisher=REFURBISHER, grade="B", by="t", now=at),
        lambda at: device.wipe(
            refurbisher=REFURBISHER,
            method="overwrite",
            certificate_id=f"CERT-{serial}",
            certificate_sha256=SHA256,
            by="t",
            now=at,
        ),
        lambda at: device.refurbish(
            refurbisher=REFURBISHER, parts=(), cost_cents=4000, territory=TERRITORY, by="t", now=at
        ),
    )
    for step, day in zip(steps, days, strict=False):
        step(T0 + day * DAY)
    return list(device.collect_events())


def move(device: Device, giver: Actor, receiver: Actor, at: datetime) -> None:
    device.hand_over(giver=giver, receiver=receiver, by="u", now=at - DAY / 2)
    device.confirm_handover(receiver=receiver, by="u", now=at)


def test_each_stage_entered_ends_the_stay_before_it_and_the_last_stay_is_open():
    events = walked("SN1", (1, 3, 4, 4, 9))
    result = fold(events)
    (row,) = result.devices.values()
    assert (row.stage, row.stay, row.stage_entered_at) == ("refurbished", 6, T0 + 9 * DAY)
    assert (row.refurbisher, row.certificate_id, row.charged_cents) == (
        organisation(REFURBISHER_SIRET),
        "CERT-SN1",
        4000,
    )
    stays = [result.stays[(row.device_id, n)] for n in range(1, 7)]
    assert [(s.stage, s.lead_time_s) for s in stays] == [
        ("pledged", DAY // timedelta(seconds=1)),  # a revoked handover moves no stage
        ("collected", 2 * 86_400),
        ("received", 86_400),
        ("diagnosed", 0),
        ("wiped", 5 * 86_400),
        ("refurbished", None),
    ]
    assert [s.refurbisher for s in stays[:2]] == [None, None]
    assert {s.refurbisher for s in stays[2:]} == {organisation(REFURBISHER_SIRET)}
    assert stays[-1].left_at is None and stays[0].left_at == T0 + DAY


def test_a_stage_left_before_its_recorded_entry_counts_no_time():
    events = walked("SN2", (5, 3))  # collected on day 5, received "on day 3"
    result = fold(events)
    device = next(iter(result.devices))
    assert result.stays[(device, 2)].lead_time_s == 0


def test_a_log_folded_in_pages_from_the_rows_of_the_pages_before_gives_the_same_rows():
    one, two = walked("SN1", (1, 3, 4, 4, 9)), walked("SN2", (2, 2, 6, 7))
    events = [e for pair in zip(one, two, strict=False) for e in pair] + one[len(two) :]
    whole = fold(events)
    for cut in range(len(events) + 1):
        first = fold(events[:cut])
        second = fold(events[cut:], first.devices)
        paged = PipelineFold({**first.devices, **second.devices}, {**first.stays, **second.stays})
        assert paged == whole, f"cut after {cut} events"


def test_the_cost_per_delivered_device_is_rounded_half_up_and_held_against_60_euros():
    assert DeliveredCost(charged_cents=12_001, delivered=2).cost_per_delivered_cents == 6001
    assert DeliveredCost(charged_cents=12_001, delivered=2).within_budget is False
    assert DeliveredCost(charged_cents=12_000, delivered=2).within_budget is True
    assert DeliveredCost(charged_cents=10, delivered=4).cost_per_delivered_cents == 3  # 2.5
    assert DeliveredCost(charged_cents=500, delivered=0).cost_per_delivered_cents is None
    assert DeliveredCost(charged_cents=500, delivered=0).within_budget is False


def test_the_yield_is_an_exact_share_of_the_devices_pledged():
    assert DeviceYield(pledged=3, delivered=2, scrapped=1).delivered_share == Fraction(2, 3)
    assert DeviceYield(pledged=0, delivered=0, scrapped=0).scrapped_share == 0


def test_stuck_limits_are_positive_given_by_stage_and_never_for_a_stage_at_rest():
    assert DeviceStage.DELIVERED not in DEFAULT_STUCK_LIMITS
    assert DeviceStage.RECYCLED not in DEFAULT_STUCK_LIMITS
    assert DEFAULT_STUCK_LIMITS[DeviceStage.DIAGNOSED] == UNWIPED_STUCK_AFTER
    assert DEFAULT_STUCK_LIMITS[DeviceStage.ALLOCATED] == STUCK_AFTER
    checked = check_limits({"wiped": DAY, DeviceStage.PLEDGED: 2 * DAY})
    assert list(checked.items()) == [(DeviceStage.PLEDGED, 2 * DAY), (DeviceStage.WIPED, DAY)]
    for refused in ({"delivered": DAY}, {"wiped": timedelta(0)}, {"lost": DAY}, {"wiped": 3}):
        with pytest.raises(InvalidInput):
            check_limits(refused)
