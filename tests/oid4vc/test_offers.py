"""Offers, codes and QR codes (service/oid4vc/offers.py); the issuer metadata a wallet reads (metadata.py)."""

import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.oid4vc import metadata, offers
from tests.oid4vc import wallet
from tests.oid4vc.helpers import BASE, NOW


def _offer(tx: bool = True) -> offers.CredentialOffer:
    return offers.make_offer(
        BASE,
        ["core_skills", "occupational_health"],
        "pre-auth-code-1",
        tx_code=offers.tx_code_spec() if tx else None,
        known_configurations=metadata.configuration_ids(),
    )


def test_an_offer_by_value_is_what_the_wallet_reads_and_asks_for_the_transaction_code() -> None:
    link = offers.by_value_uri(_offer())
    assert link.startswith("openid-credential-offer://?credential_offer=%7B%22credential_issuer%22")
    read = wallet.read_offer_link(link)
    assert isinstance(read, dict)
    assert read["credential_configuration_ids"] == ["core_skills", "occupational_health"]
    grant = read["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]
    assert grant == {
        "pre-authorized_code": "pre-auth-code-1",
        "tx_code": {"input_mode": "numeric", "length": 6, "description": offers.TX_CODE_DESCRIPTION},
    }
    with pytest.raises(wallet.WalletError, match="transaction code"):
        wallet.token_request(read, None)
    form = wallet.token_request(read, "123456")
    request = offers.parse_token_request(form)
    assert request == offers.TokenRequest(pre_authorized_code="pre-auth-code-1", tx_code="123456")


def test_an_offer_without_a_transaction_code_omits_it() -> None:
    read = wallet.read_offer_link(offers.by_value_uri(_offer(tx=False)))
    assert isinstance(read, dict)
    assert "tx_code" not in read["grants"][metadata.PRE_AUTHORIZED_GRANT]
    assert "tx_code" not in wallet.token_request(read, "999999")


def test_an_offer_by_reference_carries_only_its_url_and_the_served_json_round_trips() -> None:
    url = offers.offer_url(BASE, metadata.DEFAULT_ENDPOINTS.offers, "abc_DEF-1")
    link = offers.by_reference_uri(url)
    assert (
        link
        == "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fpassport.nhs.example%2Foid4vci%2Foffers%2Fabc_DEF-1"
    )
    assert wallet.read_offer_link(link) == url
    assert offers.parse_offer_uri(link) == url
    assert offers.parse_offer(offers.offer_json(_offer())) == _offer()


@pytest.mark.parametrize(
    ("ids", "words"),
    [
        ([], "at least one"),
        (["core_skills", "core_skills"], "each credential configuration once"),
        (["x"], "unknown"),
    ],
)
def test_a_bad_offer_is_refused(ids: list[str], words: str) -> None:
    with pytest.raises(offers.OfferError, match=words):
        offers.make_offer(BASE, ids, "c", tx_code=None, known_configurations=metadata.configuration_ids())


@pytest.mark.parametrize(
    "link",
    [
        "https://passport.nhs.example/offer",
        "openid-credential-offer://?",
        "openid-credential-offer://?credential_offer=%7B%7D",
        "openid-credential-offer://?credential_offer=not-json",
        "openid-credential-offer://?credential_offer_uri=ftp%3A%2F%2Fx",
        "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fa&credential_offer=%7B%7D",
    ],
)
def test_a_malformed_offer_link_is_refused(link: str) -> None:
    with pytest.raises(offers.OfferError):
        offers.parse_offer_uri(link)


configuration_lists = st.lists(st.sampled_from(metadata.configuration_ids()), min_size=1, unique=True)
codes = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=60)


@given(configuration_lists, codes, st.booleans())
def test_any_offer_survives_a_link_and_the_wallet_reads_the_same(ids: list[str], code: str, tx: bool) -> None:
    offer = offers.make_offer(BASE, ids, code, tx_code=offers.tx_code_spec() if tx else None)
    link = offers.by_value_uri(offer)
    assert offers.parse_offer_uri(link) == offer
    read = wallet.read_offer_link(link)
    assert isinstance(read, dict)
    assert read["grants"][metadata.PRE_AUTHORIZED_GRANT]["pre-authorized_code"] == code


