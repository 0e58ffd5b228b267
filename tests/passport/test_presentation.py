"""Verifying presentations: the report, and one refusal per attack (each a verdict, never an exception)."""

import hashlib
import hmac
import json
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from service import jws
from service.passport import presentation, sdjwt
from service.passport.presentation import CHECKS, DEFAULT_POLICY, VerificationPolicy
from service.passport.status_list import CredentialStatus
from tests.passport.credential_helpers import (
    AUDIENCE,
    NONCE,
    NOW,
    VCT,
    Wallet,
    b64,
    b64_json,
    core_skills_claims,
    ed25519_key,
    kid_of,
    resign,
    unb64_json,
    verification_key,
    with_key_binding,
)


def _failed(report: presentation.VerificationReport) -> dict[str, str]:
    return {c.name: c.code for c in report.checks if c.outcome == "failed"}


def test_a_good_presentation_passes_every_check_and_shows_the_chosen_claims() -> None:
    wallet = Wallet()
    report = wallet.verify(wallet.present(("records/0", "holder/legal_name")))
    assert report.valid, report.failures
    assert [c.name for c in report.checks] == list(CHECKS)
    assert all(c.outcome == "passed" and c.code == "ok" and c.reason for c in report.checks)
    assert report.claims is not None
    assert report.claims["records"] == [wallet.claims["records"][0]]
    assert report.claims["holder"] == wallet.claims["holder"]
    assert "_sd" not in report.claims["holder"]
    assert "_sd_alg" not in report.claims
    assert report.issuer == wallet.claims["iss"]
    assert report.vct == VCT
    assert report.status_reference is not None
    assert report.status_reference.idx == 1234
    assert report.nonce == NONCE
    assert ("holder", "legal_name") in report.disclosed
    assert ("records", 0) in report.disclosed
    assert report.code is None


def test_eddsa_issuer_and_eddsa_holder() -> None:
    wallet = Wallet(issuer=ed25519_key(), holder=ed25519_key())
    report = wallet.verify(wallet.present())
    assert report.valid, report.failures


def test_a_credential_signed_by_a_retired_key_still_verifies() -> None:
    retired = Wallet()
    current = ec.generate_private_key(ec.SECP256R1())
    keys = presentation.keys_by_kid([verification_key(current), verification_key(retired.issuer)])
    assert retired.verify(retired.present(), issuer_keys=keys).valid


# ---------------------------------------------------------------- the issuer-signed JWT


def test_tampered_payload_is_refused() -> None:
    wallet = Wallet()
    header, payload, signature = wallet.issued.jwt.split(".")
    claims = unb64_json(payload)
    claims["exp"] += 10 * 365 * 86400
    text = wallet.present().replace(wallet.issued.jwt, f"{header}.{b64_json(claims)}.{signature}")
    report = wallet.verify(text)
    assert _failed(report) == {"signature": "bad_signature"}
    assert report.claims is None
    assert all(c.outcome == "skipped" for c in report.checks[report.checks.index(report.check("validity")) :])


def test_unknown_kid_is_refused() -> None:
    wallet = Wallet()
    stranger = ec.generate_private_key(ec.SECP256R1())
    report = wallet.verify(
        wallet.present(), issuer_keys=presentation.keys_by_kid([verification_key(stranger)])
    )
    assert _failed(report) == {"signature": "unknown_key"}


def test_alg_none_is_refused() -> None:
    wallet = Wallet()
    _, payload, _ = wallet.issued.jwt.split(".")
    forged = f"{b64_json({'alg': 'none', 'typ': 'dc+sd-jwt', 'kid': kid_of(wallet.issuer)})}.{payload}."
    report = wallet.verify(wallet.present().replace(wallet.issued.jwt, forged))
    assert _failed(report) == {"signature": "unsupported_alg"}


