"""Every read model the system keeps, in one list: what the server follows, what a rebuild
folds again, and what a replay as of a past point builds."""

from __future__ import annotations

from typing import Protocol

from projections.balances import BalancesProjection
from projections.catalogue import CatalogueProjection
from projections.devices import DevicePipelineProjection
from projections.fund import FUND_PROJECTIONS
from projections.indicators import IndicatorsProjection
from projections.runner import Projection
from projections.upkeep import OwnsTables
from projections.vendors import VendorStatementProjection


class ReadModel(Projection, OwnsTables, Protocol):
    """A projection that owns its tables (every one does)."""


def all_projections() -> tuple[ReadModel, ...]:
    """A fresh instance of every projection, in a fixed order."""
    return (
        BalancesProjection(),
        CatalogueProjection(),
        VendorStatementProjection(),
        IndicatorsProjection(),
        DevicePipelineProjection(),
        *(fund_projection() for fund_projection in FUND_PROJECTIONS),
    )
