"""Provisioning users, mapping identities to them, and the sealed OIDC state."""

import base64
import datetime as dt
import json
import uuid

import jwt
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Principal, Role, TokenService
from service.errors import Conflict, Forbidden, InvalidInput, NotFound
from service.keys import KeyRing
from service.web import service as web
from service.web.oidc import Identity
from tests.web.helpers import create_person, create_user, now

ISSUER = "https://login.example.nhs.uk"
REGISTRY = "http://testserver.local"


def _identity(sub: str, email: str | None, verified: bool = True) -> Identity:
    return Identity(issuer=ISSUER, subject=sub, email=email, email_verified=verified, name=None)


async def test_create_user_normalises_the_email(session: AsyncSession) -> None:
    user = await create_user(session, "  Mixed.Case@Trust.Example ")
    assert user.email == "mixed.case@trust.example"
    with pytest.raises(Conflict):
        await create_user(session, "MIXED.CASE@trust.example")


@pytest.mark.parametrize(
    ("role", "organisation", "person", "message"),
    [
        (Role.HOLDER, "RSV1", False, "needs the id of their person record"),
        (Role.VERIFIER, "RSV1", True, "only a holder"),
        (Role.ISSUER, None, False, "needs an organisation"),
        (Role.ISSUER, "NOPE", False, "unknown organisation"),
    ],
    ids=["holder-without-person", "verifier-with-person", "no-organisation", "unknown-organisation"],
)
async def test_create_user_refuses_inconsistent_accounts(
    session: AsyncSession, role: Role, organisation: str | None, person: bool, message: str
) -> None:
    await create_user(session, "someone@trust.example", organisation="RSV1")
    person_id = (await create_person(session)).id if person else None
    with pytest.raises(InvalidInput, match=message):
        await web.create_user(
            session,
            email="new@trust.example",
            name="New",
            role=role,
            organisation_code=organisation,
            person_id=person_id,
            now=now(),
        )


async def test_create_user_refuses_an_unknown_person_and_a_bad_email(session: AsyncSession) -> None:
    await create_user(session, "seed@trust.example", organisation="RSV2")
    with pytest.raises(InvalidInput, match="unknown person"):
        await web.create_user(
            session,
            email="holder@trust.example",
            name="Holder",
            role=Role.HOLDER,
            organisation_code="RSV2",
            person_id=uuid.uuid4(),
            now=now(),
        )
    with pytest.raises(InvalidInput, match="not an email address"):
        await web.create_user(
            session, email="no-at-sign", name="X", role=Role.ADMIN, organisation_code=None, now=now()
        )


async def test_disable_user(session: AsyncSession) -> None:
    user = await create_user(session, "leaver@trust.example")
    first = await web.disable_user(session, "LEAVER@trust.example", now())
    when = first.disabled_at
    assert when is not None
    again = await web.disable_user(session, "leaver@trust.example", now() + dt.timedelta(days=1))
    assert again.disabled_at == when, "disabling twice keeps the first time"
    assert user.id == again.id
    with pytest.raises(NotFound):
        await web.disable_user(session, "nobody@trust.example", now())


async def test_principal_of_a_holder_carries_the_person(session: AsyncSession) -> None:
    person = await create_person(session)
    user = await create_user(session, "dr@trust.example", role=Role.HOLDER, person_id=person.id)
    principal = web.principal_for(user)
    assert principal == Principal(
        subject=str(user.id),
        kind="user",
        role=Role.HOLDER,
        organisation="RWEB",
        person_id=str(person.id),
        name="Sam Verifier",
    )


async def test_a_demo_account_never_signs_in_through_the_provider(session: AsyncSession) -> None:
    await create_user(session, "demo@demo.example", demo=True)
    with pytest.raises(web.SignInRefused, match="no account"):
        await web.user_for_identity(session, _identity("d-1", "demo@demo.example"))


