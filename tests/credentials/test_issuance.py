"""The pure issuance module: the claim model's fast path gives what the generic SD-JWT issuer gives
(same disclosures at the same paths, a credential the verifier accepts), by property; expiry per type."""

import base64
import datetime as dt
import os
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from service import jws
from service.credentials import issuance
from service.passport import presentation, sdjwt
from service.passport.status_list import StatusReference

ISSUER_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()
HOLDER = jws.public_jwk(ec.generate_private_key(ec.SECP256R1()).public_key())
NOW = 1_800_000_000

names = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF), min_size=1, max_size=12).filter(
    lambda n: n not in ("_sd", "...")
)
scalars = st.one_of(st.text(max_size=30), st.integers(-(2**40), 2**40), st.booleans(), st.none())
values = st.one_of(scalars, st.dictionaries(names, scalars, max_size=4), st.lists(scalars, max_size=3))
records = st.dictionaries(names, values, min_size=1, max_size=8)
containers = st.sampled_from(["core_skills", "occupational_health", "placements", "identity"])


def model(
    container: str, items: list[dict[str, Any]], single: bool
) -> tuple[dict[str, Any], list[tuple[str | int, ...]]]:
    """Claims and disclosable paths in the claim model's shape (service.passport.claims.build_claims)."""
    claims: dict[str, Any] = {"holder_id": "urn:uuid:0f3b9c2e-57a4-5d0b-8f61-2c9e4a7d1b35"}
    paths: list[tuple[str | int, ...]] = [("holder_id",)]
    if single:
        claims[container] = items[0]
        paths += [(container, name) for name in items[0]]
    else:
        claims[container] = items
        for index, item in enumerate(items):
            paths.append((container, index))
            paths += [(container, index, name) for name in item]
    return claims, paths


def job(claims: dict[str, Any], paths: list[tuple[str | int, ...]]) -> issuance.SignJob:
    status = StatusReference("https://registry.example/status-lists/abc", 7)
    payload = issuance.payload(
        claims,
        iss="https://registry.example",
        vct="https://registry.example/vct/x/v1",
        iat=NOW,
        exp=NOW + 3600,
        status=status,
    )
    return issuance.SignJob(payload, tuple(paths), HOLDER)


def contents(held: sdjwt.HeldCredential) -> list[tuple[tuple[str | int, ...], str]]:
    found = []
    for f in held.found:
        value = f.disclosure.value
        shown = (
            jws.canonical_json(value).decode()
            if not isinstance(value, dict) or "_sd" not in value
            else "object"
        )
        found.append((f.path, shown))
    return sorted(found, key=repr)


@settings(max_examples=60, deadline=None)
@given(containers, st.lists(records, min_size=1, max_size=4), st.booleans())
def test_fast_path_equals_the_generic_issuer(
    container: str, items: list[dict[str, Any]], single: bool
) -> None:
    claims, paths = model(container, items, single)
    work = job(claims, paths)
    assert issuance.model_shape(work.payload, work.disclosable) == container
    fast = sdjwt.HeldCredential.parse(issuance.sign_one(work, ISSUER_KEY, "k1"))
    generic = sdjwt.HeldCredential.parse(
        sdjwt.issue(
            work.payload, issuance.patterns_of(paths), key=ISSUER_KEY, kid="k1", holder_jwk=HOLDER
        ).combined()
    )
    assert sorted(fast.paths, key=repr) == sorted(generic.paths, key=repr) == sorted(paths, key=repr)
    assert contents(fast) == contents(generic)
    assert fast.claims == generic.claims
    assert {k: v for k, v in fast.claims.items() if k in claims} == claims
    assert fast.payload["cnf"] == {"jwk": HOLDER}
    lookup = presentation.keys_by_kid([jws.VerificationKey("ES256", ISSUER_KEY.public_key(), "k1")])
    assert presentation.verify_credential(
        issuance.sign_one(work, ISSUER_KEY, "k1"), issuer_keys=lookup, now=NOW
    ).valid


def test_an_other_shape_goes_to_the_generic_issuer() -> None:
    claims, paths = model("core_skills", [{"a": 1, "b": 2}], single=False)
    partial = [p for p in paths if p != ("core_skills", 0, "b")]  # "b" plain inside its record
    work = job(claims, partial)
    assert issuance.model_shape(work.payload, work.disclosable) is None
    held = sdjwt.HeldCredential.parse(issuance.sign_one(work, ED_KEY, "k2"))
    assert sorted(held.paths, key=repr) == sorted(partial, key=repr)
    assert held.claims["core_skills"] == [{"a": 1, "b": 2}]


def test_decoys_hide_the_number_of_records() -> None:
    claims, paths = model("core_skills", [{"a": 1}], single=False)
    held = sdjwt.HeldCredential.parse(issuance.sign_one(job(claims, paths), ISSUER_KEY, "k1"))
    assert len(held.payload["core_skills"]) >= 2  # one record and 1 to 3 decoys
    assert len(held.payload["_sd"]) >= 2


def test_expiry_is_the_types_lifetime_capped_by_the_setting_and_the_first_lapse() -> None:
    issued = dt.datetime(2027, 8, 4, 6, tzinfo=dt.UTC)
    assert issuance.expiry("training_placement", issued, None, 365) == issued + dt.timedelta(days=180)
    assert issuance.expiry("core_skills", issued, None, 30) == issued + dt.timedelta(days=30)
    lapse = dt.date(2027, 9, 1)
    assert issuance.expiry("core_skills", issued, lapse, 365) == dt.datetime(2027, 9, 1, tzinfo=dt.UTC)
    assert issuance.expiry("identity_link", issued, dt.date(2027, 8, 1), 365) == issued + dt.timedelta(
        days=365
    )


def fast_salts(text: str) -> list[str]:
    return [f.disclosure.salt for f in sdjwt.HeldCredential.parse(text).found]


def test_fast_path_salts_have_144_random_bits_and_never_repeat_across_credentials() -> None:
    claims, paths = model("core_skills", [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], single=False)
    salts = [
        s for _ in range(200) for s in fast_salts(issuance.sign_one(job(claims, paths), ISSUER_KEY, "k1"))
    ]
    assert len(salts) == 200 * 7  # 2 records of 2 fields, 2 records, holder_id
    assert len(set(salts)) == len(salts)
    for salt in salts:
        assert len(base64.urlsafe_b64decode(salt)) == issuance.SALT_BYTES >= 16


def test_a_forked_worker_never_reuses_its_parents_random_bytes() -> None:
    claims, paths = model("identity", [{"a": 1}], single=True)
    work = job(claims, paths)
    issuance.sign_one(work, ISSUER_KEY, "k1")  # the parent holds a block of salts and random bytes
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe and exits at once
        try:
            os.write(writer, " ".join(fast_salts(issuance.sign_one(work, ISSUER_KEY, "k1"))).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        theirs = pipe.read().split()
    os.waitpid(child, 0)
    ours = fast_salts(issuance.sign_one(work, ISSUER_KEY, "k1"))
    assert len(theirs) == len(ours) == 2
    assert not set(theirs) & set(ours)
