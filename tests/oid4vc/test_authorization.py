"""OpenID4VP requests and responses (service/oid4vc/authorization.py), checked by the independent wallet."""

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service import jws
from service.keys import KeyRing
from service.oid4vc import authorization, dcql
from service.passport import presentation
from service.passport.schemas import IdentityLinkRule, OccupationalHealthRule, RecordRead, Rule
from tests.oid4vc import wallet
from tests.oid4vc.helpers import BASE, NOW, SITE, claim_sets, issue, issuer_lookup
from tests.passport.strategies import outcome, person_identity

RULES: list[Rule] = [IdentityLinkRule(), OccupationalHealthRule(item="hepatitis_b", accepted=["immune"])]
RESPONSE_URI = BASE + "/oid4vp/responses/4f9c"


def _request(
    keyring: KeyRing, *, alg: str = "ES256", base: str = BASE, **changes: Any
) -> tuple[str, dict[str, Any]]:
    claims = authorization.request_claims(
        base_url=base,
        response_uri=RESPONSE_URI,
        nonce="n-0S6_WzA2Mj",
        state="st-1",
        dcql_query=dcql.query_for_policy(RULES, SITE, base_url=BASE),
        now=NOW,
        verifier_name="Example Hospital London (NT301)",
    )
    claims.update(changes)
    signer = keyring.signer("credential", alg)  # type: ignore[arg-type]
    return authorization.sign_request(claims, signer, base_url=base), claims


def _wallet_reads(keyring: KeyRing, token: str, *, identifier: str | None = None) -> dict[str, Any]:
    return wallet.verify_request_object(
        token,
        client_id=identifier or authorization.client_id(BASE),
        did_document=authorization.did_document(BASE, keyring.jwks("credential")),
        jwks=keyring.jwks("credential"),
        now=NOW,
    )


@pytest.mark.parametrize(
    ("base", "did", "path", "url"),
    [
        (
            "https://passport.nhs.example",
            "did:web:passport.nhs.example",
            "/.well-known/did.json",
            "https://passport.nhs.example/.well-known/did.json",
        ),
        (
            "http://127.0.0.1:8000/",
            "did:web:127.0.0.1%3A8000",
            "/.well-known/did.json",
            "http://127.0.0.1:8000/.well-known/did.json",
        ),
        (
            "https://nhs.example/staff/passport",
            "did:web:nhs.example:staff:passport",
            "/staff/passport/did.json",
            "https://nhs.example/staff/passport/did.json",
        ),
    ],
)
def test_the_did_web_identifier_and_where_its_document_is(base: str, did: str, path: str, url: str) -> None:
    assert authorization.did_web(base) == did
    assert authorization.client_id(base) == "decentralized_identifier:" + did
    assert authorization.did_document_path(base) == path
    assert wallet.did_web_document_url(did, scheme=base.split(":")[0]) == url


def test_the_did_document_lists_every_published_credential_key_and_no_private_part(keyring: KeyRing) -> None:
    document = authorization.did_document(BASE, keyring.jwks("credential"))
    assert document["id"] == "did:web:passport.nhs.example"
    kids = {k.kid for k in keyring.published if k.meta.purpose == "credential"}
    assert {m["id"] for m in document["verificationMethod"]} == {
        f"did:web:passport.nhs.example#{k}" for k in kids
    }
    for method in document["verificationMethod"]:
        assert "d" not in method["publicKeyJwk"]
        assert jws.jwk_thumbprint(method["publicKeyJwk"]) == method["id"].split("#")[1]
    assert document["assertionMethod"] == [m["id"] for m in document["verificationMethod"]]


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_the_wallet_accepts_the_registry_s_signed_request_object(keyring: KeyRing, alg: str) -> None:
    token, claims = _request(keyring, alg=alg)
    header = jws.unverified_header(token)
    assert header["typ"] == "oauth-authz-req+jwt"
    assert header["kid"].startswith("did:web:passport.nhs.example#")
    read = _wallet_reads(keyring, token)
    assert read == json.loads(json.dumps(claims))
    assert read["client_metadata"]["vp_formats_supported"]["dc+sd-jwt"]["kb-jwt_alg_values"] == [
        "ES256",
        "EdDSA",
    ]
    assert read["aud"] == "https://self-issued.me/v2"
    assert read["exp"] == NOW + authorization.REQUEST_LIFETIME