async def test_a_disabled_user_is_not_bound(session: AsyncSession) -> None:
    user = await create_user(session, "off@trust.example")
    await web.disable_user(session, "off@trust.example", now())
    with pytest.raises(web.SignInRefused, match="disabled"):
        await web.user_for_identity(session, _identity("off", "off@trust.example"))
    assert user.oidc_subject is None


async def test_demo_users_are_grouped_by_role_without_real_or_disabled_ones(session: AsyncSession) -> None:
    person = await create_person(session)
    await create_user(session, "a@demo.example", name="B verifier", demo=True)
    await create_user(session, "b@demo.example", name="A verifier", demo=True)
    await create_user(session, "c@demo.example", name="Dr", role=Role.HOLDER, demo=True, person_id=person.id)
    await create_user(session, "d@demo.example", name="Disabled", demo=True)
    await web.disable_user(session, "d@demo.example", now())
    await create_user(session, "real@trust.example", name="Real")
    groups = await web.demo_users(session)
    assert [role for role in groups] == [Role.HOLDER, Role.VERIFIER]
    assert [u.display_name for u in groups[Role.VERIFIER]] == ["A verifier", "B verifier"]


async def test_demo_sign_in_is_only_for_demo_mode_and_demo_accounts(session: AsyncSession) -> None:
    demo = await create_user(session, "demo@demo.example", demo=True)
    real = await create_user(session, "real@trust.example")
    with pytest.raises(NotFound):
        await web.demo_sign_in(session, str(demo.id), demo_mode=False)
    with pytest.raises(Forbidden):
        await web.demo_sign_in(session, str(real.id), demo_mode=True)
    with pytest.raises(InvalidInput):
        await web.demo_sign_in(session, "not-a-uuid", demo_mode=True)
    assert await web.demo_sign_in(session, str(demo.id), demo_mode=True) is demo


# ---------------------------------------------------------------- sealed state (no database)

STATE = web.OidcState(state="s" * 43, nonce="n" * 43, code_verifier="v" * 86)


def test_sealed_state_round_trips(keyring: KeyRing) -> None:
    at = now()
    sealed = web.seal_oidc_state(keyring, STATE, issuer=REGISTRY, now=at)
    assert web.open_oidc_state(keyring, sealed, issuer=REGISTRY, now=at + dt.timedelta(seconds=599)) == STATE
    web.check_state(STATE, "s" * 43)
    with pytest.raises(web.SignInExpired):
        web.check_state(STATE, "t" * 43)


def test_sealed_state_expires(keyring: KeyRing) -> None:
    at = now()
    sealed = web.seal_oidc_state(keyring, STATE, issuer=REGISTRY, now=at)
    with pytest.raises(web.SignInExpired):
        web.open_oidc_state(keyring, sealed, issuer=REGISTRY, now=at + dt.timedelta(seconds=601))


def test_a_session_token_does_not_pass_as_state(keyring: KeyRing) -> None:
    tokens = TokenService(keyring, issuer=REGISTRY, lifetime=300, session_lifetime=3600, clock=now)
    session_token = tokens.issue_session(
        Principal(subject="u", kind="user", role=Role.ADMIN, organisation=None, name="x")
    )
    with pytest.raises(web.SignInExpired):
        web.open_oidc_state(keyring, session_token, issuer=REGISTRY, now=now())


def test_a_tampered_or_foreign_state_is_refused(keyring: KeyRing) -> None:
    sealed = web.seal_oidc_state(keyring, STATE, issuer=REGISTRY, now=now())
    header, _, signature = sealed.split(".")
    claims = jwt.decode(sealed, options={"verify_signature": False})
    claims["nonce"] = "attacker-chosen"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    for token in (f"{header}.{forged_payload}.{signature}", None, "", "not-a-jwt"):
        with pytest.raises(web.SignInExpired):
            web.open_oidc_state(keyring, token, issuer=REGISTRY, now=now())
    with pytest.raises(web.SignInExpired):
        web.open_oidc_state(keyring, sealed, issuer="https://another-registry.example", now=now())