def test_hs256_signed_with_the_public_key_is_refused() -> None:
    wallet = Wallet()
    _, payload, _ = wallet.issued.jwt.split(".")
    header = b64_json({"alg": "HS256", "typ": "dc+sd-jwt", "kid": kid_of(wallet.issuer)})
    for secret in (
        wallet.issuer.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        json.dumps(jws.public_jwk(wallet.issuer.public_key())).encode(),
    ):
        mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        report = wallet.verify(wallet.present().replace(wallet.issued.jwt, f"{header}.{payload}.{b64(mac)}"))
        assert _failed(report) == {"signature": "unsupported_alg"}


@pytest.mark.parametrize("typ", ["vc+sd-jwt", "JWT", "kb+jwt", "statuslist+jwt", None])
def test_wrong_typ_is_refused(typ: str | None) -> None:
    wallet = Wallet()
    jwt = jws.sign(wallet.issued.payload, wallet.issuer, typ=typ, kid=kid_of(wallet.issuer))
    disclosures = [d.encoded for d in wallet.held.select(["records/0"])]
    report = wallet.verify(with_key_binding(wallet, jwt, disclosures))
    assert _failed(report) == {"typ": "wrong_typ"}


def test_expired_is_refused_and_leeway_is_configurable() -> None:
    wallet = Wallet(claims=core_skills_claims(exp=NOW - 30))
    assert _failed(wallet.verify(wallet.present())) == {}  # 30 s late, within the default 60 s leeway
    wallet.used_nonces.clear()
    strict = replace(DEFAULT_POLICY, leeway=0)
    assert _failed(wallet.verify(wallet.present(), policy=strict)) == {"validity": "expired"}
    old = Wallet(claims=core_skills_claims(exp=NOW - 3600))
    assert _failed(old.verify(old.present())) == {"validity": "expired"}


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_not_yet_valid_is_refused(claim: str) -> None:
    wallet = Wallet(claims=core_skills_claims(**{claim: NOW + 3600}))
    assert _failed(wallet.verify(wallet.present())) == {"validity": "not_yet_valid"}


def test_a_credential_without_exp_is_refused_by_default() -> None:
    claims = core_skills_claims()
    del claims["exp"]
    wallet = Wallet(claims=claims)
    assert _failed(wallet.verify(wallet.present())) == {"validity": "malformed_time"}
    wallet.used_nonces.clear()
    assert wallet.verify(wallet.present(), policy=replace(DEFAULT_POLICY, require_exp=False)).valid


def test_an_unaccepted_credential_type_is_refused() -> None:
    wallet = Wallet()
    policy = replace(DEFAULT_POLICY, accepted_vct=frozenset({"https://passport.nhs.example/vct/identity/1"}))
    assert _failed(wallet.verify(wallet.present(), policy=policy)) == {"vct": "unexpected_vct"}


# ---------------------------------------------------------------- disclosures


def test_tampered_disclosure_is_refused() -> None:
    wallet = Wallet()
    original = wallet.held.select(["holder/legal_name"])[0]
    forged = sdjwt.Disclosure.create(original.salt, "legal_name", "Someone Else").encoded
    report = wallet.verify(with_key_binding(wallet, wallet.issued.jwt, [forged]))
    assert _failed(report) == {"disclosures": "unreferenced_disclosure"}
    assert report.claims is None


def test_a_disclosure_from_another_credential_is_refused() -> None:
    wallet, other = Wallet(), Wallet()
    foreign = other.held.select(["holder/legal_name"])[0].encoded
    report = wallet.verify(with_key_binding(wallet, wallet.issued.jwt, [foreign]))
    assert _failed(report) == {"disclosures": "unreferenced_disclosure"}


def test_the_same_disclosure_twice_is_refused() -> None:
    wallet = Wallet()
    one = wallet.held.select(["holder/legal_name"])[0].encoded
    report = wallet.verify(with_key_binding(wallet, wallet.issued.jwt, [one, one]))
    assert _failed(report) == {"disclosures": "duplicate_disclosure"}


def _signed(wallet: Wallet, payload: dict[str, Any], disclosures: list[sdjwt.Disclosure]) -> str:
    return with_key_binding(wallet, resign(wallet.issuer, payload), [d.encoded for d in disclosures])