def test_codes_are_random_and_of_the_promised_shape() -> None:
    assert len({offers.new_pre_authorized_code() for _ in range(50)}) == 50
    assert all(len(offers.new_pre_authorized_code()) >= 43 for _ in range(5))
    tx = [offers.new_tx_code() for _ in range(200)]
    assert all(len(t) == 6 and t.isdigit() for t in tx)
    assert len(set(tx)) > 150
    assert {c for t in tx for c in t} == set("0123456789")


@given(st.text(min_size=1, max_size=40), st.text(max_size=12), st.text(max_size=12))
def test_a_transaction_code_matches_only_itself_and_only_with_its_offer(
    code: str, right: str, wrong: str
) -> None:
    digest = offers.tx_code_digest(code, right)
    assert offers.check_tx_code(code, right, digest) == (right.isascii())
    assert offers.check_tx_code(code, wrong, digest) == (wrong == right and wrong.isascii())
    assert not offers.check_tx_code(code + "x", right, digest)


@pytest.mark.parametrize(
    "presented", [None, 123456, ["123456"], "1" * 65, "\uff11\uff12\uff13\uff14\uff15\uff16"]
)
def test_an_odd_transaction_code_is_simply_wrong(presented: object) -> None:
    assert not offers.check_tx_code("code", presented, offers.tx_code_digest("code", "123456"))


def _stored(**changes: Any) -> offers.StoredOffer:
    base = offers.StoredOffer(expires_at=NOW + 600, tx_code_digest=offers.tx_code_digest("code", "123456"))
    return msgspec.structs.replace(base, **changes)


def _request(tx_code: str | None) -> offers.TokenRequest:
    return offers.TokenRequest(pre_authorized_code="code", tx_code=tx_code)


def test_the_right_code_redeems_the_offer_once() -> None:
    done = offers.redeem(_stored(), _request("123456"), now=NOW)
    assert done.ok
    assert done.burn
    again = offers.redeem(_stored(redeemed=True), _request("123456"), now=NOW)
    assert (again.ok, again.error, again.reason) == (
        False,
        "invalid_grant",
        "the offer has already been used",
    )


def test_an_expired_offer_is_refused_before_its_code_is_looked_at() -> None:
    late = offers.redeem(_stored(), _request("000000"), now=NOW + 600)
    assert (late.ok, late.error, late.reason, late.burn, late.failed_attempts) == (
        False,
        "invalid_grant",
        "the offer has expired",
        True,
        0,
    )


def test_wrong_codes_are_counted_and_the_fifth_cancels_the_offer() -> None:
    offer = _stored()
    for attempt in range(1, offers.MAX_TX_CODE_ATTEMPTS + 1):
        outcome = offers.redeem(offer, _request("654321"), now=NOW)
        assert (outcome.ok, outcome.error, outcome.failed_attempts) == (False, "invalid_grant", attempt)
        assert outcome.burn == (attempt == offers.MAX_TX_CODE_ATTEMPTS)
        offer = _stored(failed_attempts=outcome.failed_attempts)
    assert "cancelled" in outcome.reason  # type: ignore[operator]
    assert not offers.redeem(offer, _request("123456"), now=NOW).ok


def test_a_missing_or_unexpected_code_is_an_invalid_request() -> None:
    missing = offers.redeem(_stored(), _request(None), now=NOW)
    assert (missing.error, missing.failed_attempts) == ("invalid_request", 0)
    unexpected = offers.redeem(_stored(tx_code_digest=None), _request("123456"), now=NOW)
    assert unexpected.error == "invalid_request"
    assert offers.redeem(_stored(tx_code_digest=None), _request(None), now=NOW).ok