def test_the_wallet_refuses_a_tampered_foreign_or_mismatched_request(keyring: KeyRing) -> None:
    token, _ = _request(keyring)
    head, body, signature = token.split(".")
    forged = json.loads(wallet.b64u_decode(body)) | {"response_uri": "https://attacker.example/collect"}
    with pytest.raises(wallet.WalletError, match="signature"):
        _wallet_reads(keyring, f"{head}.{wallet.b64u(json.dumps(forged).encode())}.{signature}")
    with pytest.raises(wallet.WalletError, match="DID"):
        _wallet_reads(keyring, token, identifier="decentralized_identifier:did:web:attacker.example")
    other = authorization.did_document(
        BASE, {"keys": [wallet.HolderKey.generate().public_jwk() | {"kid": "x"}]}
    )
    with pytest.raises(wallet.WalletError, match="verification method"):
        wallet.verify_request_object(
            token,
            client_id=authorization.client_id(BASE),
            did_document=other,
            jwks=keyring.jwks("credential"),
            now=NOW,
        )
    with pytest.raises(wallet.WalletError, match="JWKS"):
        wallet.verify_request_object(
            token,
            client_id=authorization.client_id(BASE),
            did_document=authorization.did_document(BASE, keyring.jwks("credential")),
            jwks={"keys": []},
            now=NOW,
        )
    with pytest.raises(wallet.WalletError, match="expired"):
        wallet.verify_request_object(
            token,
            client_id=authorization.client_id(BASE),
            did_document=authorization.did_document(BASE, keyring.jwks("credential")),
            jwks=keyring.jwks("credential"),
            now=NOW + authorization.REQUEST_LIFETIME,
        )
    redirected, _ = _request(keyring, redirect_uri="https://attacker.example/")
    with pytest.raises(wallet.WalletError, match="redirect_uri"):
        _wallet_reads(keyring, redirected)


def test_a_request_object_is_not_any_other_kind_of_token(keyring: KeyRing) -> None:
    token, _ = _request(keyring)
    signer = keyring.signer("credential", "ES256")
    key = jws.VerificationKey("ES256", signer.private_key.public_key(), signer.kid)
    with pytest.raises(jws.JWSError) as caught:
        jws.verify(token, key, typ="dc+sd-jwt")
    assert caught.value.code == "wrong_typ"
    assert jws.verify(token, key, typ=authorization.REQUEST_TYP).claims()["state"] == "st-1"


@pytest.mark.parametrize(("nonce", "state"), [("has space", "s"), ("n", "a/b"), ("", "s")])
def test_nonce_and_state_must_be_url_safe(keyring: KeyRing, nonce: str, state: str) -> None:
    with pytest.raises(ValueError, match="URL-safe"):
        authorization.request_claims(
            base_url=BASE,
            response_uri=RESPONSE_URI,
            nonce=nonce,
            state=state,
            dcql_query=dcql.query_for_policy(RULES, SITE, base_url=BASE),
            now=NOW,
        )


def test_fresh_nonces_and_states_are_url_safe_and_distinct() -> None:
    nonces = {authorization.new_nonce() for _ in range(100)}
    assert len(nonces) == 100
    assert all(set(n) <= authorization.URL_SAFE and len(n) >= 22 for n in nonces)


def test_the_link_carries_the_client_id_and_request_uri_for_the_wallet() -> None:
    request_uri = BASE + "/oid4vp/requests/4f9c"
    link = authorization.request_uri_link(authorization.client_id(BASE), request_uri)
    assert link.startswith("openid4vp://?client_id=decentralized_identifier%3Adid%3Aweb%3A")
    assert wallet.read_request_link(link) == (authorization.client_id(BASE), request_uri)
    universal = authorization.request_uri_link("c", request_uri, wallet="https://wallet.example/authorize")
    assert universal.startswith("https://wallet.example/authorize?client_id=c&request_uri=https%3A%2F%2F")


