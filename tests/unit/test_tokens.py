"""Bearer tokens: what we sign verifies as its caller; nothing else verifies at all."""

from __future__ import annotations

import base64
import json
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from api.spec import Caller, Role
from api.tokens import (
    MAX_TTL_S,
    SIGNING_CONTEXT,
    TokenVerifier,
    generate_key_file,
    issue_token,
    load_or_create_signing_key,
    public_key_pem,
    read_signing_key,
)
from ledger.errors import (
    InvalidIdentifier,
    InvalidInput,
    InvalidSigningKey,
    InvalidToken,
    TokenExpired,
)
from ledger.settings import Settings

NOW = 1_820_000_000  # 2027-09-02, Unix seconds
KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()
TOKEN = issue_token(KEY, subject="teacher-42", role=Role.TEACHER, now=NOW)
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signed(payload: bytes, key: Ed25519PrivateKey = KEY) -> str:
    """A token over any payload, properly signed: refusals then come from the payload."""
    return f"v1.{b64(payload)}.{b64(key.sign(SIGNING_CONTEXT + payload))}"


def claims(**changes: object) -> bytes:
    body = {"sub": "teacher-42", "role": "teacher", "iat": NOW, "exp": NOW + 3600, **changes}
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


def verifier() -> TokenVerifier:
    return TokenVerifier(KEY.public_key())


def flip(text: str, index: int) -> str:
    """`text` with the base64url character at `index` replaced by another one."""
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


def test_an_issued_token_verifies_as_its_subject_in_its_role():
    caller = verifier().verify(TOKEN, now=NOW + 10)
    assert caller == Caller(subject="teacher-42", role=Role.TEACHER, expires_at=NOW + 3600)
    assert caller.name == "teacher:teacher-42"


def test_an_authority_s_token_must_name_its_territory():
    token = issue_token(KEY, subject="departement-974", role=Role.AUTHORITY, now=NOW)
    assert verifier().verify(token, now=NOW).subject == "departement-974"
    for subject in ("mairie-de-paris", "commune-demo", "region-99"):
        with pytest.raises(InvalidIdentifier):
            issue_token(KEY, subject=subject, role=Role.AUTHORITY, now=NOW)


@pytest.mark.parametrize(
    ("role", "subject"),
    [
        (Role.DONOR, "company:38012986646850"),
        (Role.DONOR, "individual:donor-81f2"),
        (Role.REFURBISHER, "organisation:55210055400013"),
        (Role.SCHOOL, "school:0750655E"),
    ],
)
def test_a_device_bank_token_names_its_party_as_the_domain_spells_it(role, subject):
    token = issue_token(KEY, subject=subject, role=role, now=NOW)
    assert verifier().verify(token, now=NOW).subject == subject


@pytest.mark.parametrize(
    ("role", "subject"),
    [
        (Role.DONOR, "organisation:55210055400013"),  # an organisation does not donate here
        (Role.COLLECTOR, "company:55210055400013"),
        (Role.REFURBISHER, "organisation:55210055400014"),  # its Luhn digit is wrong
        (Role.EDUCATION_SERVICE, "organisation:552.100.554.00013"),  # not compact
        (Role.SCHOOL, "school:0750655e"),
        (Role.SCHOOL, "0750655E"),
    ],
)
def test_a_device_bank_token_naming_no_party_of_its_role_is_refused(role, subject):
    with pytest.raises(InvalidInput, match="subject"):
        issue_token(KEY, subject=subject, role=role, now=NOW)


def test_the_payload_is_compact_json_with_sorted_keys():
    payload = unb64(TOKEN.split(".")[1])
    assert payload == b'{"exp":1820003600,"iat":1820000000,"role":"teacher","sub":"teacher-42"}'


def test_a_token_is_refused_as_expired_from_its_expiry_second_on():
    token = issue_token(KEY, subject="v-1", role=Role.VENDOR, now=NOW, ttl_s=60)
    assert verifier().verify(token, now=NOW + 59).role is Role.VENDOR
    with pytest.raises(TokenExpired):
        verifier().verify(token, now=NOW + 60)


