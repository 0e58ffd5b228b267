"""A doctor with real records and credentials, a policy, callers: the scene of the verification tests.

Records go in through the passport API as an issuer submits them; each credential's claims come from
the passport's claim model (``credentials_claims``) and are signed with the registry's active credential
key (``keys/credential``), bound to a holder key, with an entry in the registry's own status list. The
status list token is made in-process with ``status_list.sign_token`` (as the credentials domain serves
it), so a test changes a credential's status by changing the list.
"""

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
from cryptography.hazmat.primitives.asymmetric import ec
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service import auth, jws
from service.keys import KeyRing
from service.passport import policy as policies
from service.passport import sdjwt, status_list
from service.passport import service as passport
from service.passport.claims import ClaimSet, holder_id
from service.passport.encryption import DataKeyRing
from service.passport.schemas import PolicyCreate, PolicyRead, RecordKind
from service.verification.service import Runtime
from service.wallet.present import leaves
from service.workforce.models import Person
from tests.conftest import BASE_URL
from tests.credentials import factories as cf
from tests.factories import bearer, client_headers, create_client
from tests.passport.factories import TODAY, core_skill, health, identity, placement
from tests.workforce.factories import Tree, create_person, create_tree

API = "/api/v1"
KINDS: tuple[RecordKind, ...] = ("core_skills", "occupational_health", "training_placement", "identity_link")
LIST_ID = "1"
LIST_URI = f"{BASE_URL}/status-lists/{LIST_ID}"
Headers = dict[str, str]

THEATRE_POLICY: dict[str, Any] = {
    "organisation_code": "NT301",
    "name": "theatre-surgical-trainee",
    "title": "Independent sector theatre list, surgical trainee",
    "role": "surgical trainee on a theatre list",
    "rules": [
        {
            "type": "core_skills",
            "subjects": [{"subject": "fire_safety"}, {"subject": "resuscitation", "min_level": 2}],
        },
        {"type": "occupational_health", "item": "epp_clearance", "accepted": ["cleared"]},
        {"type": "occupational_health", "item": "hepatitis_b", "accepted": ["immune"]},
        {"type": "identity_link"},
        {"type": "training_placement"},
    ],
}


@dataclass
class Scene:
    app: Litestar
    keyring: KeyRing
    tree: Tree
    doctor: Person
    other: Person
    policy: PolicyRead
    verifier: Headers
    verifier_id: str
    other_verifier: Headers
    holder: Headers
    other_holder: Headers
    issuer: Headers
    holder_key: ec.EllipticCurvePrivateKey
    claim_sets: dict[str, ClaimSet]
    credentials: dict[str, sdjwt.HeldCredential]
    indexes: dict[str, int]
    statuses: status_list.StatusList = field(
        default_factory=lambda: status_list.StatusList(status_list.MIN_LIST_SIZE)
    )
    served: list[str] = field(default_factory=list)

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.verification
        return runtime

    @property
    def needs(self) -> list[policies.ClaimNeed]:
        return [
            n
            for r in policies.requirements(self.policy.rules, self.policy.organisation_code)
            for n in r.needs
        ]

    def paths(self, kind: str) -> list[tuple[str | int, ...]]:
        """What the policy needs from the ``kind`` credential, nothing more."""
        return leaves(policies.disclosures_for(self.claim_sets[kind], self.needs))

    def present(
        self,
        *,
        nonce: str,
        aud: str,
        kinds: Sequence[str] = KINDS,
        iat: int | None = None,
        key: ec.EllipticCurvePrivateKey | None = None,
    ) -> list[str]:
        now = int(time.time()) if iat is None else iat
        return [
            self.credentials[kind].present(
                self.paths(kind), holder_key=key or self.holder_key, aud=aud, nonce=nonce, iat=now
            )
            for kind in kinds
        ]

    def set_status(self, kind: str, value: status_list.Status) -> None:
        self.statuses[self.indexes[kind]] = value
        self.runtime.resolver.forget()

    async def token(self, _session: AsyncSession, list_id: str) -> str | None:
        if list_id != LIST_ID:
            return None
        key = self.keyring.signer("credential")
        self.served.append(list_id)
        return status_list.sign_token(
            self.statuses,
            key=key.private_key,
            kid=key.kid,
            uri=LIST_URI,
            iat=int(time.time()),
            ttl=300,
            iss=BASE_URL,
        )


