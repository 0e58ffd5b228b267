"""Token Status List: the draft's vectors, encode/decode, status list tokens, the cache, index allocation."""

import json
import zlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from service import jws
from service.passport import status_list as sl
from service.passport.status_list import CredentialStatus, StatusList, StatusListError, StatusReference
from tests.passport.credential_helpers import (
    LIST_URI,
    NOW,
    b64,
    b64_json,
    issuer_key,
    kid_of,
    verification_key,
)

VECTORS = Path(__file__).parent.parent / "vectors"
CASES = sorted(p for p in VECTORS.iterdir() if p.name.startswith("status-list-"))


def _vector(case: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((case / "vector.json").read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_the_drafts_example_lists_are_reproduced(case: Path) -> None:
    vector = _vector(case)
    made = StatusList.from_statuses(vector["statuses"], bits=vector["bits"])
    assert made.to_bytes().hex() == vector["bytes_hex"]
    assert made.encode() == vector["lst"]
    assert made.to_json() == {"bits": vector["bits"], "lst": vector["lst"]}
    decoded = StatusList.decode(vector["bits"], vector["lst"])
    assert [decoded[i] for i in range(len(vector["statuses"]))] == vector["statuses"]


def test_bit_order_is_least_significant_first() -> None:
    lst = StatusList(8, bits=2)
    lst[0] = sl.Status.INVALID
    lst[3] = sl.Status.SUSPENDED
    lst[5] = 3
    assert lst.to_bytes() == bytes([0b10000001, 0b00001100])
    lst[3] = sl.Status.VALID
    assert lst.to_bytes() == bytes([0b00000001, 0b00001100])


@settings(max_examples=150, deadline=None)
@given(data=st.data(), bits=st.sampled_from([1, 2, 4, 8]))
def test_any_list_decodes_to_what_was_encoded(data: Any, bits: int) -> None:
    statuses = data.draw(st.lists(st.integers(0, (1 << bits) - 1), min_size=1, max_size=400))
    made = StatusList.from_statuses(statuses, bits=bits)
    back = StatusList.from_json(json.loads(json.dumps(made.to_json())))
    assert back == made
    assert [back[i] for i in range(len(statuses))] == statuses
    assert all(back[i] == 0 for i in range(len(statuses), back.size))


def test_a_registry_list_of_131072_entries_stays_small() -> None:
    lst = StatusList(sl.MIN_LIST_SIZE)
    for index in range(0, sl.MIN_LIST_SIZE, 997):
        lst[index] = sl.Status.INVALID
    assert len(lst.encode()) < 2000
    assert StatusList.decode(2, lst.encode()) == lst


@pytest.mark.parametrize(
    ("bits", "lst", "code"),
    [
        (3, "eNrbuRgAAhcBXQ", "status_list_malformed"),
        (True, "eNrbuRgAAhcBXQ", "status_list_malformed"),
        (1, 5, "status_list_malformed"),
        (1, "eNrbuRgAAhcBXQ==", "status_list_malformed"),
        (1, b64(b"not zlib at all"), "status_list_malformed"),
        (1, b64(zlib.compress(b"\x01\x02")[:-2]), "status_list_malformed"),
        (1, b64(zlib.compress(b"\x01\x02") + b"trailing"), "status_list_malformed"),
        (1, b64(zlib.compress(b"")), "status_list_malformed"),
        (1, b64(zlib.compress(bytes(64 * 1024 * 1024), 9)), "status_list_too_large"),
    ],
)
def test_lists_that_cannot_be_used_are_refused(bits: Any, lst: Any, code: str) -> None:
    with pytest.raises(StatusListError) as caught:
        StatusList.decode(bits, lst)
    assert caught.value.code == code


def test_statuses_must_fit_their_bits_and_indexes_the_list() -> None:
    lst = StatusList(8, bits=1)
    with pytest.raises(StatusListError):
        lst[0] = 2
    with pytest.raises(IndexError):
        lst[8] = 1
    with pytest.raises(TypeError):
        lst[0] = True
    with pytest.raises(StatusListError):
        StatusList(7, bits=2)


# ---------------------------------------------------------------- references


def test_the_status_claim_of_a_credential() -> None:
    claim = sl.status_claim(LIST_URI, 42)
    assert claim == {"status_list": {"idx": 42, "uri": LIST_URI}}
    assert StatusReference.from_claim(claim) == StatusReference(LIST_URI, 42)


@pytest.mark.parametrize(
    "claim",
    [None, "x", {}, {"status_list": None}, {"status_list": {"idx": 1}}, {"status_list": {"uri": LIST_URI}},
     {"status_list": {"idx": -1, "uri": LIST_URI}}, {"status_list": {"idx": True, "uri": LIST_URI}},
     {"status_list": {"idx": 1.0, "uri": LIST_URI}}, {"status_list": {"idx": 1, "uri": ""}}],
)  # fmt: skip
def test_a_malformed_status_claim_is_refused(claim: Any) -> None:
    with pytest.raises(StatusListError) as caught:
        StatusReference.from_claim(claim)
    assert caught.value.code == "status_malformed"


# ---------------------------------------------------------------- status list tokens


_1 = {"bits": 1, "lst": "eNrbuRgAAhcBXQ"}
_NO_LST = {"bits": 1}


def _raw(claims: dict[str, Any]) -> str:
    return jws.sign(claims, issuer_key(), typ="statuslist+jwt")


def _token(**overrides: Any) -> str:
    lst = StatusList(sl.MIN_LIST_SIZE)
    lst[7] = sl.Status.INVALID
    lst[8] = sl.Status.SUSPENDED
    arguments: dict[str, Any] = {
        "key": issuer_key(),
        "kid": kid_of(issuer_key()),
        "uri": LIST_URI,
        "iat": NOW,
        "exp": NOW + 86400,
        "ttl": 300,
        "iss": "https://passport.nhs.example",
    }
    arguments.update(overrides)
    return sl.sign_token(lst, **arguments)


def test_a_status_list_token_has_the_drafts_shape() -> None:
    token = _token()
    header = jws.unverified_header(token)
    assert header == {"alg": "ES256", "typ": "statuslist+jwt", "kid": kid_of(issuer_key())}
    claims = jws.verify(token, verification_key(issuer_key()), typ="statuslist+jwt").claims()
    assert set(claims) == {"sub", "iat", "exp", "ttl", "iss", "status_list"}
    assert claims["sub"] == LIST_URI
    assert claims["status_list"]["bits"] == 2


def test_a_status_list_token_verifies_and_gives_the_list() -> None:
    verified = sl.verify_token(_token(), verification_key(issuer_key()), uri=LIST_URI, now=NOW + 10)
    assert (verified.uri, verified.iat, verified.exp, verified.ttl) == (LIST_URI, NOW, NOW + 86400, 300)
    assert verified.status_list.status_of(7) == CredentialStatus.INVALID
    assert verified.status_list.status_of(8) == CredentialStatus.SUSPENDED
    assert verified.status_list.status_of(9) == CredentialStatus.VALID


@pytest.mark.parametrize(
    ("token", "arguments", "code"),
    [
        (lambda: _token(), {"uri": "https://passport.nhs.example/status-lists/8"}, "wrong_uri"),
        (lambda: _token(), {"now": NOW + 2 * 86400}, "expired"),
        (lambda: _token(iat=NOW + 3600), {}, "not_yet_valid"),
        (lambda: _token(), {"iss": "https://elsewhere.example"}, "wrong_issuer"),
        (lambda: _token(key=ec.generate_private_key(ec.SECP256R1())), {}, "bad_signature"),
        (lambda: jws.sign({"sub": LIST_URI, "iat": NOW}, issuer_key(), typ="dc+sd-jwt"), {}, "wrong_typ"),
        (lambda: jws.sign({"sub": LIST_URI}, issuer_key(), typ="statuslist+jwt"), {}, "token_malformed"),
        (lambda: _raw({"sub": LIST_URI, "iat": NOW, "ttl": 0, "status_list": _1}), {}, "token_malformed"),
        (lambda: _raw({"sub": LIST_URI, "iat": NOW, "status_list": _NO_LST}), {}, "status_list_malformed"),
        (lambda: b64_json({"alg": "none", "typ": "statuslist+jwt"}) + ".e30.", {}, "unsupported_alg"),
        (lambda: "not a token", {}, "malformed"),
    ],
)  # fmt: skip
def test_status_list_tokens_that_cannot_be_trusted_are_refused(
    token: Any, arguments: dict[str, Any], code: str
) -> None:
    checked: dict[str, Any] = {"uri": LIST_URI, "now": NOW, **arguments}
    with pytest.raises(StatusListError) as caught:
        sl.verify_token(token(), verification_key(issuer_key()), **checked)
    assert caught.value.code == code


def test_a_status_list_token_from_an_unknown_key_is_refused() -> None:
    with pytest.raises(StatusListError) as caught:
        sl.verify_token(_token(), lambda header: None, uri=LIST_URI, now=NOW)
    assert caught.value.code == "unknown_key"


# ---------------------------------------------------------------- the verifier's cache


def test_the_cache_answers_from_a_fresh_list_and_unavailable_after_its_ttl() -> None:
    cache = sl.StatusListCache()
    cache.put(
        sl.verify_token(_token(), verification_key(issuer_key()), uri=LIST_URI, now=NOW), fetched_at=NOW
    )
    lookup = cache.lookup_at(NOW + 60)
    assert lookup(StatusReference(LIST_URI, 7)) == CredentialStatus.INVALID
    assert lookup(StatusReference(LIST_URI, 8)) == CredentialStatus.SUSPENDED
    assert lookup(StatusReference(LIST_URI, 1)) == CredentialStatus.VALID
    assert lookup(StatusReference(LIST_URI, sl.MIN_LIST_SIZE)) == CredentialStatus.UNAVAILABLE
    assert lookup(StatusReference("https://elsewhere.example/1", 1)) == CredentialStatus.UNAVAILABLE
    assert cache.fresh_until(LIST_URI) == NOW + 300
    assert cache.lookup(StatusReference(LIST_URI, 1), now=NOW + 300) == CredentialStatus.UNAVAILABLE


def test_the_cache_never_uses_a_list_past_its_exp() -> None:
    cache = sl.StatusListCache(default_ttl=3600)
    token = sl.verify_token(
        _token(exp=NOW + 100, ttl=None), verification_key(issuer_key()), uri=LIST_URI, now=NOW
    )
    cache.put(token, fetched_at=NOW)
    assert cache.fresh_until(LIST_URI) == NOW + 100


def test_an_application_specific_status_value_is_not_taken_as_valid() -> None:
    lst = StatusList(8, bits=2)
    lst[2] = 3
    assert lst.status_of(2) == CredentialStatus.UNAVAILABLE


# ---------------------------------------------------------------- index allocation


def test_lists_have_at_least_131072_entries() -> None:
    with pytest.raises(StatusListError):
        sl.IndexAllocator(65_536)
    assert sl.IndexAllocator(sl.MIN_LIST_SIZE).free == 131_072


@settings(max_examples=60, deadline=None)
@given(taken=st.sets(st.integers(0, sl.MIN_LIST_SIZE - 1), max_size=200), count=st.integers(1, 500))
def test_the_allocator_never_repeats_an_index(taken: set[int], count: int) -> None:
    allocator = sl.IndexAllocator(sl.MIN_LIST_SIZE, taken)
    drawn = allocator.allocate_many(count)
    assert len(set(drawn)) == count
    assert not set(drawn) & taken
    assert all(0 <= i < sl.MIN_LIST_SIZE for i in drawn)
    assert allocator.free == sl.MIN_LIST_SIZE - len(taken) - count


def test_the_last_free_entries_are_found_and_then_the_list_is_full() -> None:
    free = {5, 77_777, 131_071}
    allocator = sl.IndexAllocator(sl.MIN_LIST_SIZE, (i for i in range(sl.MIN_LIST_SIZE) if i not in free))
    with pytest.raises(sl.ListFull):
        allocator.allocate_many(4)
    assert allocator.free == 3  # nothing was allocated by the refused request
    assert set(allocator.allocate_many(3)) == free
    with pytest.raises(sl.ListFull):
        allocator.allocate()


def test_indexes_are_spread_over_the_whole_list_not_handed_out_in_order() -> None:
    drawn = sl.IndexAllocator(sl.MIN_LIST_SIZE).allocate_many(1000)
    assert drawn != sorted(drawn)
    assert min(drawn) < sl.MIN_LIST_SIZE // 10
    assert max(drawn) > sl.MIN_LIST_SIZE * 9 // 10


def test_allocated_indexes_given_twice_or_outside_the_list_are_refused() -> None:
    with pytest.raises(StatusListError):
        sl.IndexAllocator(sl.MIN_LIST_SIZE, [3, 3])
    with pytest.raises(StatusListError):
        sl.IndexAllocator(sl.MIN_LIST_SIZE, [sl.MIN_LIST_SIZE])
