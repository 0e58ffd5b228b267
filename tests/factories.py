"""Small ``create_*`` helpers that put just enough data in the test database."""

import datetime as dt
import itertools
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service import auth
from service.workforce.models import Organisation

TEST_PASSPHRASE = "test-passphrase-not-secret"
TEST_KEYS = Path(__file__).parent / "keys"
_counter = itertools.count(1)


def load_test_key(name: str) -> ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey:
    """A test-only private key from ``tests/keys/`` (never used outside the tests)."""
    key = serialization.load_pem_private_key((TEST_KEYS / name).read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey)
    return key


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def create_organisation(
    session: AsyncSession,
    code: str | None = None,
    *,
    kind: str = "nhs_trust",
    name: str | None = None,
    parent_code: str | None = None,
) -> Organisation:
    code = code or f"R{next(_counter):02d}"[:3]
    org = Organisation(
        code=code,
        name=name or f"Test organisation {code}",
        kind=kind,
        parent_code=parent_code,
        icb_code=None,
        postcode=None,
        latitude=None,
        longitude=None,
        created_at=now(),
    )
    session.add(org)
    await session.flush()
    return org


async def create_client(
    session: AsyncSession, role: auth.Role, organisation_code: str | None = None
) -> auth.ClientCreated:
    created = await auth.create_client(
        session, name=f"test {role.value}", role=role, organisation_code=organisation_code, now=now()
    )
    await session.commit()
    return created


def bearer(
    app: Litestar, role: auth.Role, organisation: str | None, subject: str = "test-client"
) -> dict[str, str]:
    """Headers with an access token for a principal (the client must exist for the token to pass)."""
    tokens: auth.TokenService = app.state.tokens
    principal = auth.Principal(subject=subject, kind="client", role=role, organisation=organisation)
    return {"Authorization": f"Bearer {tokens.issue_access_token(principal)}"}


async def client_headers(
    session: AsyncSession, app: Litestar, role: auth.Role, organisation_code: str | None = None
) -> dict[str, str]:
    created = await create_client(session, role, organisation_code)
    return bearer(app, role, organisation_code, created.client_id)
