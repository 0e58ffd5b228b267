"""Helpers of the credentials tests: a doctor with records of the four kinds, a holder account and
key, holder and issuer headers, proofs of possession."""

import datetime as dt
import uuid
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric import ec
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service import jws
from service.auth import Principal, Role, TokenService, User
from service.credentials import service
from service.credentials.models import HolderKey
from service.passport import service as passport
from service.passport.encryption import DataKeyRing
from service.passport.schemas import RecordCreate
from service.workforce.models import Person
from tests.passport import factories as pf
from tests.workforce.factories import Tree

BASE_URL = "http://testserver.local"
PROOF_TYP = service.PROOF_TYP


def records_of(person: Person, tree: Tree) -> list[dict[str, Any]]:
    return [
        pf.core_skill(person),
        pf.core_skill(person, subject="resuscitation", level=2),
        pf.health(person),
        pf.placement(person, tree),
        pf.identity(person),
    ]


async def submit(
    session: AsyncSession,
    data_keys: DataKeyRing,
    bodies: list[dict[str, Any]],
    organisation: str,
    now: dt.datetime,
) -> list[Any]:
    records = msgspec.convert(bodies, list[RecordCreate])
    return await passport.submit(session, pf.issuer_principal(organisation), records, now=now, keys=data_keys)


async def holder_user(session: AsyncSession, person: Person, now: dt.datetime) -> User:
    user = User(
        id=uuid.uuid4(),
        email=f"{person.id.hex[:8]}@doctor.example",
        display_name=f"{person.given_name} {person.family_name}",
        role=Role.HOLDER.value,
        organisation_code=None,
        person_id=person.id,
        created_at=now,
        disabled_at=None,
    )
    session.add(user)
    await session.flush()
    return user


def holder_principal(user: User) -> Principal:
    return Principal(
        subject=str(user.id),
        kind="user",
        role=Role.HOLDER,
        organisation=user.organisation_code,
        person_id=str(user.person_id),
        name=user.display_name,
    )


def holder_headers(app: Litestar, user: User) -> dict[str, str]:
    tokens: TokenService = app.state.tokens
    return {"Authorization": f"Bearer {tokens.issue_access_token(holder_principal(user))}"}


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


async def add_holder_key(
    session: AsyncSession, person_id: uuid.UUID, key: jws.PrivateKey, now: dt.datetime
) -> HolderKey:
    jwk = jws.public_jwk(key.public_key())
    row = HolderKey(
        id=uuid.uuid4(),
        person_id=person_id,
        jwk=jwk,
        thumbprint=jws.jwk_thumbprint(jwk),
        alg=jws.algorithm_of(key),
        registered_at=now,
    )
    session.add(row)
    await session.flush()
    return row


def proof(
    key: jws.PrivateKey,
    nonce: str,
    *,
    aud: str = BASE_URL,
    iat: int | None = None,
    typ: str = PROOF_TYP,
    jwk: dict[str, Any] | None = None,
) -> str:
    claims = {
        "nonce": nonce,
        "aud": aud,
        "iat": int(dt.datetime.now(dt.UTC).timestamp()) if iat is None else iat,
    }
    header = {"jwk": jwk if jwk is not None else jws.public_jwk(key.public_key())}
    return jws.sign(claims, key, typ=typ, headers=header)


def issuer_of(app: Litestar) -> service.Issuer:
    return service.issuer_from_state(app.state)
