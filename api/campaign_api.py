"""Campaigns, labels, top-ups and the auditor's reads over HTTP."""

from __future__ import annotations

from api.spec import Operation

OPERATIONS: tuple[Operation, ...] = ()
