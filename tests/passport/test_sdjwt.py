"""SD-JWT issuance and the holder side: RFC 9901 vectors, SD-JWT VC rules, selection, round trips."""

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import jws
from service.passport import presentation, sdjwt
from service.passport.sdjwt import ANY, SdJwtError
from tests.passport.credential_helpers import (
    AUDIENCE,
    NONCE,
    NOW,
    Wallet,
    core_skills_claims,
    ed25519_key,
    issuer_key,
    kid_of,
    unb64_json,
    verification_key,
)

VECTORS = Path(__file__).parent.parent / "vectors"


def _vectors(prefix: str) -> list[Path]:
    return sorted(p for p in VECTORS.iterdir() if p.is_dir() and p.name.startswith(prefix))


def _load(case: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((case / "vector.json").read_text(encoding="utf-8"))
    return loaded


# ---------------------------------------------------------------- RFC 9901 known answers


@pytest.mark.parametrize("case", _vectors("rfc9901-4.2"), ids=lambda p: p.name)
def test_rfc9901_disclosures_are_reproduced_byte_for_byte(case: Path) -> None:
    for expected in _load(case)["disclosures"]:
        made = sdjwt.Disclosure.create(expected["salt"], expected["name"], expected["value"])
        assert made.encoded == expected["disclosure"]
        assert made.digest == expected["digest"]
        parsed = sdjwt.Disclosure.parse(expected["disclosure"])
        assert (parsed.salt, parsed.name, parsed.value) == (
            expected["salt"],
            expected["name"],
            expected["value"],
        )
        assert parsed.digest == expected["digest"]


@pytest.mark.parametrize("case", _vectors("rfc9901-5.1"), ids=lambda p: p.name)
def test_rfc9901_issuance_example_is_reproduced(case: Path) -> None:
    vector = _load(case)
    salts: Iterator[str] = iter(vector["salts"])
    issued = sdjwt.issue(
        {**vector["claims"], **vector["plain_claims"]},
        vector["disclosable"],
        key=issuer_key(),
        kid="rfc9901",
        typ="example+sd-jwt",
        decoys=(0, 0),
        salt=lambda: next(salts),
    )
    assert [d.encoded for d in issued.disclosures] == vector["disclosures"]
    expected = vector["payload"]
    assert issued.payload["_sd"] == expected["_sd"]
    assert issued.payload["nationalities"] == expected["nationalities"]
    assert issued.payload["_sd_alg"] == "sha-256"
    assert issued.payload["sub"] == expected["sub"]
    # And the holder gets back exactly the claims the issuer began with.
    held = sdjwt.HeldCredential.parse(issued.combined())
    assert held.claims == {**vector["claims"], **vector["plain_claims"]}


# ---------------------------------------------------------------- issuance


def test_a_credential_is_an_sd_jwt_vc_signed_with_our_key() -> None:
    wallet = Wallet()
    header = jws.unverified_header(wallet.issued.jwt)
    assert header == {"alg": "ES256", "typ": "dc+sd-jwt", "kid": kid_of(wallet.issuer)}
    payload = wallet.issued.payload
    assert payload["_sd_alg"] == "sha-256"
    for name in ("iss", "iat", "exp", "vct", "status", "cnf"):
        assert name in payload, f"{name} must be a plain claim"
    assert payload["cnf"] == {"jwk": jws.public_jwk(wallet.holder.public_key())}
    assert wallet.issued.combined() == wallet.issued.jwt + "~" + "".join(
        d.encoded + "~" for d in wallet.issued.disclosures
    )


def test_each_record_and_each_field_of_each_record_is_its_own_disclosure() -> None:
    wallet = Wallet()
    paths = set(wallet.held.paths)
    for index, record in enumerate(wallet.claims["records"]):
        assert ("records", index) in paths
        for name in record:
            assert ("records", index, name) in paths
    assert ("holder", "legal_name") in paths
    assert ("holder", "gmc_number") not in paths
    # A record's disclosure holds only digests of its fields (recursive disclosure).
    record = next(f for f in wallet.held.found if f.path == ("records", 0)).disclosure
    assert set(record.value) == {"_sd"}


def test_every_sd_array_and_disclosable_array_has_decoys() -> None:
    claims = core_skills_claims()
    issued = sdjwt.issue(claims, ["records/*", "records/*/*", "holder/legal_name"], key=issuer_key(),
                         kid="k", decoys=(2, 2))  # fmt: skip
    payload = issued.payload
    assert len(payload["records"]) == len(claims["records"]) + 2
    assert len(payload["holder"]["_sd"]) == 1 + 2
    for disclosure in issued.disclosures:
        if disclosure.name is None:  # a record: its fields and two decoys
            assert len(disclosure.value["_sd"]) == 4 + 2
    for digests in [
        payload["holder"]["_sd"],
        *(d.value["_sd"] for d in issued.disclosures if d.name is None),
    ]:
        assert digests == sorted(digests)
        assert len(set(digests)) == len(digests)


def test_decoys_vary_so_the_number_of_hidden_claims_is_not_revealed() -> None:
    sizes = {len(sdjwt.issue(core_skills_claims(), ["holder/legal_name"], key=issuer_key(), kid="k")
                 .payload["holder"]["_sd"]) for _ in range(40)}  # fmt: skip
    assert sizes == {2, 3, 4}  # one disclosed member and 1 to 3 decoys


def test_salts_have_128_bits_from_a_secure_source_and_never_repeat() -> None:
    disclosures = Wallet().issued.disclosures
    salts = [d.salt for d in disclosures]
    assert len(set(salts)) == len(salts)
    for salt in salts:
        assert len(base64.urlsafe_b64decode(salt + "==")) == 16


def test_eddsa_credentials_are_supported() -> None:
    key = ed25519_key()
    issued = sdjwt.issue(core_skills_claims(), ["records/*"], key=key, kid=kid_of(key))
    assert jws.unverified_header(issued.jwt)["alg"] == "EdDSA"
    report = presentation.verify_credential(
        issued.combined(), issuer_keys=verification_key(key), now=NOW, policy=None
    )
    assert report.valid, report.failures


@pytest.mark.parametrize("name", sorted(sdjwt.NEVER_DISCLOSABLE))
def test_validity_type_holder_key_and_status_claims_are_never_disclosable(name: str) -> None:
    claims = core_skills_claims(cnf={"jwk": {}}, nbf=NOW, **{"vct#integrity": "sha256-x"})
    with pytest.raises(SdJwtError) as caught:
        sdjwt.issue(claims, [name], key=issuer_key(), kid="k")
    assert caught.value.code == "never_disclosable"


@pytest.mark.parametrize("path", ["*", "status/status_list", "cnf/jwk", ("exp",), (ANY, "x")])
def test_a_description_reaching_a_never_disclosable_claim_is_refused(path: sdjwt.PathSpec) -> None:
    with pytest.raises(SdJwtError) as caught:
        sdjwt.issue(core_skills_claims(), [path], key=issuer_key(), kid="k")
    assert caught.value.code == "never_disclosable"


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        (core_skills_claims(_sd=["x"]), "invalid_claims"),
        (core_skills_claims(records=[{"...": "x"}]), "invalid_claims"),
        (core_skills_claims(_sd_alg="sha-256"), "invalid_claims"),
        (core_skills_claims(score=float("nan")), "invalid_claims"),
        (core_skills_claims(when=object()), "invalid_claims"),
        (core_skills_claims(holder={1: "x"}), "invalid_claims"),
        ({"iss": "x"}, "invalid_claims"),  # an SD-JWT VC needs a vct
    ],
)
def test_claim_sets_that_cannot_be_issued_are_refused(claims: dict[str, Any], code: str) -> None:
    with pytest.raises(SdJwtError) as caught:
        sdjwt.issue(claims, ["records/*"], key=issuer_key(), kid="k")
    assert caught.value.code == code


