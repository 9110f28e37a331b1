"""The one table of operations the server serves, in the order the docs list them."""

from __future__ import annotations

from api import access_api, audit_api, campaign_api, claims_api, redeeming, vendor_api
from api.spec import Operation

ROUTES: tuple[Operation, ...] = (
    *redeeming.OPERATIONS,
    *vendor_api.OPERATIONS,
    *claims_api.OPERATIONS,
    *campaign_api.OPERATIONS,
    *audit_api.OPERATIONS,
    *access_api.OPERATIONS,
)