def _payload(wallet: Wallet, **members: Any) -> dict[str, Any]:
    return {**{k: v for k, v in wallet.issued.payload.items() if k not in ("records", "holder")}, **members}


@pytest.mark.parametrize("where", ["twice in _sd", "_sd and an array", "parent and child"])
def test_duplicate_digest_is_refused(where: str) -> None:
    wallet = Wallet()
    name = sdjwt.Disclosure.create("c2FsdHNhbHRzYWx0c2FsdA", "legal_name", "Priya Raman")
    element = sdjwt.Disclosure.create("c2FsdHNhbHRzYWx0c2FsdB", None, "x")
    if where == "twice in _sd":
        payload = _payload(wallet, holder={"_sd": [name.digest, name.digest]})
    elif where == "_sd and an array":
        payload = _payload(wallet, holder={"_sd": [element.digest]}, records=[{"...": element.digest}])
    else:
        inner = sdjwt.Disclosure.create("c2FsdHNhbHRzYWx0c2FsdC", None, {"_sd": [name.digest]})
        payload = _payload(wallet, records=[{"...": inner.digest}], holder={"_sd": [name.digest]})
        report = wallet.verify(_signed(wallet, payload, [inner, name]))
        assert _failed(report) == {"disclosures": "duplicate_digest"}
        return
    report = wallet.verify(_signed(wallet, payload, [name]))
    assert _failed(report) == {"disclosures": "duplicate_digest"}


def test_a_disclosure_clashing_with_a_plain_claim_is_refused() -> None:
    wallet = Wallet()
    name = sdjwt.Disclosure.create("c2FsdHNhbHRzYWx0c2FsdA", "gmc_number", "7999999")
    payload = _payload(wallet, holder={"gmc_number": "7012345", "_sd": [name.digest]})
    assert _failed(wallet.verify(_signed(wallet, payload, [name]))) == {"disclosures": "claim_clash"}


@pytest.mark.parametrize("reserved", ["_sd", "..."])
def test_reserved_names_in_a_disclosure_are_refused(reserved: str) -> None:
    wallet = Wallet()
    bad = sdjwt.Disclosure.create("c2FsdHNhbHRzYWx0c2FsdA", reserved, ["x"])
    payload = _payload(wallet, holder={"_sd": [bad.digest]})
    assert _failed(wallet.verify(_signed(wallet, payload, [bad]))) == {"disclosures": "reserved_claim_name"}


def test_a_validity_claim_arriving_as_a_disclosure_is_refused() -> None:
    wallet = Wallet()
    exp = sdjwt.Disclosure.create("c2FsdHNhbHRzYWx0c2FsdA", "status", {"status_list": {"idx": 0, "uri": "x"}})
    payload = {k: v for k, v in wallet.issued.payload.items() if k != "status"}
    payload["_sd"] = [exp.digest]
    report = wallet.verify(_signed(wallet, payload, [exp]))
    assert _failed(report) == {"disclosures": "protected_claim_disclosed"}


@pytest.mark.parametrize("swap", ["element in _sd", "member in array"])
def test_a_disclosure_of_the_wrong_kind_is_refused(swap: str) -> None:
    wallet = Wallet()
    member = sdjwt.Disclosure.create("c2FsdHNhbHRzYWx0c2FsdA", "legal_name", "x")
    element = sdjwt.Disclosure.create("c2FsdHNhbHRzYWx0c2FsdB", None, "x")
    if swap == "element in _sd":
        payload, used = _payload(wallet, holder={"_sd": [element.digest]}), element
    else:
        payload, used = _payload(wallet, records=[{"...": member.digest}]), member
    assert _failed(wallet.verify(_signed(wallet, payload, [used]))) == {
        "disclosures": "disclosure_kind_mismatch"
    }


@pytest.mark.parametrize("sd", [{"_sd": "abc"}, {"_sd": [1]}, {"_sd": [None]}])
def test_a_malformed_sd_array_is_refused(sd: dict[str, Any]) -> None:
    wallet = Wallet()
    assert _failed(wallet.verify(_signed(wallet, _payload(wallet, holder=sd), []))) == {
        "disclosures": "malformed_sd"
    }