@pytest.mark.parametrize(
    ("form", "error", "field"),
    [
        ({}, "invalid_request", "grant_type"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type", "grant_type"),
        ({"grant_type": metadata.PRE_AUTHORIZED_GRANT}, "invalid_request", "pre-authorized_code"),
        (
            {"grant_type": metadata.PRE_AUTHORIZED_GRANT, "pre-authorized_code": "x" * 300},
            "invalid_grant",
            "pre-authorized_code",
        ),
        (
            {"grant_type": metadata.PRE_AUTHORIZED_GRANT, "pre-authorized_code": ["a", "b"]},
            "invalid_request",
            "pre-authorized_code",
        ),
    ],
)
def test_a_bad_token_request_gets_the_oauth_error(form: dict[str, object], error: str, field: str) -> None:
    with pytest.raises(offers.OfferError) as caught:
        offers.parse_token_request(form)  # type: ignore[arg-type]
    assert (caught.value.error, caught.value.field) == (error, field)


def test_the_qr_code_is_an_inline_svg_with_a_title() -> None:
    link = offers.by_reference_uri(offers.offer_url(BASE, "/oid4vci/offers", offers.new_offer_id()))
    svg = offers.qr_svg(link, title="Add your core skills to your wallet")
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.find("{http://www.w3.org/2000/svg}title").text == "Add your core skills to your wallet"  # type: ignore[union-attr]
    assert not svg.startswith("<?xml")
    assert int(root.attrib["width"]) >= 100
    with pytest.raises(offers.OfferError, match="by reference"):
        offers.qr_svg("x" * 2000, title="too long")


def test_the_wallet_accepts_the_metadata_and_finds_each_offered_configuration() -> None:
    document = metadata.credential_issuer_metadata(BASE, signing_algorithms=["ES256"])
    read = wallet.read_offer_link(offers.by_value_uri(_offer()))
    assert isinstance(read, dict)
    assert wallet.check_issuer_metadata(document, read) == {
        "core_skills": "ES256",
        "occupational_health": "ES256",
    }
    assert document["nonce_endpoint"] == BASE + "/oid4vci/nonce"
    assert document["batch_credential_issuance"] == {"batch_size": 10}
    core = document["credential_configurations_supported"]["core_skills"]
    assert core["vct"] == BASE + "/vct/core-skills/v1"
    assert core["credential_signing_alg_values_supported"] == ["ES256"]
    labels = {tuple(c["path"]): c["display"][0]["name"] for c in core["credential_metadata"]["claims"]}
    assert labels[("core_skills", None, "date_to")] == "Date to"
    assert core["credential_metadata"]["display"][0]["name"] == "Core skills training"


@pytest.mark.parametrize(
    "options",
    [{"signing_algorithms": []}, {"proof_algorithms": ["RS256"]}, {"batch_size": 1}, {"batch_size": True}],
)
def test_metadata_refuses_settings_it_cannot_honour(options: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        metadata.credential_issuer_metadata(BASE, **options)  # type: ignore[arg-type]


def test_the_authorization_server_metadata_gains_the_pre_authorized_grant() -> None:
    existing = {
        "issuer": BASE,
        "token_endpoint": BASE + "/oauth/token",
        "grant_types_supported": ["client_credentials"],
    }
    merged = metadata.merge_authorization_server_metadata(
        existing, metadata.authorization_server_additions(BASE)
    )
    assert merged["grant_types_supported"] == ["client_credentials", metadata.PRE_AUTHORIZED_GRANT]
    assert merged["pre-authorized_grant_anonymous_access_supported"] is True
    with pytest.raises(ValueError, match="token_endpoint"):
        metadata.merge_authorization_server_metadata(
            existing,
            metadata.authorization_server_additions(BASE, metadata.Endpoints(token="/oid4vci/token")),
        )


def test_a_deep_link_query_is_one_parameter() -> None:
    link = offers.by_value_uri(_offer())
    assert list(parse_qs(urlsplit(link).query)) == ["credential_offer"]
