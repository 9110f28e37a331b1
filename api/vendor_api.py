"""Vendors, their catalogue, claims and payments over HTTP."""

from __future__ import annotations

from api.spec import Operation

OPERATIONS: tuple[Operation, ...] = ()
