"""An independent test wallet, written from the specifications, not from the registry's code.

It imports no ``service.*`` module: keys and JWS come from joserfc, and SD-JWT (RFC 9901), key binding,
DCQL (OpenID4VP 1.0 sections 6-7), key proofs (OpenID4VCI 1.0 appendix F.1), credential offers (section 4)
and signed request objects (OpenID4VP 1.0 section 5, ``decentralized_identifier:did:web``) are its own.
When it and the registry agree, two readings of the specifications agree.

The HTTP parts (fetching offers, metadata, request objects; posting) take the exchanged documents as
arguments, so the same code runs in-process against the pure modules and over real HTTP.
"""

import base64
import hashlib
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from joserfc import jws as jose
    from joserfc.errors import JoseError, SecurityWarning
    from joserfc.jwk import ECKey, OKPKey

PRE_AUTHORIZED = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
PROOF_TYP = "openid4vci-proof+jwt"
REQUEST_TYP = "oauth-authz-req+jwt"
KB_TYP = "kb+jwt"
SD_JWT_FORMAT = "dc+sd-jwt"
ALLOWED = ("ES256", "EdDSA")
DID_PREFIX = "decentralized_identifier:"


class WalletError(Exception):
    """The wallet refuses something the issuer or verifier sent."""


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _joserfc_key(jwk: Mapping[str, Any]) -> ECKey | OKPKey:
    members = {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y", "d")}
    if members.get("kty") == "EC":
        return ECKey.import_key(members)
    if members.get("kty") == "OKP":
        return OKPKey.import_key(members)
    raise WalletError(f"unsupported key type {members.get('kty')!r}")


# ---------------------------------------------------------------- holder keys


@dataclass
class HolderKey:
    key: ECKey | OKPKey
    alg: str

    @classmethod
    def generate(cls, alg: str = "ES256") -> "HolderKey":
        if alg == "ES256":
            return cls(ECKey.generate_key("P-256"), alg)
        return cls(OKPKey.generate_key("Ed25519"), alg)

    def public_jwk(self) -> dict[str, str]:
        public: dict[str, str] = {k: str(v) for k, v in self.key.as_dict(private=False).items()}
        return public

    def thumbprint(self) -> str:
        return str(self.key.thumbprint())

    def sign(self, header: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)  # RFC 9864 deprecates the name "EdDSA"
            token = jose.serialize_compact({"alg": self.alg, **header}, body, self.key, algorithms=[self.alg])
        return str(token)


def verify_jws(token: str, jwk: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWS signed by ``jwk``; WalletError otherwise."""
    try:
        header = json.loads(b64u_decode(token.split(".")[0]))
        alg = header.get("alg")
        if alg not in ALLOWED:
            raise WalletError(f"algorithm {alg!r} is not allowed")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)
            checked = jose.deserialize_compact(token, _joserfc_key(jwk), algorithms=[alg])
    except (JoseError, ValueError, IndexError) as exc:
        raise WalletError(f"signature check failed: {exc}") from None
    return dict(checked.headers()), json.loads(checked.payload)


# ---------------------------------------------------------------- issuance (OpenID4VCI 1.0)


def read_offer_link(link: str) -> dict[str, Any] | str:
    """The credential offer in a link (by value), or the URL it must be fetched from (by reference)."""
    parts = urlsplit(link)
    if parts.scheme != "openid-credential-offer":
        raise WalletError("not a credential offer link")
    params = parse_qs(parts.query)
    if "credential_offer" in params and "credential_offer_uri" not in params:
        offer: dict[str, Any] = json.loads(params["credential_offer"][0])
        return check_offer(offer)
    if "credential_offer_uri" in params and "credential_offer" not in params:
        return params["credential_offer_uri"][0]
    raise WalletError("a credential offer link has credential_offer or credential_offer_uri")


def check_offer(offer: Mapping[str, Any]) -> dict[str, Any]:
    issuer = offer.get("credential_issuer")
    ids = offer.get("credential_configuration_ids")
    grant = (offer.get("grants") or {}).get(PRE_AUTHORIZED)
    if not isinstance(issuer, str) or not isinstance(ids, list) or not ids:
        raise WalletError("the offer has no credential_issuer or credential_configuration_ids")
    if not isinstance(grant, dict) or not isinstance(grant.get("pre-authorized_code"), str):
        raise WalletError("the offer has no pre-authorized code grant")
    return dict(offer)


def check_issuer_metadata(metadata: Mapping[str, Any], offer: Mapping[str, Any]) -> dict[str, str]:
    """The configuration ids of the offer mapped to the proof algorithm to use, after checking that the
    metadata belongs to the offer's issuer and describes SD-JWT VCs bound to a JWK."""
    if metadata.get("credential_issuer") != offer["credential_issuer"]:
        raise WalletError("the metadata is for another credential issuer")
    for name in ("credential_endpoint", "nonce_endpoint"):
        if not str(metadata.get(name, "")).startswith(offer["credential_issuer"]):
            raise WalletError(f"the metadata's {name} is not at the credential issuer")
    chosen: dict[str, str] = {}
    configurations = metadata.get("credential_configurations_supported", {})
    for identifier in offer["credential_configuration_ids"]:
        configuration = configurations.get(identifier)
        if not isinstance(configuration, dict) or configuration.get("format") != SD_JWT_FORMAT:
            raise WalletError(f"{identifier}: not an SD-JWT VC configuration of this issuer")
        if "jwk" not in configuration.get("cryptographic_binding_methods_supported", []):
            raise WalletError(f"{identifier}: cannot be bound to a JWK")
        algs = configuration["proof_types_supported"]["jwt"]["proof_signing_alg_values_supported"]
        usable = [a for a in ALLOWED if a in algs]
        if not usable:
            raise WalletError(f"{identifier}: no proof algorithm this wallet supports")
        chosen[identifier] = usable[0]
    return chosen


def token_request(offer: Mapping[str, Any], tx_code: str | None) -> dict[str, str]:
    grant = offer["grants"][PRE_AUTHORIZED]
    form = {"grant_type": PRE_AUTHORIZED, "pre-authorized_code": grant["pre-authorized_code"]}
    if "tx_code" in grant:
        if tx_code is None:
            raise WalletError("the offer needs the transaction code sent to the holder")
        form["tx_code"] = tx_code
    return form


def key_proof(key: HolderKey, *, issuer: str, nonce: str | None, iat: int) -> str:
    claims: dict[str, Any] = {"aud": issuer, "iat": iat}
    if nonce is not None:
        claims["nonce"] = nonce
    return key.sign({"typ": PROOF_TYP, "jwk": key.public_jwk()}, claims)


def credential_request(configuration_id: str, proofs: Sequence[str]) -> dict[str, Any]:
    return {"credential_configuration_id": configuration_id, "proofs": {"jwt": list(proofs)}}


def notification_request(notification_id: str, event: str = "credential_accepted") -> dict[str, str]:
    return {"notification_id": notification_id, "event": event}


def credentials_from_response(
    body: Mapping[str, Any], keys: Sequence[HolderKey]
) -> list[tuple[HolderKey, str]]:
    """Each issued credential with the key it is bound to (by ``cnf.jwk``): every key gets at most one."""
    by_thumbprint = {key.thumbprint(): key for key in keys}
    found: list[tuple[HolderKey, str]] = []
    for item in body.get("credentials", []):
        held = parse_sd_jwt(item["credential"])
        jwk = held.payload.get("cnf", {}).get("jwk")
        key = by_thumbprint.pop(str(_joserfc_key(jwk).thumbprint()), None) if isinstance(jwk, dict) else None
        if key is None:
            raise WalletError("a credential is bound to no key of this request, or to one twice")
        found.append((key, item["credential"]))
    return found


# ---------------------------------------------------------------- SD-JWT (RFC 9901)


@dataclass
class Disclosure:
    encoded: str
    digest: str
    name: str | None
    value: Any


@dataclass
class Held:
    """A credential as the wallet keeps it: the JWT, its disclosures, and where each one sits."""

    jwt: str
    header: dict[str, Any]
    payload: dict[str, Any]
    disclosures: list[Disclosure]
    claims: dict[str, Any]
    placed: dict[str, tuple[tuple[str | int, ...], str | None]] = field(default_factory=dict)
    """digest -> (path of the claim it discloses, digest of the disclosure enclosing it)."""


def _digest(text: str) -> str:
    return b64u(hashlib.sha256(text.encode("ascii")).digest())


def _disclosure(encoded: str) -> Disclosure:
    content = json.loads(b64u_decode(encoded))
    if len(content) == 3:
        return Disclosure(encoded, _digest(encoded), content[1], content[2])
    if len(content) == 2:
        return Disclosure(encoded, _digest(encoded), None, content[1])
    raise WalletError("a disclosure is neither [salt, name, value] nor [salt, value]")


def parse_sd_jwt(text: str) -> Held:
    jwt, *rest = text.split("~")
    disclosures = [_disclosure(d) for d in rest[:-1]]
    header = json.loads(b64u_decode(jwt.split(".")[0]))
    payload = json.loads(b64u_decode(jwt.split(".")[1]))
    by_digest = {d.digest: d for d in disclosures}
    placed: dict[str, tuple[tuple[str | int, ...], str | None]] = {}

    def expand(node: Any, path: tuple[str | int, ...], parent: str | None) -> Any:
        if isinstance(node, dict):
            out = {k: expand(v, (*path, k), parent) for k, v in node.items() if k not in ("_sd", "_sd_alg")}
            for digest in node.get("_sd", []):
                found = by_digest.get(digest)
                if found is not None and found.name is not None:
                    placed[digest] = ((*path, found.name), parent)
                    out[found.name] = expand(found.value, (*path, found.name), digest)
            return out
        if isinstance(node, list):
            items: list[Any] = []
            for element in node:
                if isinstance(element, dict) and set(element) == {"..."}:
                    found = by_digest.get(element["..."])
                    if found is not None:
                        placed[found.digest] = ((*path, len(items)), parent)
                        items.append(expand(found.value, (*path, len(items)), found.digest))
                    continue
                items.append(expand(element, (*path, len(items)), parent))
            return items
        return node

    claims = expand(payload, (), None)
    return Held(jwt, header, payload, disclosures, claims, placed)


def disclosures_for(held: Held, paths: Sequence[tuple[str | int, ...]]) -> list[Disclosure]:
    """The disclosures that reveal the claims at ``paths``: their whole subtree and every enclosing one."""
    chosen: set[str] = set()
    for digest, (at, _) in held.placed.items():
        if any(at[: len(p)] == tuple(p) for p in paths):
            cursor: str | None = digest
            while cursor is not None and cursor not in chosen:
                chosen.add(cursor)
                cursor = held.placed[cursor][1]
    for path in paths:  # a plain claim inside a disclosed one: reveal the disclosures above it
        for digest, (at, _) in held.placed.items():
            if tuple(path)[: len(at)] == at:
                cursor = digest
                while cursor is not None and cursor not in chosen:
                    chosen.add(cursor)
                    cursor = held.placed[cursor][1]
    return [d for d in held.disclosures if d.digest in chosen]


def present(
    held: Held, chosen: Sequence[Disclosure], key: HolderKey, *, aud: str, nonce: str, iat: int
) -> str:
    """``<jwt>~<disclosures>~<kb-jwt>`` with a KB-JWT for ``aud`` and ``nonce`` (RFC 9901 section 4.3)."""
    presented = held.jwt + "~" + "".join(d.encoded + "~" for d in chosen)
    kb = key.sign({"typ": KB_TYP}, {"iat": iat, "aud": aud, "nonce": nonce, "sd_hash": _digest(presented)})
    return presented + kb


# ---------------------------------------------------------------- DCQL (OpenID4VP 1.0 sections 6-7)


def _pointer(claims: Any, path: Sequence[Any]) -> list[tuple[tuple[str | int, ...], Any]]:
    """Section 7.2: [] stands for "abort with an error" and for "nothing selected" alike."""
    current: list[tuple[tuple[str | int, ...], Any]] = [((), claims)]
    for part in path:
        step: list[tuple[tuple[str | int, ...], Any]] = []
        for at, node in current:
            if isinstance(part, str) and isinstance(node, dict):
                if part in node:
                    step.append(((*at, part), node[part]))
            elif part is None and isinstance(node, list):
                step.extend(((*at, i), v) for i, v in enumerate(node))
            elif (
                isinstance(part, int) and not isinstance(part, bool) and part >= 0 and isinstance(node, list)
            ):
                if part < len(node):
                    step.append(((*at, part), node[part]))
            else:
                return []
        current = step
    return current


def _claim_paths(claims: Mapping[str, Any], claim: Mapping[str, Any]) -> list[tuple[str | int, ...]]:
    found = _pointer(claims, claim["path"])
    if "values" in claim:
        found = [(at, v) for at, v in found if any(type(v) is type(w) and v == w for w in claim["values"])]
    return [at for at, _ in found]


def _paths_for(query: Mapping[str, Any], held: Held) -> list[tuple[str | int, ...]] | None:
    if held.claims.get("vct") not in query.get("meta", {}).get("vct_values", [held.claims.get("vct")]):
        return None
    if query.get("format") != SD_JWT_FORMAT:
        return None
    claims = query.get("claims")
    if not claims:
        return []
    each = [_claim_paths(held.claims, c) for c in claims]
    sets = query.get("claim_sets")
    if sets is None:
        return [p for paths in each for p in paths] if all(each) else None
    by_id = {c["id"]: paths for c, paths in zip(claims, each, strict=True)}
    for option in sets:
        if all(by_id[i] for i in option):
            return [p for i in option for p in by_id[i]]
    return None


def match_query(
    query: Mapping[str, Any], helds: Sequence[Held]
) -> dict[str, tuple[int, list[tuple[str | int, ...]]]]:
    """For each credential query to answer: the credential (index) and the claim paths to disclose."""
    answers: dict[str, tuple[int, list[tuple[str | int, ...]]]] = {}
    for credential_query in query["credentials"]:
        for index, held in enumerate(helds):
            paths = _paths_for(credential_query, held)
            if paths is not None:
                answers[credential_query["id"]] = (index, paths)
                break
    sets = query.get("credential_sets")
    if sets is None:
        missing = [q["id"] for q in query["credentials"] if q["id"] not in answers]
        if missing:
            raise WalletError(f"cannot answer {', '.join(missing)}")
        return answers
    keep: list[str] = []
    for credential_set in sets:
        option = next((o for o in credential_set["options"] if all(i in answers for i in o)), None)
        if option is None and credential_set.get("required", True):
            raise WalletError("a required credential set cannot be met")
        keep += option or []
    return {i: answers[i] for i in keep}


# ---------------------------------------------------------------- presentation (OpenID4VP 1.0)


def read_request_link(link: str) -> tuple[str, str]:
    """``client_id`` and ``request_uri`` of an ``openid4vp://`` link."""
    params = parse_qs(urlsplit(link).query)
    try:
        return params["client_id"][0], params["request_uri"][0]
    except KeyError:
        raise WalletError("the link has no client_id or request_uri") from None


def did_web_document_url(did: str, *, scheme: str = "https") -> str:
    """Where a ``did:web`` DID's document is (the did:web method: ``:`` separates path segments)."""
    if not did.startswith("did:web:"):
        raise WalletError("only did:web client identifiers are supported")
    host, *segments = did[len("did:web:") :].split(":")
    path = "/" + "/".join(unquote(s) for s in segments) + "/did.json" if segments else "/.well-known/did.json"
    return f"{scheme}://{unquote(host)}{path}"


def verify_request_object(
    token: str,
    *,
    client_id: str,
    did_document: Mapping[str, Any],
    jwks: Mapping[str, Any],
    now: int,
) -> dict[str, Any]:
    """The request object's claims once every check a wallet makes has passed (WalletError otherwise)."""
    header = json.loads(b64u_decode(token.split(".")[0]))
    if header.get("typ") != REQUEST_TYP:
        raise WalletError("not a request object (typ)")
    if not client_id.startswith(DID_PREFIX):
        raise WalletError("unsupported client identifier prefix")
    did = client_id[len(DID_PREFIX) :]
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid.startswith(did + "#") or did_document.get("id") != did:
        raise WalletError("the request is not signed with a key of the client's DID")
    method = next((m for m in did_document.get("verificationMethod", []) if m.get("id") == kid), None)
    if method is None:
        raise WalletError("the DID document has no such verification method")
    jwk = method["publicKeyJwk"]
    published = {str(_joserfc_key(k).thumbprint()) for k in jwks.get("keys", [])}
    if str(_joserfc_key(jwk).thumbprint()) not in published:
        raise WalletError("the signing key is not in the registry's published JWKS")
    _, claims = verify_jws(token, jwk)
    expected = {"client_id": client_id, "response_type": "vp_token", "response_mode": "direct_post"}
    for name, value in expected.items():
        if claims.get(name) != value:
            raise WalletError(f"the request's {name} is not {value}")
    if claims.get("aud") != "https://self-issued.me/v2" or not isinstance(claims.get("exp"), int):
        raise WalletError("the request object has the wrong audience or no expiry")
    if claims["exp"] <= now:
        raise WalletError("the request has expired")
    if "redirect_uri" in claims or not str(claims.get("response_uri", "")).startswith(
        ("https://", "http://")
    ):
        raise WalletError("direct_post needs a response_uri and no redirect_uri")
    if not isinstance(claims.get("nonce"), str) or "dcql_query" not in claims:
        raise WalletError("the request has no nonce or no dcql_query")
    return claims


def answer(
    request: Mapping[str, Any], helds: Sequence[Held], keys: Sequence[HolderKey], *, iat: int
) -> dict[str, list[str]]:
    """The ``vp_token``: per credential query, a presentation with only the selected disclosures and a
    KB-JWT whose ``aud`` is the client identifier and ``nonce`` the request's."""
    token: dict[str, list[str]] = {}
    for query_id, (index, paths) in match_query(request["dcql_query"], helds).items():
        held = helds[index]
        chosen = disclosures_for(held, paths)
        token[query_id] = [
            present(held, chosen, keys[index], aud=request["client_id"], nonce=request["nonce"], iat=iat)
        ]
    return token


def direct_post_body(vp_token: Mapping[str, list[str]], state: str) -> dict[str, str]:
    return {"vp_token": json.dumps(vp_token), "state": state}


# ---------------------------------------------------------------- the HTTP driver


class HttpWallet:
    """The wallet over real HTTP (httpx): the same checks as above on the documents the issuer and the
    verifier actually serve. ``scheme`` is how a ``did:web`` host is reached (``http`` for a loopback test
    server only)."""

    def __init__(self, *, timeout: float = 20, scheme: str = "https") -> None:
        import httpx

        self.http = httpx.Client(timeout=timeout)
        self.scheme = scheme

    def close(self) -> None:
        self.http.close()

    # issuance

    def fetch_offer(self, link: str) -> dict[str, Any]:
        found = read_offer_link(link)
        if isinstance(found, dict):
            return found
        response = self.http.get(found)
        if response.status_code != 200:
            raise WalletError(f"the offer could not be fetched: {response.status_code}")
        return check_offer(response.json())

    def issuer_metadata(self, offer: Mapping[str, Any]) -> dict[str, Any]:
        issuer = offer["credential_issuer"]
        metadata: dict[str, Any] = self.http.get(issuer + "/.well-known/openid-credential-issuer").json()
        server: dict[str, Any] = self.http.get(issuer + "/.well-known/oauth-authorization-server").json()
        if PRE_AUTHORIZED not in server.get("grant_types_supported", []):
            raise WalletError("the authorization server does not offer the pre-authorized code grant")
        metadata["_token_endpoint"] = server["token_endpoint"]
        return metadata

    def token(self, metadata: Mapping[str, Any], offer: Mapping[str, Any], tx_code: str | None) -> Any:
        return self.http.post(metadata["_token_endpoint"], data=token_request(offer, tx_code))

    def nonce(self, metadata: Mapping[str, Any]) -> str:
        response = self.http.post(metadata["nonce_endpoint"])
        if response.status_code != 200 or response.headers.get("cache-control") != "no-store":
            raise WalletError("the nonce endpoint did not answer a fresh, uncached nonce")
        return str(response.json()["c_nonce"])

    def request_credentials(
        self, metadata: Mapping[str, Any], access_token: str, configuration_id: str, proofs: Sequence[str]
    ) -> Any:
        return self.http.post(
            metadata["credential_endpoint"],
            json=credential_request(configuration_id, proofs),
            headers={"Authorization": f"Bearer {access_token}"},
        )

    def notify(self, metadata: Mapping[str, Any], access_token: str, notification_id: str, event: str) -> Any:
        return self.http.post(
            metadata["notification_endpoint"],
            json=notification_request(notification_id, event),
            headers={"Authorization": f"Bearer {access_token}"},
        )

    # presentation

    def fetch_request(self, link: str, *, now: int) -> dict[str, Any]:
        """The verified request object of an ``openid4vp://`` link: fetched from its ``request_uri``,
        its signature checked against the client's DID document and the issuer's published JWKS."""
        client_id, request_uri = read_request_link(link)
        response = self.http.get(request_uri)
        if response.status_code != 200:
            raise WalletError(f"the request object could not be fetched: {response.status_code}")
        if response.headers.get("content-type", "").split(";")[0] != "application/oauth-authz-req+jwt":
            raise WalletError("the request_uri did not answer application/oauth-authz-req+jwt")
        did = client_id[len(DID_PREFIX) :]
        document = self.http.get(did_web_document_url(did, scheme=self.scheme)).json()
        base = did_web_document_url(did, scheme=self.scheme).removesuffix("/.well-known/did.json")
        jwks = self.http.get(base + "/.well-known/jwt-vc-issuer").json()["jwks"]
        return verify_request_object(
            response.text, client_id=client_id, did_document=document, jwks=jwks, now=now
        )

    def post_response(self, request: Mapping[str, Any], vp_token: Mapping[str, list[str]]) -> Any:
        return self.http.post(request["response_uri"], data=direct_post_body(vp_token, request["state"]))