def test_an_unknown_digest_algorithm_is_refused() -> None:
    wallet = Wallet()
    payload = {**wallet.issued.payload, "_sd_alg": "md5"}
    assert _failed(wallet.verify(_signed(wallet, payload, []))) == {"disclosures": "unsupported_sd_alg"}


# ---------------------------------------------------------------- status


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (CredentialStatus.INVALID, "revoked"),
        (CredentialStatus.SUSPENDED, "suspended"),
        (CredentialStatus.UNAVAILABLE, "status_unavailable"),
    ],
)
def test_revoked_suspended_and_unknown_status_are_refused(status: CredentialStatus, code: str) -> None:
    wallet = Wallet(statuses={1234: status})
    report = wallet.verify(wallet.present())
    assert _failed(report) == {"status": code}
    assert report.claims is not None  # the verifier can still say whose credential it was


def test_a_credential_without_status_is_refused() -> None:
    claims = core_skills_claims()
    del claims["status"]
    wallet = Wallet(claims=claims)
    assert _failed(wallet.verify(wallet.present())) == {"status": "status_missing"}


@pytest.mark.parametrize(
    "status", [{"status_list": {"idx": -1, "uri": "x"}}, {"status_list": {"idx": "1"}}, [1]]
)
def test_a_malformed_status_claim_is_refused(status: Any) -> None:
    wallet = Wallet(claims=core_skills_claims(status=status))
    assert _failed(wallet.verify(wallet.present())) == {"status": "status_malformed"}


# ---------------------------------------------------------------- key binding


def test_missing_key_binding_is_refused() -> None:
    wallet = Wallet()
    text = sdjwt.presentation(wallet.issued.jwt, wallet.held.select(["records/0"]))
    report = wallet.verify(text)
    assert _failed(report) == {"key_binding": "kb_missing"}
    assert not report.valid
    assert report.check("kb_nonce").outcome == "skipped"


def test_a_presentation_for_another_audience_is_refused() -> None:
    wallet = Wallet()
    report = wallet.verify(wallet.present(aud="https://another-verifier.example"))
    assert _failed(report) == {"kb_audience": "kb_wrong_audience"}
    assert report.nonce is None  # the nonce is not spent on a presentation meant for someone else
    assert wallet.used_nonces == set()


def test_a_wrong_nonce_is_refused() -> None:
    wallet = Wallet()
    assert _failed(wallet.verify(wallet.present(nonce="an-older-request"))) == {"kb_nonce": "kb_wrong_nonce"}


def test_a_replayed_nonce_is_refused_through_the_hook() -> None:
    wallet = Wallet()
    text = wallet.present()
    assert wallet.verify(text).valid
    replay = wallet.verify(text)
    assert _failed(replay) == {"kb_nonce_unused": "kb_nonce_replayed"}


def test_without_a_hook_the_nonce_check_is_pending_until_storage_answers() -> None:
    wallet = Wallet()
    report = wallet.verify(wallet.present(), nonce_unused=None)
    assert not report.valid
    assert report.check("kb_nonce_unused").outcome == "pending"
    assert report.code == "kb_nonce_unchecked"
    assert report.nonce == NONCE
    assert report.nonce_pending
    recorded = report.with_nonce_use(True)
    assert recorded.valid
    assert not recorded.nonce_pending
    assert recorded.checks == wallet.verify(wallet.present()).checks  # as with the hook: all passed
    replayed = report.with_nonce_use(False)
    assert _failed(replayed) == {"kb_nonce_unused": "kb_nonce_replayed"}
    with pytest.raises(ValueError, match="not pending"):
        replayed.with_nonce_use(True)


def test_recording_the_nonce_keeps_the_other_failures() -> None:
    wallet = Wallet()
    stale = wallet.verify(wallet.present(iat=NOW - 3600), nonce_unused=None)
    assert stale.nonce_pending
    recorded = stale.with_nonce_use(True)
    assert not recorded.valid
    assert _failed(recorded) == {"kb_iat": "kb_stale"}
    assert recorded.check("kb_nonce_unused").outcome == "passed"


