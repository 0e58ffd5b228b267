"""Credential offers, pre-authorized codes and transaction codes (OpenID4VCI 1.0 sections 4 and 6) (pure).

A credential offer tells a wallet which credentials the registry will issue and how to ask: the issuer's
URL, the credential configuration ids and a pre-authorized code grant, usually with a transaction code
(``tx_code``) sent to the doctor over a second channel so that whoever photographs the QR code cannot redeem
it. Offers travel as ``openid-credential-offer://?credential_offer=<JSON>`` (by value) or
``?credential_offer_uri=<URL>`` (by reference, the form used in QR codes: shorter, and single use).

Secrets are never stored as given: storage keeps :func:`code_digest` of the pre-authorized code (to find
the offer) and :func:`tx_code_digest`, an HMAC of the transaction code keyed with the pre-authorized code,
so a copy of the database alone cannot be used to brute-force the six digits. :func:`redeem` decides a
token request against a stored offer: single use, expiry, the transaction code checked in constant time,
and the offer burnt after :data:`MAX_TX_CODE_ATTEMPTS` wrong codes.
"""

import hashlib
import hmac
import io
import secrets
from collections.abc import Mapping, Sequence
from typing import Final, Literal
from urllib.parse import parse_qs, quote, urlsplit

import msgspec
import segno

from service import jws
from service.oid4vc.metadata import PRE_AUTHORIZED_GRANT

OFFER_SCHEME: Final = "openid-credential-offer://"
CODE_BYTES: Final = 32
"""256 bits of randomness in a pre-authorized code."""
TX_CODE_LENGTH: Final = 6
TX_CODE_DESCRIPTION: Final = (
    "Enter the 6-digit code the registry sent you separately, by email or text message."
)
MAX_DESCRIPTION: Final = 300
MAX_TX_CODE_ATTEMPTS: Final = 5
"""Wrong transaction codes tolerated before the offer is burnt (1 in 200,000 chances for an attacker)."""
OFFER_LIFETIME: Final = 600
"""Seconds an offer can be redeemed: short lived, as the specification requires of pre-authorized codes."""
MAX_QR_TEXT: Final = 1200
"""Longest text put in a QR code: a longer one (an offer by value) is unreadable on a phone screen."""


class OfferError(ValueError):
    """An offer, a link or a token request that cannot be used; ``field`` names what, ``str()`` says why."""

    def __init__(self, field: str, reason: str, *, error: str = "invalid_request") -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.error = error
        """The OAuth 2.0 error code (RFC 6749 section 5.2) for a token request."""


# ---------------------------------------------------------------- the offer object


