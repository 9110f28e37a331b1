"""The auditor's checkpoints and proofs over real HTTP, on each store: what the server
answers checks offline with the operator's public key alone, and nothing is proved against
a checkpoint the system did not sign and keep."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from datetime import UTC, datetime
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.services import SERVICES, open_checkpointer, run_projector
from api.tokens import generate_key_file, read_signing_key
from ledger.proofs import check_proof
from ledger.settings import Settings
from ledger.vouchers import VoucherLedger
from projections.checkpoint_store import CheckpointStore
from projections.checkpointer import Checkpointer
from projections.engine import create_read_engine
from tests import helpers

KEY = Ed25519PrivateKey.generate()
NOW = datetime(2027, 9, 1, 8, 0, tzinfo=UTC)


async def test_checkpoints_and_proofs_check_offline_and_only_staff_read_them(api):
    auditor, operator = api.token("auditor", "cour-des-comptes"), api.token("operator", "op-1")
    status, problem = await api.call("GET", "/v1/audit/proofs/inclusion?position=1", auditor)
    assert (status, problem["code"]) == (404, "checkpoint_not_found")
    services = api.client.server.app[SERVICES]
    checkpointer = Checkpointer(api.vouchers, services.checkpoints, KEY, api.settings)
    campaign = api.campaign(("t1", "t2"))  # 4 events
    small = checkpointer.issue(NOW)
    api.vouchers.grant_credits(
        UUID(campaign), ("t3",), grant_key="g2", by="op", now=helpers.START,
        territories=helpers.in_paris(("t3",)),
    )  # fmt: skip
    large = checkpointer.issue(NOW)
    assert (small.log_size, large.log_size) == (4, 6)

    status, listed = await api.call("GET", "/v1/audit/checkpoints", auditor)
    assert (status, listed) == (
        200,
        {"checkpoints": [small.as_dict(), large.as_dict()], "total": 2},
    )
    status, page = await api.call("GET", "/v1/audit/checkpoints?limit=1&offset=1", operator)
    assert (status, page["checkpoints"]) == (200, [large.as_dict()])
    status, one = await api.call("GET", "/v1/audit/checkpoints/4", auditor)
    assert (status, one) == (200, small.as_dict())
    status, problem = await api.call("GET", "/v1/audit/checkpoints/x4", auditor)
    assert (status, problem["code"]) == (422, "invalid_input")
    for missing in ("5", "9" * 40):
        status, problem = await api.call("GET", f"/v1/audit/checkpoints/{missing}", auditor)
        assert (status, problem["code"]) == (404, "checkpoint_not_found")

    public = KEY.public_key()
    status, proof = await api.call("GET", "/v1/audit/proofs/inclusion?position=5", auditor)
    assert (status, proof["leaf_index"], proof["checkpoint"]) == (200, 4, large.as_dict())
    assert "is in the signed checkpoint of size 6" in check_proof(proof, public)
    status, proof = await api.call("GET", "/v1/audit/proofs/inclusion?position=2&size=4", auditor)
    assert status == 200 and check_proof(proof, public)
    query = "/v1/audit/proofs/consistency?from=4&to=6"
    status, proof = await api.call("GET", query, auditor)
    assert status == 200 and "is a prefix" in check_proof(proof, public)

    for path, expected in (
        ("/v1/audit/proofs/inclusion?position=5&size=4", (404, "event_not_found")),
        ("/v1/audit/proofs/inclusion?position=1&size=5", (404, "checkpoint_not_found")),
        ("/v1/audit/proofs/consistency?from=6&to=4", (422, "invalid_tree_size")),
        ("/v1/audit/proofs/consistency?from=3&to=6", (404, "checkpoint_not_found")),
        ("/v1/audit/proofs/inclusion?position=0", (422, "invalid_input")),
    ):
        status, problem = await api.call("GET", path, auditor)
        assert (status, problem["code"]) == expected, path
    status, problem = await api.call("GET", "/v1/audit/checkpoints", api.token("teacher", "t1"))
    assert (status, problem["code"]) == (403, "forbidden")


def test_the_projector_signs_a_checkpoint_as_the_log_grows(store_settings, tmp_path):
    key_file = tmp_path / "checkpoint-key.pem"
    generate_key_file(key_file)
    settings = dataclasses.replace(
        store_settings, checkpoint_key_file=str(key_file), poll_interval_ms=20
    )
    app = VoucherLedger(settings)
    engine = create_read_engine(settings)
    stop = threading.Event()
    projector = threading.Thread(target=run_projector, args=(settings, stop))
    try:
        helpers.open_campaign(app)
        projector.start()
        store, deadline = CheckpointStore(engine), time.monotonic() + 20
        while store.latest() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        projector.join()
        (kept,) = store.listing()  # the first comes with the first event
        kept.check(read_signing_key(key_file).public_key())
        assert (kept.log_size, kept.position) == (1, app.recorder.max_notification_id())
    finally:
        stop.set()
        app.close()
        engine.dispose()


def test_without_a_checkpoint_key_on_postgresql_the_books_are_served_unsigned(caplog):
    settings = Settings(database_url="postgresql://tirelire@127.0.0.1:5432/tirelire")
    with caplog.at_level(logging.WARNING, logger="tirelire.api"):
        assert open_checkpointer(settings, None, None) is None  # type: ignore[arg-type]
    assert "no checkpoints are signed" in caplog.text
