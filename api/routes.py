"""The one table of operations the server serves, in the order the docs list them."""

from __future__ import annotations

from api import access_api, campaign_api, redeeming, vendor_api
from api.spec import Operation

ROUTES: tuple[Operation, ...] = (
    *redeeming.OPERATIONS,
    *vendor_api.OPERATIONS,
    *campaign_api.OPERATIONS,
    *access_api.OPERATIONS,
)