def test_the_cache_does_not_skip_the_expiry_check():
    check = verifier()
    token = issue_token(KEY, subject="v-1", role=Role.VENDOR, now=NOW, ttl_s=60)
    assert check.verify(token, now=NOW).subject == "v-1"  # now cached
    with pytest.raises(TokenExpired):
        check.verify(token, now=NOW + 60)
    with pytest.raises(TokenExpired):
        check.verify(token, now=NOW + 61)


def test_a_cached_token_answers_without_checking_its_signature_again(monkeypatch):
    check = verifier()
    check.verify(TOKEN, now=NOW)
    monkeypatch.setattr(check, "_check", lambda token: pytest.fail("signature checked again"))
    assert check.verify(TOKEN, now=NOW + 1).subject == "teacher-42"


def test_a_refused_token_is_not_remembered_and_the_cache_keeps_no_stranger():
    check = verifier()
    check.verify(TOKEN, now=NOW)
    forged = flip(TOKEN, len(TOKEN) - 5)
    for _ in range(2):
        with pytest.raises(InvalidToken):
            check.verify(forged, now=NOW)
    assert check.verify(TOKEN, now=NOW).subject == "teacher-42"
    assert list(check._cache) == [TOKEN]


def test_the_cache_forgets_the_least_recently_used_token_beyond_its_size():
    check = TokenVerifier(KEY.public_key(), cache_size=2)
    tokens = [issue_token(KEY, subject=f"t{n}", role=Role.TEACHER, now=NOW) for n in range(3)]
    for token in tokens:
        check.verify(token, now=NOW)
    assert list(check._cache) == tokens[1:]


def test_a_flipped_character_anywhere_in_the_payload_or_signature_is_refused():
    check = verifier()
    for index in range(len("v1."), len(TOKEN)):
        if TOKEN[index] == ".":
            continue
        with pytest.raises(InvalidToken):
            check.verify(flip(TOKEN, index), now=NOW)
    assert check.verify(TOKEN, now=NOW).subject == "teacher-42"


def test_payloads_swapped_between_two_tokens_are_refused():
    other = issue_token(KEY, subject="op-1", role=Role.OPERATOR, now=NOW)
    _, payload_a, signature_a = TOKEN.split(".")
    _, payload_b, signature_b = other.split(".")
    for token in (f"v1.{payload_a}.{signature_b}", f"v1.{payload_b}.{signature_a}"):
        with pytest.raises(InvalidToken, match="signature"):
            verifier().verify(token, now=NOW)


def test_a_role_changed_in_the_payload_with_the_signature_kept_is_refused():
    _, payload, signature = TOKEN.split(".")
    promoted = unb64(payload).replace(b'"teacher"', b'"operator"')
    with pytest.raises(InvalidToken, match="signature"):
        verifier().verify(f"v1.{b64(promoted)}.{signature}", now=NOW)


def test_a_token_signed_by_another_key_is_refused():
    foreign = issue_token(OTHER_KEY, subject="teacher-42", role=Role.TEACHER, now=NOW)
    with pytest.raises(InvalidToken, match="signature"):
        verifier().verify(foreign, now=NOW)


@pytest.mark.parametrize("cut", [1, 2, 10, 43, 86, len(TOKEN) - 3])
def test_a_truncated_token_is_refused(cut):
    with pytest.raises(InvalidToken):
        verifier().verify(TOKEN[:-cut], now=NOW)


def test_an_overlong_token_is_refused_before_any_decoding():
    with pytest.raises(InvalidToken, match="at most 1024"):
        verifier().verify(TOKEN + "A" * (1025 - len(TOKEN)), now=NOW)


