"""Credentials the registry issues (through the service: claim model, fast disclosures, ES256 and EdDSA)
pass the independent ``sd-jwt`` reference package, and joserfc checks their issuer signature."""

import json
import warnings

import pytest
from jwcrypto.jwk import JWK
from litestar import Litestar
from sd_jwt.verifier import SDJWTVerifier
from sqlalchemy.ext.asyncio import AsyncSession

from service import jws
from service.credentials import service
from service.passport import sdjwt
from service.passport.encryption import DataKeyRing
from tests.credentials import factories as cf
from tests.credentials.test_service import KINDS, NOW, doctor_with_key

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from joserfc import jws as joserfc_jws
    from joserfc.jwk import ECKey, OKPKey


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
async def test_the_reference_package_and_joserfc_verify_what_we_issue(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing, alg: str
) -> None:
    world, _ = await doctor_with_key(session, data_keys)
    issuer = cf.issuer_of(app)
    issuer.alg = alg  # type: ignore[assignment]
    await service.issue(session, issuer, [(world.doctor.id, k) for k in KINDS], now=NOW)
    public: dict[str, str | list[str]] = dict(issuer.key().public_jwk())
    for item in await service.holder_credentials(session, issuer, world.doctor.id):
        ours = sdjwt.HeldCredential.parse(item.credential)
        verifier = SDJWTVerifier(item.credential, lambda iss, header: JWK.from_json(json.dumps(public)))
        theirs = verifier.get_verified_payload()
        assert {k: v for k, v in theirs.items() if k != "_sd_alg"} == {
            k: v for k, v in ours.claims.items() if k != "_sd_alg"
        }
        key = ECKey.import_key(public) if alg == "ES256" else OKPKey.import_key(public)
        compact = item.credential.split("~", 1)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            verified = joserfc_jws.deserialize_compact(compact, key, algorithms=[alg])
        assert json.loads(verified.payload)["vct"] == item.vct
        assert jws.unverified_header(compact)["typ"] == "dc+sd-jwt"
