"""Keys, a clock and a core skills credential for the credential cryptography tests."""

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from service import jws
from service.passport import presentation, sdjwt, status_list
from tests.factories import load_test_key

NOW = 1_796_000_000
"""A fixed clock (2026-11-30): every test is reproducible."""
ISSUER = "https://passport.nhs.example"
VCT = "https://passport.nhs.example/vct/core-skills/1"
AUDIENCE = "https://hr.example-isp.nhs.uk"
NONCE = "kGk1ZLn7mDAy"
LIST_URI = "https://passport.nhs.example/status-lists/7"
DISCLOSABLE = ("records/*", "records/*/*", "holder/legal_name")


def issuer_key() -> ec.EllipticCurvePrivateKey:
    key = load_test_key("es256-test.pem")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def ed25519_key() -> ed25519.Ed25519PrivateKey:
    key = load_test_key("rfc8037-ed25519.pem")
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key


def kid_of(key: jws.PrivateKey) -> str:
    return jws.jwk_thumbprint(jws.public_jwk(key.public_key()))


def verification_key(key: jws.PrivateKey) -> jws.VerificationKey:
    return jws.VerificationKey(jws.algorithm_of(key), key.public_key(), kid_of(key))


def core_skills_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "iat": NOW - 3600,
        "exp": NOW + 365 * 86400,
        "vct": VCT,
        "status": status_list.status_claim(LIST_URI, 1234),
        "holder": {"gmc_number": "7012345", "legal_name": "Priya Raman"},
        "records": [
            {"subject": "fire_safety", "level": 1, "date_awarded": "2026-03-01", "date_to": "2027-03-01"},
            {
                "subject": "infection_prevention",
                "level": 2,
                "date_awarded": "2026-01-10",
                "date_to": "2027-01-10",
            },
            {"subject": "resuscitation", "level": 3, "date_awarded": "2025-12-01", "date_to": "2026-12-01"},
        ],
    }
    claims.update(overrides)
    return claims


@dataclass
class Wallet:
    """An issued credential with the holder's key, the issuer's keys and the verifier's inputs."""

    issuer: jws.PrivateKey = field(default_factory=issuer_key)
    holder: jws.PrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    claims: dict[str, Any] = field(default_factory=core_skills_claims)
    disclosable: tuple[str, ...] = DISCLOSABLE
    statuses: dict[int, status_list.CredentialStatus] = field(default_factory=dict)
    used_nonces: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.issued = sdjwt.issue(
            self.claims,
            self.disclosable,
            key=self.issuer,
            kid=kid_of(self.issuer),
            holder_jwk=jws.public_jwk(self.holder.public_key()),
        )
        self.held = sdjwt.HeldCredential.parse(self.issued.combined())

    def present(
        self,
        paths: tuple[str, ...] = ("records/0",),
        *,
        aud: str = AUDIENCE,
        nonce: str = NONCE,
        iat: int = NOW,
    ) -> str:
        return self.held.present(paths, holder_key=self.holder, aud=aud, nonce=nonce, iat=iat)

    def status(self, ref: status_list.StatusReference) -> status_list.CredentialStatus:
        return self.statuses.get(ref.idx, status_list.CredentialStatus.VALID)

    def nonce_unused(self, nonce: str) -> bool:
        first = nonce not in self.used_nonces
        self.used_nonces.add(nonce)
        return first

    def verify(self, text: str | bytes, **overrides: Any) -> presentation.VerificationReport:
        arguments: dict[str, Any] = {
            "issuer_keys": presentation.keys_by_kid([verification_key(self.issuer)]),
            "status": self.status,
            "audience": AUDIENCE,
            "nonce": NONCE,
            "now": NOW,
            "nonce_unused": self.nonce_unused,
        }
        arguments.update(overrides)
        return presentation.verify_presentation(text, **arguments)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64_json(value: Any) -> str:
    return b64(json.dumps(value).encode("utf-8"))


def unb64_json(text: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def resign(key: jws.PrivateKey, payload: dict[str, Any], *, typ: str = sdjwt.CREDENTIAL_TYP) -> str:
    """An issuer-signed JWT of ``payload`` as a (careless or compromised) issuer could make it."""
    return jws.sign(payload, key, typ=typ, kid=kid_of(key))


def with_key_binding(wallet: Wallet, jwt: str, disclosures: list[str], *, nonce: str = NONCE) -> str:
    presented = jwt + "~" + "".join(d + "~" for d in disclosures)
    return presented + sdjwt.key_binding_jwt(presented, wallet.holder, aud=AUDIENCE, nonce=nonce, iat=NOW)