@pytest.mark.parametrize(
    "token",
    [
        TOKEN.replace(".", ".*", 1),
        TOKEN[:10] + "+" + TOKEN[11:],  # standard base64, not base64url
        TOKEN + "=",  # padding
        TOKEN[:10] + "é" + TOKEN[11:],
        TOKEN[:10] + "\n" + TOKEN[10:],
    ],
)
def test_a_token_that_is_not_base64url_is_refused(token):
    with pytest.raises(InvalidToken):
        verifier().verify(token, now=NOW)


def test_a_second_spelling_of_the_same_bytes_is_refused():
    """Base64 leaves unused bits in the last character: only the one with zeros is taken."""
    prefix, payload, signature = TOKEN.split(".")
    last = BASE64URL.index(signature[-1])
    respelled = signature[:-1] + BASE64URL[last | 1]  # 64 bytes: the last 4 bits are unused
    assert unb64(respelled) == unb64(signature) and respelled != signature
    with pytest.raises(InvalidToken, match="canonical"):
        verifier().verify(f"{prefix}.{payload}.{respelled}", now=NOW)


@pytest.mark.parametrize("prefix", ["v2.", "V1.", "v1", "", "Bearer v1."])
def test_a_token_of_another_version_or_shape_is_refused(prefix):
    token = prefix + TOKEN[len("v1.") :]
    with pytest.raises(InvalidToken):
        verifier().verify(token, now=NOW)


def test_a_signed_token_naming_an_unknown_role_is_refused():
    with pytest.raises(InvalidToken, match="unknown role"):
        verifier().verify(signed(claims(role="superuser")), now=NOW)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "exactly"),
        (claims(exp=None), "exactly"),
        (claims(sub=None), "exactly"),
        (claims(admin=True), "exactly"),
        (claims(sub=42), "subject"),
        (claims(sub=""), "subject"),
        (claims(sub="a b"), "subject"),
        (claims(role=1), "unknown role"),
        (claims(exp="1820003600"), "times"),
        (claims(exp=True, iat=False), "times"),
        (claims(exp=float(NOW + 10)), "times"),
        (claims(exp=NOW), "times"),  # never valid: expires when issued
        (claims(exp=NOW + MAX_TTL_S + 1), "times"),
    ],
)
def test_a_signed_token_with_missing_fields_or_wrong_types_is_refused(payload, reason):
    with pytest.raises(InvalidToken, match=reason):
        verifier().verify(signed(payload), now=NOW)


def test_a_signature_of_the_wrong_length_is_refused():
    prefix, payload, _ = TOKEN.split(".")
    with pytest.raises(InvalidToken, match="length"):
        verifier().verify(f"{prefix}.{payload}.{b64(bytes(63))}", now=NOW)


mutations = st.one_of(
    st.tuples(st.just("replace"), st.integers(0, 500), st.sampled_from(BASE64URL + ".=+/ é")),
    st.tuples(st.just("insert"), st.integers(0, 500), st.sampled_from(BASE64URL + ".")),
    st.tuples(st.just("delete"), st.integers(0, 500), st.just("")),
    st.tuples(st.just("swap"), st.integers(0, 500), st.integers(0, 500)),
)


def mutate(token: str, mutation: tuple) -> str:
    kind, position, argument = mutation
    index = position % len(token)
    if kind == "replace":
        return token[:index] + argument + token[index + 1 :]
    if kind == "insert":
        return token[:index] + argument + token[index:]
    if kind == "delete":
        return token[:index] + token[index + 1 :]
    chars = list(token)
    other = argument % len(token)
    chars[index], chars[other] = chars[other], chars[index]
    return "".join(chars)


@given(st.lists(mutations, min_size=1, max_size=4))
def test_no_random_mutation_of_a_token_verifies_as_a_different_caller(changes):
    check = verifier()
    original = check.verify(TOKEN, now=NOW)
    mutated = TOKEN
    for change in changes:
        mutated = mutate(mutated, change)
    try:
        caller = check.verify(mutated, now=NOW)
    except InvalidToken:
        return
    # Tokens have one spelling: only a mutation that gave back the same text verifies.
    assert mutated == TOKEN and caller == original