@pytest.mark.parametrize(("iat", "code"), [(NOW - 3600, "kb_stale"), (NOW + 3600, "kb_future")])
def test_a_stale_or_future_key_binding_jwt_is_refused(iat: int, code: str) -> None:
    wallet = Wallet()
    assert _failed(wallet.verify(wallet.present(iat=iat))) == {"kb_iat": code}


def test_the_freshness_window_is_configurable() -> None:
    wallet = Wallet()
    text = wallet.present(iat=NOW - 600)
    assert _failed(wallet.verify(text)) == {"kb_iat": "kb_stale"}
    wallet.used_nonces.clear()
    assert wallet.verify(text, policy=replace(DEFAULT_POLICY, kb_max_age=900)).valid


def test_a_wrong_sd_hash_is_refused() -> None:
    wallet = Wallet()
    one = wallet.held.select(["holder/legal_name"])
    both = wallet.held.select(["holder/legal_name", "records/0"])
    covered = sdjwt.presentation(wallet.issued.jwt, one)
    kb = sdjwt.key_binding_jwt(covered, wallet.holder, aud=AUDIENCE, nonce=NONCE, iat=NOW)
    report = wallet.verify(sdjwt.presentation(wallet.issued.jwt, both) + kb)
    assert _failed(report) == {"kb_sd_hash": "kb_wrong_sd_hash"}


def test_a_key_binding_jwt_signed_by_another_key_is_refused() -> None:
    wallet = Wallet()
    thief = ec.generate_private_key(ec.SECP256R1())
    presented = sdjwt.presentation(wallet.issued.jwt, wallet.held.select(["records/0"]))
    stolen = presented + sdjwt.key_binding_jwt(presented, thief, aud=AUDIENCE, nonce=NONCE, iat=NOW)
    assert _failed(wallet.verify(stolen)) == {"kb_signature": "kb_bad_signature"}


def test_a_key_binding_jwt_of_the_wrong_type_is_refused() -> None:
    wallet = Wallet()
    presented = sdjwt.presentation(wallet.issued.jwt, [])
    claims = {"iat": NOW, "aud": AUDIENCE, "nonce": NONCE, "sd_hash": sdjwt.b64_digest(presented)}
    kb = jws.sign(claims, wallet.holder, typ="JWT")
    assert _failed(wallet.verify(presented + kb)) == {"kb_typ": "kb_wrong_typ"}


def test_a_key_binding_jwt_with_alg_none_is_refused() -> None:
    wallet = Wallet()
    presented = sdjwt.presentation(wallet.issued.jwt, [])
    claims = {"iat": NOW, "aud": AUDIENCE, "nonce": NONCE, "sd_hash": sdjwt.b64_digest(presented)}
    kb = f"{b64_json({'alg': 'none', 'typ': 'kb+jwt'})}.{b64_json(claims)}."
    assert _failed(wallet.verify(presented + kb)) == {"kb_signature": "kb_unsupported_alg"}


def test_a_credential_without_a_holder_key_cannot_be_presented_with_key_binding() -> None:
    wallet = Wallet()
    payload = {k: v for k, v in wallet.issued.payload.items() if k != "cnf"}
    report = wallet.verify(_signed(wallet, payload, []))
    assert _failed(report) == {"key_binding": "kb_no_holder_key"}


def test_key_binding_is_optional_when_the_policy_says_so() -> None:
    wallet = Wallet()
    report = presentation.verify_credential(
        wallet.issued.combined(), issuer_keys=verification_key(wallet.issuer), now=NOW
    )
    assert report.valid, report.failures
    assert report.check("key_binding").code == "not_required"
    assert report.claims is not None
    assert len(report.claims["records"]) == 3