@pytest.mark.parametrize("paths", [["records//x"], ["/records"], [""], [()], "records/*", [(1.5,)]])
def test_malformed_descriptions_are_refused(paths: Any) -> None:
    with pytest.raises(SdJwtError) as caught:
        sdjwt.issue(core_skills_claims(), paths, key=issuer_key(), kid="k")
    assert caught.value.code == "invalid_path"


def test_a_private_holder_key_is_refused() -> None:
    private = {**jws.public_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()), "d": "AAAA"}
    with pytest.raises(SdJwtError) as caught:
        sdjwt.issue(core_skills_claims(), ["records/*"], key=issuer_key(), kid="k", holder_jwk=private)
    assert caught.value.code == "invalid_holder_key"


def test_claim_paths_read_and_write_the_same() -> None:
    assert sdjwt.parse_path("records/*/date~1to") == ("records", ANY, "date/to")
    assert sdjwt.format_path(("records", ANY, "date/to", 3, "a~b")) == "records/*/date~1to/3/a~0b"
    assert sdjwt.parse_path(sdjwt.format_path(("a~b", "c/d"))) == ("a~b", "c/d")


# ---------------------------------------------------------------- holder


def test_choosing_a_field_brings_its_record_and_nothing_else() -> None:
    wallet = Wallet()
    chosen = wallet.held.select(["records/1/subject"])
    assert [d.name for d in chosen] == ["subject", None]  # issued order: the field, then its record
    report = wallet.verify(wallet.present(("records/1/subject",)))
    assert report.valid, report.failures
    assert report.claims is not None
    assert report.claims["records"] == [{"subject": "infection_prevention"}]
    assert "legal_name" not in report.claims["holder"]


