"""A real HTTP server per test, on each store, with a clock the test moves."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.spec import Role
from api.tokens import generate_key_file, issue_token, load_or_create_signing_key
from ledger.catalogue_app import Catalogue
from ledger.device_bank import DeviceBank
from ledger.eligibility import ResourceKind
from ledger.households import HouseholdKey
from ledger.settings import Settings
from ledger.vendor_directory import VendorDirectory
from ledger.vouchers import VoucherLedger
from tests import helpers


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


class Api:
    """The client of one running server, and the books it serves, seeded directly."""

    def __init__(self, client: Any, settings: Settings, clock: Clock) -> None:
        self.client = client
        self.settings = settings
        self.clock = clock
        self.key = load_or_create_signing_key(settings)
        self.vouchers = VoucherLedger(settings)
        self.vendors = VendorDirectory(settings)
        self.catalogue = Catalogue(settings)
        self.devices = DeviceBank(settings)
        self.serial = 0

    def close(self) -> None:
        for app in (self.vouchers, self.vendors, self.catalogue, self.devices):
            app.close()

    def token(self, role: str, subject: str) -> dict[str, str]:
        token = issue_token(self.key, subject=subject, role=Role(role), now=int(time.time()))
        return {"Authorization": f"Bearer {token}"}

    def key_header(self, key: str | None = None) -> dict[str, str]:
        self.serial += 1
        return {"Idempotency-Key": key or f"k-{self.serial}"}

    async def call(
        self,
        method: str,
        path: str,
        who: dict[str, str],
        *,
        key: str | None = None,
        money: bool = False,
        **kwargs: Any,
    ) -> tuple[int, Any]:
        headers = {**who, **kwargs.pop("headers", {})}
        if money or key:
            headers.update(self.key_header(key))
        response = await self.client.request(method, path, headers=headers, **kwargs)
        kind = response.headers.get("Content-Type", "")
        body = await response.json(content_type=None) if "json" in kind else await response.read()
        return response.status, body

    # Seeding ----------------------------------------------------------------------------

    def vendor(
        self,
        name: str = "Les Petits Savants",
        siren: str = "732829320",
        siret: str = "73282932000074",
    ) -> str:
        vendor = self.vendors.apply_vendor(
            legal_name=name,
            siren=siren,
            siret=siret,
            contact_ref=f"contact-{siren}",
            iban="FR7630006000011234567890189",
            by="vendor",
            now=helpers.START,
        )
        self.vendors.approve(vendor, by="operator", now=helpers.START)
        return str(vendor)

    def resource(self, vendor: str, reference: str, price_cents: int = 1990) -> str:
        return str(
            self.catalogue.list_resource(
                vendor_id=vendor,
                reference=reference,
                title=reference.capitalize(),
                description="",
                kind=ResourceKind.DIGITAL_TEXTBOOK,
                levels=["elementaire"],
                price_cents=price_cents,
                by="vendor",
                now=helpers.START,
            )
        )

    def campaign(self, teachers: tuple[str, ...] = ("t1", "t2")) -> str:
        campaign = helpers.open_campaign(self.vouchers)
        self.vouchers.grant_credits(
            campaign,
            teachers,
            grant_key="g",
            by="op",
            now=helpers.START,
            territories=helpers.in_paris(teachers),
        )
        return str(campaign)


@pytest.fixture
def api_settings(store_settings: Settings, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return served_settings(store_settings, tmp_path)


def served_settings(settings: Settings, folder: Path) -> Settings:
    """These settings with a server's signing and households' keys, made in `folder`."""
    key_file, household_key = folder / "signing-key.pem", folder / "household-key"
    generate_key_file(key_file)
    household_key.write_text(HouseholdKey.generate().secret.hex() + "\n")
    return dataclasses.replace(
        settings, signing_key_file=str(key_file), household_key_file=str(household_key)
    )


@pytest.fixture
async def api(api_settings: Settings, aiohttp_client):  # type: ignore[no-untyped-def]
    clock = Clock(helpers.DURING)
    client = await aiohttp_client(create_app(api_settings, clock=clock))
    world = Api(client, api_settings, clock)
    yield world
    world.close()