def issue(
    keyring: KeyRing,
    claim_set: ClaimSet,
    holder: ec.EllipticCurvePrivateKey,
    index: int,
    *,
    iat: int | None = None,
    exp: int | None = None,
    **extra: Any,
) -> str:
    """The credential of ``claim_set`` as the registry issues it (ES256, holder-bound, status entry)."""
    key = keyring.signer("credential")
    now = int(time.time()) if iat is None else iat
    claims = {
        "iss": BASE_URL,
        "iat": now,
        "exp": now + 365 * 86400 if exp is None else exp,
        "vct": claim_set.vct,
        "status": status_list.status_claim(LIST_URI, index),
        **claim_set.claims,
        **extra,
    }
    issued = sdjwt.issue(
        claims,
        claim_set.disclosable,
        key=key.private_key,
        kid=key.kid,
        holder_jwk=jws.public_jwk(holder.public_key()),
    )
    return issued.combined()


async def submit_records(client: httpx.AsyncClient, issuer: Headers, person: Person, tree: Tree) -> None:
    bodies = [
        core_skill(person),
        core_skill(person, subject="resuscitation", level=2),
        health(
            person,
            item="epp_clearance",
            outcome="cleared",
            review_date=(TODAY + dt.timedelta(days=365)).isoformat(),
        ),
        health(person),
        placement(person, tree),
        identity(person),
    ]
    response = await client.post(f"{API}/records", json=bodies, headers=issuer)
    assert response.status_code == 201, response.text


async def create_scene(
    session: AsyncSession, app: Litestar, keyring: KeyRing, data_keys: DataKeyRing
) -> Scene:
    tree = await create_tree(session)
    doctor = await create_person(session, grade="CT2", specialty="general surgery", family_name="Okafor")
    other = await create_person(session, grade="CT1", specialty="anaesthetics", family_name="Bell")
    issuer = await client_headers(session, app, auth.Role.ISSUER, tree.trust)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        await submit_records(client, issuer, doctor, tree)
    admin = auth.Principal(subject="admin-test", kind="client", role=auth.Role.ADMIN, organisation=None)
    policy = await passport.create_policy(
        session,
        admin,
        msgspec.convert(THEATRE_POLICY, PolicyCreate),
        dt.datetime.now(dt.UTC),
    )
    await session.commit()
    found = await passport.credentials_claims(
        session, [doctor.id], KINDS, on=TODAY, base_url=BASE_URL, keys=data_keys
    )
    claim_sets: dict[str, ClaimSet] = {kind: cs for kind, cs in found[doctor.id].items() if cs is not None}
    assert set(claim_sets) == set(KINDS)
    holder_key = ec.generate_private_key(ec.SECP256R1())
    indexes: dict[str, int] = dict(
        zip(KINDS, status_list.IndexAllocator(status_list.MIN_LIST_SIZE).allocate_many(4), strict=True)
    )
    credentials: dict[str, sdjwt.HeldCredential] = {
        kind: sdjwt.HeldCredential.parse(issue(keyring, claim_sets[kind], holder_key, indexes[kind]))
        for kind in KINDS
    }
    now = dt.datetime.now(dt.UTC)
    holder_user = await cf.holder_user(session, doctor, now)
    other_user = await cf.holder_user(session, other, now)
    await session.commit()
    verifier = await create_client(session, auth.Role.VERIFIER, tree.site)
    scene = Scene(
        app=app,
        keyring=keyring,
        tree=tree,
        doctor=doctor,
        other=other,
        policy=policy,
        verifier=bearer(app, auth.Role.VERIFIER, tree.site, verifier.client_id),
        verifier_id=verifier.client_id,
        other_verifier=await client_headers(session, app, auth.Role.VERIFIER, tree.site),
        holder=cf.holder_headers(app, holder_user),
        other_holder=cf.holder_headers(app, other_user),
        issuer=issuer,
        holder_key=holder_key,
        claim_sets=claim_sets,
        credentials=credentials,
        indexes=indexes,
    )
    scene.runtime.resolver.source.in_process = scene.token  # type: ignore[attr-defined]
    return scene


def holder_id_of(person: Person) -> str:
    return holder_id(person.id)