def test_choosing_a_record_shows_the_whole_record() -> None:
    wallet = Wallet()
    report = wallet.verify(wallet.present(("records/2",)))
    assert report.valid, report.failures
    assert report.claims is not None
    assert report.claims["records"] == [wallet.claims["records"][2]]
    assert set(report.disclosed) == {
        ("records", 0),
        *(("records", 0, k) for k in wallet.claims["records"][2]),
    }


def test_a_wildcard_chooses_one_field_of_every_record() -> None:
    wallet = Wallet()
    report = wallet.verify(wallet.present(("records/*/date_to",)))
    assert report.claims is not None
    assert report.claims["records"] == [{"date_to": r["date_to"]} for r in wallet.claims["records"]]


def test_choosing_nothing_shows_only_the_plain_claims() -> None:
    wallet = Wallet()
    report = wallet.verify(wallet.present(()))
    assert report.valid, report.failures
    assert report.claims is not None
    assert report.claims["records"] == []
    assert report.claims["holder"] == {"gmc_number": "7012345"}


@pytest.mark.parametrize("text", ["", "abc", "a.b~", "a.b.c~", "e30.e30.AA~WyJ4Il0~"])
def test_the_holder_refuses_what_is_not_a_credential(text: str) -> None:
    with pytest.raises(SdJwtError) as caught:
        sdjwt.HeldCredential.parse(text)
    assert caught.value.code in ("malformed", "malformed_disclosure")


def test_a_claim_path_the_credential_does_not_have_is_an_error() -> None:
    wallet = Wallet()
    with pytest.raises(SdJwtError) as caught:
        wallet.held.select(["records/9"])
    assert caught.value.code == "unknown_claim_path"


def test_the_key_binding_jwt_covers_the_presented_sd_jwt() -> None:
    wallet = Wallet()
    text = wallet.present(("records/0/level",), iat=NOW - 5)
    presented, kb = text[: text.rindex("~") + 1], text[text.rindex("~") + 1 :]
    assert jws.unverified_header(kb) == {"alg": "ES256", "typ": "kb+jwt"}
    claims = unb64_json(kb.split(".")[1])
    digest = base64.urlsafe_b64encode(hashlib.sha256(presented.encode()).digest()).rstrip(b"=").decode()
    assert claims == {"iat": NOW - 5, "aud": AUDIENCE, "nonce": NONCE, "sd_hash": digest}
    assert jws.verify(kb, verification_key(wallet.holder), typ="kb+jwt").claims() == claims


# ---------------------------------------------------------------- round trips (hypothesis)

_KEY = issuer_key()
_HOLDER = ec.generate_private_key(ec.SECP256R1())
_NAMES = st.text(alphabet="abcdefghij_0123456789", min_size=1, max_size=4).filter(
    lambda n: n not in sdjwt.NEVER_DISCLOSABLE
)
_LEAVES = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=6)


