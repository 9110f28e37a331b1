"""The one table of operations the server serves, in the order the docs list them."""

from __future__ import annotations

from api import (
    access_api,
    audit_api,
    campaign_api,
    catalogue_api,
    claims_api,
    cofinancing_api,
    device_custody_api,
    device_programme_api,
    device_reports_api,
    device_uploads,
    devices_api,
    events_api,
    fund_api,
    labels_api,
    payments_api,
    redeeming,
    subsidies_api,
    topups_api,
    vendor_api,
)
from api.spec import Operation

ROUTES: tuple[Operation, ...] = (
    *redeeming.OPERATIONS,
    *vendor_api.OPERATIONS,
    *catalogue_api.OPERATIONS,
    *vendor_api.STATEMENT_OPERATIONS,
    *claims_api.OPERATIONS,
    *payments_api.OPERATIONS,
    *campaign_api.OPERATIONS,
    *labels_api.OPERATIONS,
    *topups_api.OPERATIONS,
    *audit_api.OPERATIONS,
    *events_api.OPERATIONS,
    *access_api.OPERATIONS,
    *device_programme_api.OPERATIONS,
    *devices_api.OPERATIONS,
    *device_uploads.OPERATIONS,
    *device_custody_api.OPERATIONS,
    *device_reports_api.OPERATIONS,
    *fund_api.OPERATIONS,
    *subsidies_api.OPERATIONS,
    *cofinancing_api.OPERATIONS,
)