def test_audience_and_nonce_are_required_when_key_binding_is() -> None:
    wallet = Wallet()
    with pytest.raises(ValueError, match="audience and nonce"):
        wallet.verify(wallet.present(), audience=None)


# ---------------------------------------------------------------- size and format


def test_an_oversize_presentation_is_refused_before_parsing() -> None:
    wallet = Wallet()
    text = wallet.present()
    report = wallet.verify(text + "A" * DEFAULT_POLICY.max_bytes)
    assert _failed(report) == {"size": presentation.OVERSIZE}
    assert all(c.outcome == "skipped" for c in report.checks[1:])
    small = replace(DEFAULT_POLICY, max_bytes=len(text) - 1)
    assert wallet.verify(text).valid
    assert _failed(wallet.verify(text, policy=small)) == {"size": "oversize"}


def _malformed(wallet: Wallet) -> list[str | bytes]:
    good = wallet.present()
    jwt = wallet.issued.jwt
    header, payload, signature = jwt.split(".")
    nested = b64(b"[" * 5000 + b"]" * 5000)
    return [
        "",
        "~",
        "not an sd-jwt",
        jwt,  # no '~' at all
        good.replace("~", "~~", 1),  # an empty disclosure
        f"{header}.{payload}~",  # two parts
        f"{header}.{payload}.{signature}.x~",
        good.replace(jwt, f"{header}=.{payload}.{signature}"),  # padding
        good.replace(jwt, f"{header}.{payload}+.{signature}"),  # not base64url
        good.replace(jwt, f"{b64(b'[1]')}.{payload}.{signature}"),  # header not an object
        good.replace(jwt, f"{nested}.{payload}.{signature}"),  # nested too deep
        jwt + "~WyJ4Il0~",  # a disclosure of one element
        jwt + "~" + b64(b'["s", 1, 2]') + "~",  # a claim name that is not a string
        jwt + "~" + b64(b"[1, 2]") + "~",  # a salt that is not a string
        jwt + "~" + nested + "~",
        jwt + "~%%%~",
        good + "é",
        good.encode() + b"\xff",
        good[:-1] + ".x.y",  # the KB-JWT has four parts
    ]


def test_malformed_compact_serialisations_are_refused() -> None:
    wallet = Wallet()
    for text in _malformed(wallet):
        wallet.used_nonces.clear()
        report = wallet.verify(text)
        failed = _failed(report)
        assert failed in ({"format": "malformed"}, {"key_binding": "kb_malformed"}), (text, failed)


def test_bytes_are_accepted_too() -> None:
    wallet = Wallet()
    assert wallet.verify(wallet.present().encode("ascii")).valid


# ---------------------------------------------------------------- no input makes it raise


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_one_character_change_to_a_presentation_is_refused(data: Any) -> None:
    wallet = _FUZZ_WALLET
    text = _FUZZ_TEXT
    position = data.draw(st.integers(0, len(text) - 1))
    change = data.draw(st.sampled_from(["replace", "delete", "insert"]))
    char = data.draw(st.sampled_from("AQgw_-.~=+/ 0e"))
    if change == "replace":
        mutated = text[:position] + char + text[position + 1 :]
    elif change == "delete":
        mutated = text[:position] + text[position + 1 :]
    else:
        mutated = text[:position] + char + text[position:]
    wallet.used_nonces.clear()
    report = wallet.verify(mutated)
    assert report.valid == (mutated == text)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300) | st.binary(max_size=300))
def test_arbitrary_input_gets_a_verdict(text: str | bytes) -> None:
    report = _FUZZ_WALLET.verify(text)
    assert not report.valid
    assert report.failures
    assert report.code


_FUZZ_WALLET = Wallet()
_FUZZ_TEXT = _FUZZ_WALLET.present(("records/1/subject", "holder/legal_name"))


def test_verification_policy_defaults_are_the_registrys() -> None:
    policy = VerificationPolicy()
    assert policy.typ == "dc+sd-jwt"
    assert policy.algorithms == frozenset({"ES256", "EdDSA"})
    assert policy.require_key_binding
    assert policy.require_status
    assert policy.require_exp