@pytest.mark.parametrize("subject", ["", "x" * 129, "a b", "émile", "t/1", "t\n"])
def test_issuing_for_a_subject_that_is_not_an_opaque_id_is_refused(subject):
    with pytest.raises(InvalidInput, match="subject"):
        issue_token(KEY, subject=subject, role=Role.TEACHER, now=NOW)


def test_a_subject_of_128_characters_of_every_allowed_kind_is_accepted():
    subject = ("aZ09._:@-" * 15)[:128]
    token = issue_token(KEY, subject=subject, role=Role.AUDITOR, now=NOW)
    assert verifier().verify(token, now=NOW).subject == subject


@pytest.mark.parametrize("ttl_s", [0, -1, MAX_TTL_S + 1])
def test_issuing_with_a_lifetime_outside_one_second_to_thirty_days_is_refused(ttl_s):
    with pytest.raises(InvalidInput, match="30 days"):
        issue_token(KEY, subject="t1", role=Role.TEACHER, now=NOW, ttl_s=ttl_s)


def test_the_public_key_pem_loads_back_as_the_key_that_verifies():
    pem = public_key_pem(KEY)
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    loaded = serialization.load_pem_public_key(pem)
    assert TokenVerifier(loaded).verify(TOKEN, now=NOW).subject == "teacher-42"
    assert public_key_pem(KEY.public_key()) == pem


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_the_sqlite_default_makes_a_private_key_file_once_and_then_reads_it(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path}/t.db")
    first = load_or_create_signing_key(settings)
    path = tmp_path / "t.db.signing-key.pem"
    assert settings.signing_key_path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert raw_public(load_or_create_signing_key(settings)) == raw_public(first)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.db.signing-key.pem"]  # no temp


def test_postgresql_without_a_key_file_is_refused_with_what_to_do():
    settings = Settings(database_url="postgresql://postgres@127.0.0.1/tirelire")
    with pytest.raises(InvalidSigningKey, match="openssl genpkey -algorithm ed25519"):
        load_or_create_signing_key(settings)


def test_a_configured_key_file_that_does_not_exist_is_refused_and_not_created(tmp_path):
    path = tmp_path / "missing.pem"
    settings = Settings(database_url=f"sqlite:///{tmp_path}/t.db", signing_key_file=str(path))
    with pytest.raises(InvalidSigningKey, match=f"{path}.*tirelire token keygen"):
        load_or_create_signing_key(settings)
    assert list(tmp_path.iterdir()) == []


def test_a_key_file_that_is_not_an_ed25519_key_is_refused(tmp_path):
    garbage, ec_key, encrypted = tmp_path / "g.pem", tmp_path / "ec.pem", tmp_path / "enc.pem"
    garbage.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnonsense\n")
    ec_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    encrypted.write_bytes(
        KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    for path, reason in [(garbage, "not an unencrypted PEM"), (ec_key, "not Ed25519")]:
        with pytest.raises(InvalidSigningKey, match=reason):
            read_signing_key(path)
    with pytest.raises(InvalidSigningKey, match="not an unencrypted PEM"):
        read_signing_key(encrypted)


def test_an_unreadable_key_file_is_refused(tmp_path):
    path = tmp_path / "key.pem"
    path.mkdir()  # unreadable as a file, even for root
    settings = Settings(database_url=f"sqlite:///{tmp_path}/t.db", signing_key_file=str(path))
    with pytest.raises(InvalidSigningKey, match="cannot read"):
        load_or_create_signing_key(settings)


def test_keygen_writes_a_readable_private_key_and_never_overwrites_one(tmp_path):
    path = tmp_path / "key.pem"
    key = generate_key_file(path)
    before = path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert raw_public(read_signing_key(path)) == raw_public(key)
    with pytest.raises(InvalidInput, match="already exists"):
        generate_key_file(str(path))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]