class TxCode(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What the wallet shows when asking for the transaction code."""

    input_mode: Literal["numeric", "text"]
    """Always sent, though ``numeric`` is the default, so no wallet has to know the default."""
    length: int | None = None
    description: str | None = None


class PreAuthorizedCodeGrant(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    omit_defaults=True,
    rename={"pre_authorized_code": "pre-authorized_code"},
):
    pre_authorized_code: str
    tx_code: TxCode | None = None


class Grants(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    omit_defaults=True,
    rename={"pre_authorized_code": PRE_AUTHORIZED_GRANT},
):
    pre_authorized_code: PreAuthorizedCodeGrant | None = None


class CredentialOffer(msgspec.Struct, frozen=True, kw_only=True):
    credential_issuer: str
    credential_configuration_ids: list[str]
    grants: Grants


def tx_code_spec(length: int = TX_CODE_LENGTH, description: str = TX_CODE_DESCRIPTION) -> TxCode:
    if not 4 <= length <= 12:
        raise ValueError("a transaction code has 4 to 12 digits")
    if len(description) > MAX_DESCRIPTION:
        raise ValueError(f"a transaction code description has at most {MAX_DESCRIPTION} characters")
    return TxCode(input_mode="numeric", length=length, description=description)


def make_offer(
    credential_issuer: str,
    configuration_ids: Sequence[str],
    pre_authorized_code: str,
    *,
    tx_code: TxCode | None,
    known_configurations: Sequence[str] | None = None,
) -> CredentialOffer:
    """An offer of the ``configuration_ids`` (non-empty, unique, and known when ``known_configurations``
    is given) redeemable with ``pre_authorized_code`` (and the transaction code when ``tx_code`` is set)."""
    ids = list(configuration_ids)
    if not ids:
        raise OfferError(
            "credential_configuration_ids", "an offer names at least one credential configuration"
        )
    if len(set(ids)) != len(ids):
        raise OfferError("credential_configuration_ids", "an offer names each credential configuration once")
    if known_configurations is not None:
        unknown = [i for i in ids if i not in known_configurations]
        if unknown:
            raise OfferError(
                "credential_configuration_ids",
                f"unknown credential configuration {unknown[0]!r}: one of {', '.join(known_configurations)}",
            )
    grant = PreAuthorizedCodeGrant(pre_authorized_code=pre_authorized_code, tx_code=tx_code)
    return CredentialOffer(
        credential_issuer=credential_issuer,
        credential_configuration_ids=ids,
        grants=Grants(pre_authorized_code=grant),
    )


def offer_json(offer: CredentialOffer) -> bytes:
    """The offer as the JSON object served at its ``credential_offer_uri`` (``application/json``)."""
    return msgspec.json.encode(offer)


def _quote(value: str) -> str:
    return quote(value, safe="")


def by_value_uri(offer: CredentialOffer) -> str:
    """``openid-credential-offer://?credential_offer=<the offer's JSON, percent-encoded>``."""
    return f"{OFFER_SCHEME}?credential_offer={_quote(offer_json(offer).decode('utf-8'))}"


def by_reference_uri(offer_url: str) -> str:
    """``openid-credential-offer://?credential_offer_uri=<URL of the offer>``."""
    return f"{OFFER_SCHEME}?credential_offer_uri={_quote(offer_url)}"


def offer_url(base_url: str, offers_path: str, offer_id: str) -> str:
    return f"{base_url.rstrip('/')}{offers_path}/{offer_id}"


_offer_decoder: Final = msgspec.json.Decoder(CredentialOffer)


def parse_offer(data: bytes | str) -> CredentialOffer:
    """A credential offer object (by value, or fetched from its URI); :class:`OfferError` otherwise."""
    try:
        offer = _offer_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise OfferError("credential_offer", f"not a credential offer: {exc}") from None
    if not offer.credential_configuration_ids:
        raise OfferError(
            "credential_configuration_ids", "an offer names at least one credential configuration"
        )
    return offer


def parse_offer_uri(uri: str) -> CredentialOffer | str:
    """What a link or QR code carries: the offer (by value) or the URL to fetch it from (by reference)."""
    parts = urlsplit(uri)
    if f"{parts.scheme}://" != OFFER_SCHEME:
        raise OfferError("uri", f"a credential offer link starts with {OFFER_SCHEME}")
    params = parse_qs(parts.query, keep_blank_values=True)
    by_value, by_reference = params.get("credential_offer", []), params.get("credential_offer_uri", [])
    if len(by_value) + len(by_reference) != 1:
        raise OfferError(
            "uri", "a credential offer link carries exactly one credential_offer or credential_offer_uri"
        )
    if by_value:
        return parse_offer(by_value[0])
    reference = urlsplit(by_reference[0])
    if reference.scheme not in ("https", "http") or not reference.netloc:
        raise OfferError("credential_offer_uri", "the credential_offer_uri is not an absolute URL")
    return by_reference[0]


# ---------------------------------------------------------------- codes


def new_offer_id() -> str:
    return secrets.token_urlsafe(16)


def new_pre_authorized_code() -> str:
    return secrets.token_urlsafe(CODE_BYTES)


def new_tx_code(length: int = TX_CODE_LENGTH) -> str:
    """A numeric transaction code, each digit from :mod:`secrets`."""
    return "".join(str(secrets.randbelow(10)) for _ in range(length))


def code_digest(code: str) -> str:
    """SHA-256 of a high-entropy code (pre-authorized code, access token): what storage indexes."""
    return jws.b64url_encode(hashlib.sha256(code.encode("utf-8")).digest())


def tx_code_digest(pre_authorized_code: str, tx_code: str) -> str:
    """HMAC-SHA-256 of the transaction code keyed with the pre-authorized code (never stored itself)."""
    mac = hmac.new(pre_authorized_code.encode("utf-8"), tx_code.encode("utf-8"), hashlib.sha256)
    return jws.b64url_encode(mac.digest())


def check_tx_code(pre_authorized_code: str, presented: object, digest: str) -> bool:
    """Whether ``presented`` is the transaction code, compared in constant time; False for any odd value."""
    if not isinstance(presented, str) or not presented.isascii() or len(presented) > 64:
        return False
    return hmac.compare_digest(tx_code_digest(pre_authorized_code, presented), digest)


# ---------------------------------------------------------------- the token request


class TokenRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A token request of the pre-authorized code grant (OpenID4VCI 1.0 section 6.1)."""

    pre_authorized_code: str
    tx_code: str | None


def _single(form: Mapping[str, str | Sequence[str]], name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    values = list(value)
    if len(values) != 1:
        raise OfferError(name, f"{name} is given more than once")
    return values[0]


def parse_token_request(form: Mapping[str, str | Sequence[str]]) -> TokenRequest:
    """The pre-authorized code token request in a form body; :class:`OfferError` with the OAuth error."""
    grant_type = _single(form, "grant_type")
    if grant_type is None:
        raise OfferError("grant_type", "grant_type is required")
    if grant_type != PRE_AUTHORIZED_GRANT:
        raise OfferError(
            "grant_type", f"grant_type must be {PRE_AUTHORIZED_GRANT}", error="unsupported_grant_type"
        )
    code = _single(form, "pre-authorized_code")
    if not code:
        raise OfferError("pre-authorized_code", "pre-authorized_code is required")
    if len(code) > 256 or not code.isascii():
        raise OfferError(
            "pre-authorized_code",
            "the pre-authorized code is not one this registry issues",
            error="invalid_grant",
        )
    tx_code = _single(form, "tx_code")
    return TokenRequest(pre_authorized_code=code, tx_code=tx_code)


class StoredOffer(msgspec.Struct, frozen=True, kw_only=True):
    """What storage keeps of an offer, enough to decide a token request."""

    expires_at: int
    """Seconds since the epoch."""
    tx_code_digest: str | None
    redeemed: bool = False
    failed_attempts: int = 0


class Redemption(msgspec.Struct, frozen=True, kw_only=True):
    """The decision on a token request: ``ok``, or the OAuth error; ``burn`` says the offer is now
    unusable (redeemed, or too many wrong codes), ``failed_attempts`` what to store."""

    ok: bool
    error: str | None = None
    reason: str | None = None
    burn: bool = False
    failed_attempts: int = 0


def redeem(offer: StoredOffer, request: TokenRequest, *, now: int) -> Redemption:
    """Decide a token request against the stored offer its pre-authorized code found.

    Order: a redeemed or expired offer is refused before the transaction code is looked at (a used offer
    cannot be probed); a missing or unexpected code is ``invalid_request``; a wrong one ``invalid_grant``,
    counted, and the offer is burnt at :data:`MAX_TX_CODE_ATTEMPTS`.
    """
    attempts = offer.failed_attempts
    if offer.redeemed or attempts >= MAX_TX_CODE_ATTEMPTS:
        return Redemption(
            ok=False,
            error="invalid_grant",
            reason="the offer has already been used",
            failed_attempts=attempts,
        )
    if now >= offer.expires_at:
        return Redemption(
            ok=False,
            error="invalid_grant",
            reason="the offer has expired",
            burn=True,
            failed_attempts=attempts,
        )
    if offer.tx_code_digest is None:
        if request.tx_code is not None:
            return Redemption(
                ok=False,
                error="invalid_request",
                reason="this offer takes no transaction code",
                failed_attempts=attempts,
            )
        return Redemption(ok=True, burn=True, failed_attempts=attempts)
    if request.tx_code is None:
        return Redemption(
            ok=False,
            error="invalid_request",
            reason="tx_code is required for this offer",
            failed_attempts=attempts,
        )
    if check_tx_code(request.pre_authorized_code, request.tx_code, offer.tx_code_digest):
        return Redemption(ok=True, burn=True, failed_attempts=attempts)
    attempts += 1
    left = MAX_TX_CODE_ATTEMPTS - attempts
    reason = "the transaction code is wrong" + (
        f" ({left} attempt(s) left)" if left else "; the offer is now cancelled"
    )
    return Redemption(
        ok=False, error="invalid_grant", reason=reason, burn=left == 0, failed_attempts=attempts
    )


# ---------------------------------------------------------------- QR codes


def qr_svg(text: str, *, title: str, scale: int = 4) -> str:
    """An SVG QR code of ``text`` (a deep link) with a ``<title>`` for screen readers, no XML declaration,
    so it can be put inline in a page; error correction M or better (segno raises it when it fits)."""
    if not text or len(text) > MAX_QR_TEXT:
        raise OfferError(
            "text", f"a QR code holds a link of 1 to {MAX_QR_TEXT} characters; use an offer by reference"
        )
    code = segno.make(text, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="svg", scale=scale, border=4, title=title, xmldecl=False, nl=False, svgclass="qr")
    return out.getvalue().decode("utf-8")
