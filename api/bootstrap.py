"""Wiring: from one `Settings` object to the running parts, and a check that the schema is
migrated before anything touches the store (applications never create tables)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

import migrations
from ledger.catalogue_app import Catalogue
from ledger.claims_desk import ClaimsDesk
from ledger.device_bank import DeviceBank
from ledger.errors import InvalidInput, SchemaNotMigrated, StoreUnavailable
from ledger.redemptions import Redemptions
from ledger.reimbursement import default_rule_book
from ledger.settings import Settings
from ledger.vendor_directory import VendorDirectory
from ledger.vouchers import VoucherLedger
from projections.balances import Balances, BalancesProjection
from projections.device_pipeline import DevicePipeline
from projections.devices import DevicePipelineProjection
from projections.engine import create_read_engine
from projections.fund import FUND_PROJECTIONS
from projections.fund_views import FundReports
from projections.indicators import Indicators, IndicatorsProjection
from projections.runner import ProjectionRunner
from projections.vendors import VendorStatementProjection, VendorStatements

HEAD_REVISION = "0009"


@dataclass
class Services:
    settings: Settings
    ledger: VoucherLedger
    vendors: VendorDirectory
    catalogue: Catalogue
    desk: ClaimsDesk
    redemptions: Redemptions  # one save per redemption; the demo adds a group committer
    devices: DeviceBank
    engine: Engine
    balances: Balances
    balances_runner: ProjectionRunner
    vendor_statements: VendorStatements
    vendor_statements_runner: ProjectionRunner
    indicators: Indicators
    indicators_runner: ProjectionRunner
    device_pipeline: DevicePipeline
    device_pipeline_runner: ProjectionRunner
    fund_reports: FundReports
    fund_runners: dict[str, ProjectionRunner]  # the fund's read models, by name

    def close(self) -> None:
        for app in (self.ledger, self.vendors, self.catalogue, self.desk, self.devices):
            app.close()
        self.engine.dispose()


def check_schema(settings: Settings) -> None:
    store = settings.store
    if store.kind == "memory":
        raise InvalidInput("this command needs a database: set TIRELIRE_DATABASE_URL")
    try:
        revision = migrations.current_revision(store.sqlalchemy_url())
    except OperationalError as error:
        raise StoreUnavailable(f"cannot reach the database: {error.orig}") from None
    if revision != HEAD_REVISION:
        raise SchemaNotMigrated(
            f"the database is at revision {revision or 'none'}, not {HEAD_REVISION}: "
            "run `tirelire migrate` first"
        )


def build_services(settings: Settings) -> Services:
    check_schema(settings)
    ledger = VoucherLedger(settings)
    vendors = VendorDirectory(settings)
    catalogue = Catalogue(settings)
    engine = create_read_engine(settings)
    return Services(
        settings=settings,
        ledger=ledger,
        vendors=vendors,
        catalogue=catalogue,
        desk=ClaimsDesk(settings, default_rule_book()),
        redemptions=Redemptions(ledger, vendors, catalogue),
        devices=DeviceBank(settings),
        engine=engine,
        balances=Balances(engine),
        balances_runner=ProjectionRunner(ledger, engine, BalancesProjection()),
        vendor_statements=VendorStatements(engine),
        vendor_statements_runner=ProjectionRunner(ledger, engine, VendorStatementProjection()),
        indicators=Indicators(engine),
        indicators_runner=ProjectionRunner(ledger, engine, IndicatorsProjection()),
        device_pipeline=DevicePipeline(engine),
        device_pipeline_runner=ProjectionRunner(ledger, engine, DevicePipelineProjection()),
        fund_reports=FundReports(engine),
        fund_runners={
            projection.name: ProjectionRunner(ledger, engine, projection)
            for projection in (fund_projection() for fund_projection in FUND_PROJECTIONS)
        },
    )