def test_the_whole_presentation_flow_in_process(keyring: KeyRing) -> None:
    """Request object -> wallet -> direct_post body -> parse -> verify -> DCQL check -> policy inputs."""
    token, _ = _request(keyring)
    request = _wallet_reads(keyring, token)
    records: list[RecordRead] = [person_identity(), outcome("hepatitis_b", "immune", n=3)]
    keys = [wallet.HolderKey.generate() for _ in claim_sets(records)]
    helds = [
        wallet.parse_sd_jwt(issue(c, k)) for c, k in zip(claim_sets(records).values(), keys, strict=True)
    ]
    body = wallet.direct_post_body(wallet.answer(request, helds, keys, iat=NOW), request["state"])
    response = authorization.parse_direct_post(body)
    assert isinstance(response, authorization.DirectPost)
    assert response.state == "st-1"
    presented: dict[str, list[dcql.Presented]] = {}
    for name, items in response.vp_token.items():
        report = presentation.verify_presentation(
            items[0],
            issuer_keys=issuer_lookup(),
            status=None,
            audience=authorization.client_id(BASE),
            nonce="n-0S6_WzA2Mj",
            now=NOW,
            nonce_unused=lambda _: True,
        )
        assert report.valid, report.failures
        assert report.claims is not None
        presented[name] = [dcql.Presented(vct=report.vct, claims=report.claims, key_bound=True)]
    query = dcql.parse_query(request["dcql_query"])
    assert dcql.check_response(query, presented) == []
    assert presented["identity_link"][0].claims["identity"] == {"gmc_number": "7123456"}
    # A presentation for another verifier (another client id) fails key binding.
    other = presentation.verify_presentation(
        response.vp_token["identity_link"][0],
        issuer_keys=issuer_lookup(),
        status=None,
        audience="decentralized_identifier:did:web:other.example",
        nonce="n-0S6_WzA2Mj",
        now=NOW,
    )
    assert other.code == "kb_wrong_audience"


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"state": "s"}, "vp_token"),
        ({"vp_token": "{}", "state": "s"}, "vp_token"),
        ({"vp_token": "[]", "state": "s"}, "vp_token"),
        ({"vp_token": "nope", "state": "s"}, "vp_token"),
        ({"vp_token": '{"a b": ["x"]}', "state": "s"}, "vp_token.a b"),
        ({"vp_token": '{"id": "eyJ"}', "state": "s"}, "vp_token.id"),
        ({"vp_token": '{"id": []}', "state": "s"}, "vp_token.id"),
        ({"vp_token": '{"id": [""]}', "state": "s"}, "vp_token.id"),
        ({"vp_token": '{"id": [1]}', "state": "s"}, "vp_token.id"),
        ({"vp_token": '{"id": ["x"]}'}, "state"),
        ({"vp_token": '{"id": ["x"]}', "state": "a b"}, "state"),
        ({"vp_token": ['{"id": ["x"]}', '{"id": ["y"]}'], "state": "s"}, "vp_token"),
        ({"vp_token": json.dumps({"id": ["x"] * 21}), "state": "s"}, "vp_token"),
        ({"error": "", "state": "s"}, "error"),
    ],
)
def test_a_bad_direct_post_body_is_refused_naming_the_parameter(form: dict[str, Any], field: str) -> None:
    with pytest.raises(authorization.ResponseError) as caught:
        authorization.parse_direct_post(form)
    assert caught.value.field == field


def test_the_wallet_s_refusal_is_an_error_response() -> None:
    parsed = authorization.parse_direct_post(
        {"error": "access_denied", "error_description": "declined", "state": "s"}
    )
    assert parsed == authorization.DirectPostError(
        error="access_denied", error_description="declined", state="s"
    )


@given(
    st.dictionaries(
        st.text(max_size=8), st.text(max_size=30) | st.lists(st.text(max_size=30), max_size=3), max_size=4
    )
)
def test_any_form_gives_a_response_or_a_named_refusal(form: dict[str, Any]) -> None:
    try:
        parsed = authorization.parse_direct_post(form)
    except authorization.ResponseError as problem:
        field = problem.field
    else:
        assert isinstance(parsed, authorization.DirectPost | authorization.DirectPostError)
        return
    assert field.split(".")[0] in {"vp_token", "state", "error"}
