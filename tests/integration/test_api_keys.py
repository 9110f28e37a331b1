"""API keys on both stores: issued, verified, revoked, listed; the secret is never stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from api.keys import ApiKeys, api_keys
from api.spec import Caller, Role
from ledger.errors import InvalidInput, InvalidToken, NotFound
from ledger.settings import Settings
from projections.engine import create_read_engine

NOW = datetime(2027, 9, 1, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=30)


@pytest.fixture
def engine(store_settings: Settings):
    engine = create_read_engine(store_settings)
    yield engine
    engine.dispose()


@pytest.fixture
def keys(engine) -> ApiKeys:
    return ApiKeys(engine, cache_ttl_s=0)


def all_rows(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select(api_keys).order_by(api_keys.c.key_id))]


def test_an_issued_key_verifies_as_its_vendor_with_its_key_id(keys):
    key_id, secret = keys.issue(subject="vendor-7", by="operator:alice", now=NOW)
    assert secret.startswith(f"tlk_{key_id}_") and len(secret) == 4 + 32 + 1 + 43
    assert keys.verify(secret) == Caller(
        subject="vendor-7", role=Role.VENDOR, expires_at=0, scopes=frozenset(), key_id=key_id
    )


def test_two_keys_of_one_vendor_are_different_and_both_verify(keys):
    first = keys.issue(subject="vendor-7", by="operator:alice", now=NOW)
    second = keys.issue(subject="vendor-7", by="operator:alice", now=NOW)
    assert first[0] != second[0] and first[1] != second[1]
    assert {keys.verify(secret).key_id for _, secret in (first, second)} == {first[0], second[0]}


def test_a_revoked_key_is_refused_at_once_without_a_cache(keys):
    key_id, secret = keys.issue(subject="vendor-7", by="operator:alice", now=NOW)
    keys.verify(secret)
    assert keys.revoke(key_id, by="operator:bob", now=LATER) is True
    with pytest.raises(InvalidToken, match="revoked"):
        keys.verify(secret)


def test_another_process_refuses_a_revoked_key_once_its_cache_time_has_passed(engine, keys):
    key_id, secret = keys.issue(subject="vendor-7", by="operator:alice", now=NOW)
    other = ApiKeys(engine, cache_ttl_s=5.0)
    assert other.verify(secret, now_monotonic=100.0).key_id == key_id
    keys.revoke(key_id, by="operator:bob", now=LATER)
    assert other.verify(secret, now_monotonic=104.9).key_id == key_id  # within the bound
    with pytest.raises(InvalidToken, match="revoked"):
        other.verify(secret, now_monotonic=105.0)


def test_the_process_that_revokes_a_key_refuses_it_at_once_despite_its_cache(engine):
    keys = ApiKeys(engine, cache_ttl_s=60.0)
    key_id, secret = keys.issue(subject="vendor-7", by="operator:alice", now=NOW)
    keys.verify(secret, now_monotonic=100.0)
    keys.revoke(key_id, by="operator:bob", now=LATER)
    with pytest.raises(InvalidToken, match="revoked"):
        keys.verify(secret, now_monotonic=100.1)


def test_a_cached_key_id_with_a_wrong_secret_is_still_refused(engine):
    keys = ApiKeys(engine, cache_ttl_s=60.0)
    key_id, secret = keys.issue(subject="vendor-7", by="operator:alice", now=NOW)
    keys.verify(secret, now_monotonic=100.0)
    wrong = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    with pytest.raises(InvalidToken, match="not valid"):
        keys.verify(wrong, now_monotonic=100.1)
    assert keys.verify(secret, now_monotonic=100.2).key_id == key_id


def test_unknown_keys_and_wrong_secrets_get_the_same_refusal(keys):
    key_id, secret = keys.issue(subject="vendor-7", by="operator:alice", now=NOW)
    unknown = f"tlk_{'0' * 32}_{secret[-43:]}"
    wrong_secret = f"tlk_{key_id}_{'A' * 43}"
    messages = set()
    for presented in (unknown, wrong_secret):
        with pytest.raises(InvalidToken) as refused:
            keys.verify(presented)
        messages.add(refused.value.message)
    assert messages == {"the API key is not valid"}


@pytest.mark.parametrize(
    "presented",
    ["", "tlk_", "Bearer tlk_x", "tlk_" + "0" * 32 + "_" + "A" * 42, "tlk_" + "G" * 32 + "_x", 42],
)
def test_a_malformed_key_is_refused(keys, presented):
    with pytest.raises(InvalidToken, match="not a Tirelire API key"):
        keys.verify(presented)


def test_a_malformed_form_of_a_real_secret_is_refused(keys):
    _, secret = keys.issue(subject="vendor-7", by="operator:alice", now=NOW)
    for presented in (secret + "\n", " " + secret, secret.upper(), secret + "A"):
        with pytest.raises(InvalidToken):
            keys.verify(presented)


def test_the_database_never_holds_the_secret(engine, keys):
    secrets = [keys.issue(subject=f"vendor-{n}", by="op", now=NOW)[1] for n in range(3)]
    stored = repr(all_rows(engine))
    for secret in secrets:
        assert secret not in stored
        assert secret.rsplit("_", 1)[-1] not in stored  # not even the random part
        assert secret[-43:] not in stored


def test_revoking_twice_answers_false_and_keeps_the_first_revocation(engine, keys):
    key_id, _ = keys.issue(subject="vendor-7", by="operator:alice", now=NOW)
    assert keys.revoke(key_id, by="operator:bob", now=LATER) is True
    before = all_rows(engine)
    assert keys.revoke(key_id, by="operator:carol", now=LATER + timedelta(days=1)) is False
    assert all_rows(engine) == before
    (listed,) = keys.list_for("vendor-7")
    assert (listed["revoked_at"], listed["revoked_by"]) == (LATER, "operator:bob")


@pytest.mark.parametrize("key_id", ["0" * 32, "not-a-key-id", ""])
def test_revoking_an_unknown_key_is_refused_and_changes_nothing(engine, keys, key_id):
    keys.issue(subject="vendor-7", by="operator:alice", now=NOW)
    before = all_rows(engine)
    with pytest.raises(NotFound, match="no API key"):
        keys.revoke(key_id, by="operator:bob", now=LATER)
    assert all_rows(engine) == before


def test_scopes_round_trip_sorted_and_without_duplicates(keys):
    scopes = ["submit_claim", "list_resources", "submit_claim"]
    _, secret = keys.issue(subject="vendor-7", scopes=scopes, by="op", now=NOW)
    assert keys.verify(secret).scopes == frozenset({"submit_claim", "list_resources"})
    assert keys.list_for("vendor-7")[0]["scopes"] == ["list_resources", "submit_claim"]


def test_a_key_may_carry_another_role(keys):
    _, secret = keys.issue(subject="auditor-1", role=Role.AUDITOR, by="op", now=NOW)
    assert keys.verify(secret).role is Role.AUDITOR


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": ""},
        {"subject": "vendor 7"},
        {"subject": "v" * 129},
        {"scopes": ["SubmitClaim"]},
        {"scopes": ["submit claim"]},
        {"scopes": [f"op_{n}" for n in range(101)]},
        {"by": ""},
        {"by": "x" * 161},
    ],
)
def test_a_refused_issue_stores_nothing(engine, keys, changes):
    arguments = {"subject": "vendor-7", "scopes": (), "by": "op", "now": NOW, **changes}
    with pytest.raises(InvalidInput):
        keys.issue(**arguments)
    assert all_rows(engine) == []


def test_the_list_of_a_vendor_shows_its_keys_only_and_never_a_secret_or_hash(keys):
    key_id, secret = keys.issue(subject="vendor-7", scopes=["submit_claim"], by="op", now=NOW)
    keys.issue(subject="vendor-8", by="op", now=NOW)
    (listed,) = keys.list_for("vendor-7")
    assert listed == {
        "key_id": key_id,
        "subject": "vendor-7",
        "role": "vendor",
        "scopes": ["submit_claim"],
        "created_at": NOW,
        "created_by": "op",
        "revoked_at": None,
        "revoked_by": None,
    }
    assert secret not in repr(listed) and secret[-43:] not in repr(listed)
    assert keys.list_for("vendor-9") == []


def test_times_are_stored_in_utc_whatever_the_zone_given(keys):
    paris = NOW.astimezone(timezone(timedelta(hours=2)))  # 10:00 in Paris in September
    keys.issue(subject="vendor-7", by="op", now=paris)
    assert keys.list_for("vendor-7")[0]["created_at"] == NOW
    assert keys.list_for("vendor-7")[0]["created_at"].tzinfo is UTC