def _trees(depth: int) -> st.SearchStrategy[Any]:
    """("o", {name: (disclosable, child)}) | ("a", [(disclosable, child)]) | ("v", leaf)."""
    leaf = st.tuples(st.just("v"), _LEAVES)
    if depth == 0:
        return leaf
    child = st.tuples(st.booleans(), _trees(depth - 1))
    return (
        leaf
        | st.tuples(st.just("o"), st.dictionaries(_NAMES, child, max_size=4))
        | st.tuples(st.just("a"), st.lists(child, max_size=4))
    )


def _claims_and_paths(tree: Any, path: tuple[str | int, ...] = ()) -> tuple[Any, list[tuple[str | int, ...]]]:
    kind, content = tree
    if kind == "v":
        return content, []
    items = content.items() if kind == "o" else enumerate(content)
    value: Any = {} if kind == "o" else []
    marked: list[tuple[str | int, ...]] = []
    for key, (disclosable, child) in items:
        child_value, child_marked = _claims_and_paths(child, (*path, key))
        if kind == "o":
            value[key] = child_value
        else:
            value.append(child_value)
        marked += child_marked + ([(*path, key)] if disclosable else [])
    return value, marked


def _expected(tree: Any, chosen: set[tuple[str | int, ...]], path: tuple[str | int, ...] = ()) -> Any:
    kind, content = tree
    if kind == "v":
        return content
    items = content.items() if kind == "o" else enumerate(content)
    kept = [(k, _expected(c, chosen, (*path, k))) for k, (d, c) in items if not d or (*path, k) in chosen]
    return dict(kept) if kind == "o" else [v for _, v in kept]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=st.tuples(st.just("o"), st.dictionaries(_NAMES, st.tuples(st.booleans(), _trees(3)), max_size=5)),
       data=st.data())  # fmt: skip
def test_any_claims_and_any_subset_of_disclosures_give_back_exactly_those_claims(
    tree: Any, data: Any
) -> None:
    claims, marked = _claims_and_paths(tree)
    issued = sdjwt.issue(
        {"iss": "https://i", "vct": "t", "data": claims},
        [("data", *p) for p in marked],
        key=_KEY,
        kid="k",
        holder_jwk=jws.public_jwk(_HOLDER.public_key()),
    )
    held = sdjwt.HeldCredential.parse(issued.combined())
    assert held.claims["data"] == claims
    picked = data.draw(st.sets(st.sampled_from(range(len(held.found)))) if held.found else st.just(set()))
    parents = {f.disclosure.digest: f for f in held.found}
    closed = {held.found[i].disclosure.digest for i in picked}
    for index in picked:  # a child is shown with its parents
        parent = held.found[index].parent
        while parent is not None:
            closed.add(parent)
            parent = parents[parent].parent
    chosen = [d for d in held.disclosures if d.digest in closed]
    presented = sdjwt.presentation(issued.jwt, chosen)
    text = presented + sdjwt.key_binding_jwt(presented, _HOLDER, aud=AUDIENCE, nonce=NONCE, iat=NOW)
    report = presentation.verify_presentation(
        text, issuer_keys=verification_key(_KEY), status=None, audience=AUDIENCE, nonce=NONCE, now=NOW,
        policy=presentation.VerificationPolicy(require_status=False, require_exp=False),
        nonce_unused=lambda nonce: True,
    )  # fmt: skip
    assert report.valid, report.failures
    assert report.claims is not None
    chosen_paths = {parents[d].path[1:] for d in closed}
    assert report.claims["data"] == _expected(tree, chosen_paths)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_child_disclosure_without_its_parent_is_refused(data: Any) -> None:
    wallet = Wallet()
    children = [f for f in wallet.held.found if f.parent is not None]
    child = data.draw(st.sampled_from(children))
    presented = sdjwt.presentation(wallet.issued.jwt, [child.disclosure])
    report = wallet.verify(presented + sdjwt.key_binding_jwt(
        presented, wallet.holder, aud=AUDIENCE, nonce=NONCE, iat=NOW))  # fmt: skip
    assert report.check("disclosures").code == "unreferenced_disclosure"
    assert report.claims is None
