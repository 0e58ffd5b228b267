"""Domain verbs of the credentials: issue, publish status lists, revoke, suspend, reinstate, list, the
holder's keys and credentials, and one step of the lifecycle.

For the verification engineer: :func:`status_list_token` gives the current signed token of a list, the
one ``GET /status-lists/{id}`` serves; status URIs are :func:`status_uri`.

Services never commit: the request or the command owns the transaction. Every status change and every
allocation re-signs the affected lists in the same transaction, so a committed change is published at
once (verifiers see it when their copy's ``ttl`` runs out).
"""

import datetime as dt
import hashlib
import logging
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from service import jws
from service.auth import Principal, Role
from service.credentials import issuance, repository
from service.credentials.models import (
    Credential,
    CredentialDocument,
    CredentialHold,
    HolderKey,
    HolderNonce,
    LifecycleCursor,
    StatusListRow,
)
from service.credentials.schemas import (
    KINDS,
    CredentialRead,
    HolderCredential,
    HolderCredentialSummary,
    HolderKeyRead,
    IssueResult,
    LifecycleResult,
    NonceRead,
)
from service.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from service.keys import Algorithm, KeyRing, SigningKey
from service.passport import sdjwt
from service.passport import service as passport
from service.passport.claims import SPECS, ClaimSet
from service.passport.encryption import DataKeyRing
from service.passport.status_list import (
    DEFAULT_BITS,
    MIN_LIST_SIZE,
    IndexAllocator,
    Status,
    StatusList,
    StatusReference,
    sign_token,
)

log = logging.getLogger("service.credentials")

LIST_SIZE: Final = MIN_LIST_SIZE
"""Entries per status list (131,072, 2 bits each: 32 KiB before compression)."""
FILL_LIMIT: Final = LIST_SIZE - LIST_SIZE // 16
"""A list takes new credentials until 15/16 of it is allocated (random draws stay cheap); then a new one."""
STATUS_TTL: Final = 300
"""Seconds a verifier may keep a status list token (its ``ttl`` and ``Cache-Control: max-age``)."""
TOKEN_LIFETIME: Final = dt.timedelta(days=7)
"""``exp`` of a status list token; the lifecycle re-signs each list at least daily (:data:`REFRESH_AFTER`)."""
REFRESH_AFTER: Final = dt.timedelta(days=1)
NONCE_LIFETIME: Final = dt.timedelta(minutes=5)
PROOF_TYP: Final = "holder-key-proof+jwt"
PROOF_MAX_AGE: Final = 300
"""Seconds: a proof of possession's ``iat`` may be this old (and this far ahead, as clock skew: 60)."""
RENEW_BEFORE: Final = dt.timedelta(days=7)
"""A current credential that expires within this time is re-issued by the lifecycle."""
LIFECYCLE: Final = "main"
BATCH: Final = 1000


def status_uri(base_url: str, list_id: str) -> str:
    """The URI of a status list: ``{PASSPORT_PUBLIC_BASE_URL}/status-lists/{id}``."""
    return f"{base_url.rstrip('/')}/status-lists/{list_id}"


@dataclass
class Issuer:
    """What issuing needs: keys, data keys, the public base URL, the algorithm, the longest lifetime."""

    keyring: KeyRing
    data_keys: DataKeyRing
    base_url: str
    alg: Algorithm = "ES256"
    lifetime_days: int = 365
    signer: issuance.Signer | None = None
    """A signer with worker processes (the changeover); None: sign in this process."""
    names: dict[str, str] = field(default_factory=dict)
    """Organisation names, cached across batches."""

    @property
    def base(self) -> str:
        return self.base_url.rstrip("/")

    def key(self) -> SigningKey:
        return self.keyring.signer("credential", self.alg)

    def signer_now(self) -> issuance.Signer:
        key = self.key()
        if self.signer is not None and self.signer.kid == key.kid:
            return self.signer
        return issuance.Signer(key.private_key, key.kid)


def issuer_from_state(state: Any) -> Issuer:
    """The :class:`Issuer` of a running app (``app.state``)."""
    settings = state.settings
    return Issuer(
        keyring=state.keyring,
        data_keys=state.data_keys,
        base_url=settings.public_base_url,
        alg=settings.credential_alg,
        lifetime_days=settings.credential_lifetime_days,
    )


# ---------------------------------------------------------------- status lists


def _indexes(bitmap: bytes) -> list[int]:
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
    found: list[int] = np.flatnonzero(bits).tolist()
    return found


class _Lists:
    """The status lists one transaction touches: allocations, status changes, then one publish each."""

    def __init__(self, session: AsyncSession, issuer: Issuer, now: dt.datetime) -> None:
        self.session = session
        self.issuer = issuer
        self.now = now
        self.rows: dict[str, StatusListRow] = {}
        self.statuses: dict[str, StatusList] = {}
        self.bitmaps: dict[str, bytearray] = {}
        self.changed: set[str] = set()

    async def load(self, ids: Iterable[str]) -> None:
        missing = [i for i in set(ids) if i not in self.rows]
        for row in await repository.lists(self.session, missing, lock=True):
            self.rows[row.id] = row
            self.statuses[row.id] = StatusList(row.size, row.bits, row.statuses)

    def _new_row(self) -> StatusListRow:
        row = StatusListRow(
            id=secrets.token_hex(8),
            bits=DEFAULT_BITS,
            size=LIST_SIZE,
            statuses=bytes(LIST_SIZE * DEFAULT_BITS // 8),
            allocated=bytes(LIST_SIZE // 8),
            allocated_count=0,
            token="",
            etag="",
            published_at=self.now,
            created_at=self.now,
        )
        self.session.add(row)
        self.rows[row.id] = row
        self.statuses[row.id] = StatusList(row.size, row.bits, row.statuses)
        return row

    async def allocate(self, count: int) -> list[tuple[str, int]]:
        """``count`` fresh (list id, index) pairs at random positions of open lists."""
        found: list[tuple[str, int]] = []
        while len(found) < count:
            row = await repository.open_list(self.session, FILL_LIMIT)
            if row is None or (row.id in self.bitmaps and row.allocated_count >= FILL_LIMIT):
                row = self._new_row()
                await self.session.flush()
            else:
                self.rows.setdefault(row.id, row)
                self.statuses.setdefault(row.id, StatusList(row.size, row.bits, row.statuses))
            bitmap = self.bitmaps.setdefault(row.id, bytearray(row.allocated))
            allocator = IndexAllocator(row.size, _indexes(bytes(bitmap)))
            take = min(count - len(found), FILL_LIMIT - row.allocated_count)
            for index in allocator.allocate_many(take):
                bitmap[index >> 3] |= 1 << (index & 7)
                found.append((row.id, index))
            row.allocated = bytes(bitmap)
            row.allocated_count += take
            self.changed.add(row.id)
            await self.session.flush()
        return found

    async def set_status(self, entries: Iterable[tuple[str, int]], status: Status) -> None:
        entries = list(entries)
        await self.load(list_id for list_id, _ in entries)
        for list_id, index in entries:
            self.statuses[list_id][index] = status
            self.changed.add(list_id)

    async def publish(self) -> int:
        """Write back and re-sign every list changed in this transaction."""
        for list_id in sorted(self.changed):
            row = self.rows[list_id]
            row.statuses = self.statuses[list_id].to_bytes()
            sign_list(row, self.statuses[list_id], self.issuer, self.now)
        count = len(self.changed)
        self.changed.clear()
        await self.session.flush()
        return count


def sign_list(row: StatusListRow, statuses: StatusList, issuer: Issuer, now: dt.datetime) -> None:
    key = issuer.key()
    iat = int(now.timestamp())
    row.token = sign_token(
        statuses,
        key=key.private_key,
        kid=key.kid,
        uri=status_uri(issuer.base_url, row.id),
        iat=iat,
        exp=iat + int(TOKEN_LIFETIME.total_seconds()),
        ttl=STATUS_TTL,
        iss=issuer.base,
    )
    row.etag = hashlib.sha256(row.token.encode("ascii")).hexdigest()[:32]
    row.published_at = now


TransactionLists = _Lists
"""The status lists a transaction changes (for :mod:`service.credentials.bulk`)."""


async def status_list_token(session: AsyncSession, list_id: str) -> str | None:
    """The current signed ``statuslist+jwt`` of the list ``list_id``, or None for an unknown list.

    The token is re-signed in the transaction of every change to the list, and at least daily by the
    lifecycle, so what this returns is what ``GET /status-lists/{id}`` serves.
    """
    found = await repository.list_token(session, list_id)
    return None if found is None or not found.token else str(found.token)


async def published_list(session: AsyncSession, list_id: str) -> tuple[str, str] | None:
    """(token, etag) of a published list, for the HTTP route (None: no such list; an id with a NUL
    character, which PostgreSQL cannot compare, is none)."""
    if "\x00" in list_id:
        return None
    found = await repository.list_token(session, list_id)
    return None if found is None or not found.token else (str(found.token), str(found.etag))


async def refresh_lists(session: AsyncSession, issuer: Issuer, now: dt.datetime) -> int:
    """Re-sign lists last signed more than a day ago, so their tokens never reach ``exp``."""
    count = 0
    for row in await repository.stale_lists(session, now - REFRESH_AFTER):
        sign_list(row, StatusList(row.size, row.bits, row.statuses), issuer, now)
        count += 1
    await session.flush()
    return count


# ---------------------------------------------------------------- issuance


def origins(claims: dict[str, Any]) -> list[str]:
    found: set[str] = set()
    for value in claims.values():
        for record in value if isinstance(value, list) else [value]:
            if isinstance(record, dict) and isinstance(record.get("assurance"), dict):
                found.add(str(record["assurance"].get("origin")))
    return sorted(found)


def _seal_context(credential_id: uuid.UUID, person_id: uuid.UUID) -> bytes:
    return f"credential {credential_id} {person_id}".encode("ascii")


def stored(
    text: str, kind: str, credential_id: uuid.UUID, person_id: uuid.UUID, keys: DataKeyRing
) -> dict[str, Any]:
    if kind != "occupational_health":
        return {"sd_jwt": text, "sealed": None, "sealed_key_id": None}
    sealed = keys.seal(text.encode("ascii"), _seal_context(credential_id, person_id))
    return {"sd_jwt": None, "sealed": sealed.blob, "sealed_key_id": sealed.kid}


def credential_row(
    credential_id: uuid.UUID,
    person_id: uuid.UUID,
    kind: str,
    claim_set: ClaimSet,
    *,
    alg: str,
    kid: str,
    holder_key_id: uuid.UUID,
    digest: str,
    issued_at: dt.datetime,
    expires_at: dt.datetime,
    status: tuple[str, int] | None = None,
) -> dict[str, Any]:
    """The columns of a new, valid credential (``repository.insert_credentials``) bound to the holder key
    ``holder_key_id``: ``digest`` is ``issuance.claims_digest`` of its claims under that key, ``status`` its
    (list id, index) once drawn. Its document (:func:`stored`) is added once it is signed."""
    list_id, index = status if status is not None else (None, None)
    return {
        "id": credential_id,
        "person_id": person_id,
        "kind": kind,
        "vct": claim_set.vct,
        "alg": alg,
        "kid": kid,
        "holder_key_id": holder_key_id,
        "status_list_id": list_id,
        "status_idx": index,
        "issued_at": issued_at,
        "expires_at": expires_at,
        "refresh_on": claim_set.refresh_on,
        "state": "valid",
        "state_reason": None,
        "state_changed_at": None,
        "superseded_by_id": None,
        "origins": origins(claim_set.claims),
        "claims_digest": digest,
    }


@dataclass
class _Plan:
    jobs: list[issuance.SignJob] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    replaced: list[Any] = field(default_factory=list)
    """The old credential each new one replaces (or None), in job order."""
    dropped: list[Any] = field(default_factory=list)
    """Current credentials with nothing left to state: revoked without a successor."""
    copies: list[tuple[Any, uuid.UUID | None]] = field(default_factory=list)
    """Other live credentials of a kind (OpenID4VCI batch copies, any bound to a key since replaced) that
    no longer state the records, each with the new registered-key credential of its kind (or None)."""
    changed_people: dict[uuid.UUID, set[str]] = field(default_factory=dict)
    copy_people: dict[uuid.UUID, set[str]] = field(default_factory=dict)
    """The kinds whose wallet copies each person lost (the notification tells them to add them again)."""
    unchanged: int = 0
    without_key: int = 0
    held: int = 0
    """Pairs not issued: their issuer revoked the type and no new record has been stated since."""
    lifted: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    """Revoked types issued again because a new record is stated: their holds are lifted."""


def hold_stands(hold: Any, claim_set: ClaimSet | None) -> bool:
    """Whether an issuer's hold keeps a type from being issued valid (decision 0046). A suspension
    always stands (only the issuer's reinstatement lifts it: what is issued meanwhile is suspended). A
    revocation stands until the claims state a record that was not current when it was revoked: a new
    fact (a record added, renewed or corrected since; a withdrawal or a lapse is not one)."""
    if hold.state == "suspended" or claim_set is None:
        return True
    held = set(hold.record_ids)
    return all(str(record) in held for record in claim_set.record_ids)


def held_row(row: dict[str, Any], hold: Any, now: dt.datetime) -> dict[str, Any]:
    """A new credential's columns under a suspension: issued suspended, with the issuer's reason."""
    row.update(state="suspended", state_reason=hold.reason, state_changed_at=now)
    return row


def _sign_job(
    issuer: Issuer, claim_set: ClaimSet, iat: int, expires: dt.datetime, jwk: dict[str, Any]
) -> issuance.SignJob:
    """What to sign for one credential: the registry's plain claims (``status`` set once an entry is
    drawn), the holder's claims and disclosable paths, the holder's key."""
    payload = {
        "iss": issuer.base,
        "iat": iat,
        "exp": int(expires.timestamp()),
        "vct": claim_set.vct,
        "status": None,
        **claim_set.claims,
    }
    return issuance.SignJob(payload, tuple(claim_set.disclosable), jwk)


def _copies_gone(
    plan: _Plan,
    others: Sequence[Any],
    claim_set: ClaimSet | None,
    successor: uuid.UUID | None,
    thumbprints: dict[uuid.UUID, str],
    retired: AbstractSet[uuid.UUID],
) -> None:
    """Revoke the live credentials of a kind other than the registered key's (decision 0040) that no
    longer state the records: nothing left to state, other claims (their digest over the current claims
    and their own key differs), or bound to a key the holder has just replaced."""
    for other in others:
        if claim_set is not None and other.holder_key_id not in retired:
            digest = issuance.claims_digest(claim_set.claims, claim_set.vct, thumbprints[other.holder_key_id])
            if other.claims_digest == digest:
                continue
        plan.copies.append((other, successor if claim_set is not None else None))
        plan.copy_people.setdefault(other.person_id, set()).add(other.kind)


async def _plan(
    session: AsyncSession,
    issuer: Issuer,
    pairs: Sequence[tuple[uuid.UUID, str]],
    now: dt.datetime,
    force: bool,
    retired: AbstractSet[uuid.UUID] = frozenset(),
) -> _Plan:
    plan = _Plan()
    people = list(dict.fromkeys(person for person, _ in pairs))
    kinds: list[Any] = sorted({kind for _, kind in pairs})
    keys = await repository.current_keys(session, people)
    holds = await repository.holds(session, people)
    plan.without_key = sum(1 for person, _ in pairs if person not in keys)
    live: dict[tuple[uuid.UUID, str], list[Any]] = {}
    for found in await repository.current_credentials(session, people, kinds):
        live.setdefault((found.person_id, found.kind), []).append(found)
    # a person without a registered key may still hold OpenID4VCI wallet copies to check
    bound = [p for p in people if p in keys or any((p, k) in live for k in kinds)]
    if not bound:
        return plan
    claims = await passport.credentials_claims(
        session,
        bound,
        kinds,
        on=now.date(),
        base_url=issuer.base_url,
        keys=issuer.data_keys,
        names=issuer.names,
    )
    registered_key = {p: keys[p].id for p in keys}
    others_of = {
        pair: [r for r in rows if r.holder_key_id != registered_key.get(pair[0])]
        for pair, rows in live.items()
    }
    thumbprints = await repository.key_thumbprints(
        session, {r.holder_key_id for rows in others_of.values() for r in rows}
    )
    signing = issuer.key()
    iat = int(now.timestamp())
    for person, kind in dict.fromkeys(pairs):
        if person not in bound:
            continue
        claim_set = claims[person][kind]  # type: ignore[index]
        hold = holds.get((person, kind))
        if hold is not None and hold.state == "revoked":
            if hold_stands(hold, claim_set):
                plan.held += 1  # revoked by its issuer: nothing comes back until a new record
                continue
            plan.lifted.append((person, kind))
            hold = None
        others = others_of.get((person, kind), [])
        mine = sorted(
            (r for r in live.get((person, kind), []) if r.holder_key_id == registered_key.get(person)),
            key=lambda r: r.issued_at,
        )
        # the newest credential of the registered key is the one the lifecycle keeps current; any older
        # one still live goes with it when it is replaced
        old, older = (mine[-1], mine[:-1]) if mine else (None, [])
        if claim_set is None:
            if old is not None:
                plan.dropped += [*older, old]
                plan.changed_people.setdefault(person, set()).add(kind)
            _copies_gone(plan, others, None, None, thumbprints, retired)
            continue
        successor = None
        if person in keys:
            successor = _plan_one(
                plan, issuer, claim_set, keys[person], old, now, iat, force, signing, kind, hold
            )
            if successor is not None:
                plan.copies.extend((o, successor) for o in older)
        _copies_gone(plan, others, claim_set, successor, thumbprints, retired)
    return plan


def _plan_one(
    plan: _Plan,
    issuer: Issuer,
    claim_set: ClaimSet,
    holder: Any,
    old: Any,
    now: dt.datetime,
    iat: int,
    force: bool,
    signing: SigningKey,
    kind: str,
    hold: Any = None,
) -> uuid.UUID | None:
    """The new credential of the registered key for one (person, kind), or None when the current one is
    kept (same claims, type and key, and not about to expire). Under a suspension (``hold``) the new one
    is issued suspended."""
    digest = issuance.claims_digest(claim_set.claims, claim_set.vct, holder.thumbprint)
    expires = issuance.expiry(kind, now, claim_set.refresh_on, issuer.lifetime_days)
    # Unchanged claims, type and key: keep it, unless it expires within a week and a new one would
    # live longer (a credential capped by a record's lapse is not re-issued again and again).
    renewal = old is not None and old.expires_at <= now + RENEW_BEFORE and expires > old.expires_at
    if old is not None and not force and old.claims_digest == digest and not renewal:
        plan.unchanged += 1
        return None
    credential_id = uuid.uuid4()
    plan.jobs.append(_sign_job(issuer, claim_set, iat, expires, holder.jwk))
    row = credential_row(
        credential_id,
        holder.person_id,
        kind,
        claim_set,
        alg=signing.alg,
        kid=signing.kid,
        holder_key_id=holder.id,
        digest=digest,
        issued_at=now,
        expires_at=expires,
    )
    plan.rows.append(row if hold is None else held_row(row, hold, now))
    plan.replaced.append(old)
    plan.changed_people.setdefault(holder.person_id, set()).add(kind)
    return credential_id


async def issue(
    session: AsyncSession,
    issuer: Issuer,
    pairs: Sequence[tuple[uuid.UUID, str]],
    *,
    now: dt.datetime,
    reason: str = "re-issued",
    force: bool = False,
    tell: bool = True,
    retired: AbstractSet[uuid.UUID] = frozenset(),
) -> IssueResult:
    """Issue the credentials of these (person, credential type) pairs from their current records.

    For each pair: with a registered holder key and something to state, a new credential bound to that
    key replaces the current one (revoked, ``superseded_by`` the new one) unless the claims, type and key
    are unchanged and it is not about to expire (``force`` re-issues anyway: the August changeover);
    with nothing left to state the current one is revoked. Every other live credential of the pair (the
    copies of OpenID4VCI batches, each bound to a wallet key, with or without a registered key; any bound
    to a key in ``retired``, the keys just replaced) is revoked in the same transaction when it no longer
    states the records (decision 0040), ``superseded_by`` the new registered-key credential if there is
    one. Each person whose credentials changed gets one notification, which says when wallet copies went.
    """
    plan = await _plan(session, issuer, pairs, now, force, retired)
    lists = _Lists(session, issuer, now)
    entries = await lists.allocate(len(plan.jobs))
    for job, row, (list_id, index) in zip(plan.jobs, plan.rows, entries, strict=True):
        job.payload["status"] = StatusReference(status_uri(issuer.base_url, list_id), index).claim()
        row["status_list_id"], row["status_idx"] = list_id, index
    texts = await issuer.signer_now().sign_async(plan.jobs)
    for row, text in zip(plan.rows, texts, strict=True):
        row.update(stored(text, row["kind"], row["id"], row["person_id"], issuer.data_keys))
    await repository.insert_credentials(session, plan.rows)
    revoked = [
        {"b_id": old.id, "b_by": row["id"], "b_reason": f"superseded: {reason}", "b_at": now}
        for row, old in zip(plan.rows, plan.replaced, strict=True)
        if old is not None
    ]
    revoked += [
        {"b_id": old.id, "b_by": None, "b_reason": "nothing to state", "b_at": now} for old in plan.dropped
    ]
    revoked += [
        {"b_id": old.id, "b_by": by, "b_reason": gone_reason(reason, by), "b_at": now}
        for old, by in plan.copies
    ]
    await repository.supersede(session, revoked)
    gone = [old for old in plan.replaced if old is not None] + plan.dropped + [old for old, _ in plan.copies]
    await lists.set_status(((old.status_list_id, old.status_idx) for old in gone), Status.INVALID)
    suspended = [(r["status_list_id"], r["status_idx"]) for r in plan.rows if r["state"] == "suspended"]
    await lists.set_status(suspended, Status.SUSPENDED)
    await lists.publish()
    await repository.lift_holds(session, plan.lifted)
    notified = (
        await notify(session, plan.changed_people, reason, now, copies=plan.copy_people, base_url=issuer.base)
        if tell
        else 0
    )
    return IssueResult(
        issued=len(plan.rows),
        revoked=len(revoked),
        unchanged=plan.unchanged,
        without_key=plan.without_key,
        notified=notified,
        copies_revoked=len(plan.copies),
        held=plan.held,
    )


def gone_reason(reason: str, successor: uuid.UUID | None) -> str:
    """The ``state_reason`` of a credential the lifecycle revokes, with or without a successor."""
    return f"superseded: {reason}" if successor is not None else f"no longer states the records: {reason}"


def _names(kinds: AbstractSet[str]) -> str:
    return ", ".join(SPECS[kind].name.lower() for kind in KINDS if kind in kinds)


def notification_body(reason: str, changed: AbstractSet[str], copies: AbstractSet[str], base_url: str) -> str:
    """What a holder is told: which credentials changed and why, and, when the copies a wallet app
    collected (OpenID4VCI) were revoked, that they no longer verify and where to add them again."""
    lines = []
    if changed:
        lines.append(
            f"Your {_names(changed)} credential(s) changed ({reason}). Open your wallet and fetch your "
            "credentials again (passport wallet fetch) before you next share them."
        )
    if copies:
        lines.append(
            f"The copies of your {_names(copies)} credential(s) in your wallet app were replaced "
            f"({reason}): they no longer verify. Add your credentials to your wallet again at "
            f"{base_url}/passport/add."
        )
    return " ".join(lines)


def _notification_row(person: uuid.UUID, body: str, now: dt.datetime) -> dict[str, Any]:
    """A waiting notification for ``person``: the outbox's columns (docs/credentials.md)."""
    return {
        "id": uuid.uuid4(),
        "person_id": person,
        "subject": "Your staff passport credentials have changed",
        "body": body,
        "created_at": now,
        "sent_at": None,
        "attempts": 0,
        "last_error": None,
        "claimed_at": None,
    }


async def notify(
    session: AsyncSession,
    people: dict[uuid.UUID, set[str]],
    reason: str,
    now: dt.datetime,
    *,
    copies: dict[uuid.UUID, set[str]] | None = None,
    base_url: str = "",
) -> int:
    """One notification per person in ``people`` (kinds re-issued or revoked) or ``copies`` (kinds whose
    wallet copies were revoked)."""
    rows = []
    copies = copies or {}
    for person in dict.fromkeys([*people, *copies]):
        body = notification_body(reason, people.get(person, set()), copies.get(person, set()), base_url)
        rows.append(_notification_row(person, body, now))
    await repository.add_notifications(session, rows)
    return len(rows)


# ---------------------------------------------------------------- issuer actions

TRANSITIONS: Final[dict[str, tuple[dict[str, str], Status]]] = {
    "revoke": ({"valid": "revoked", "suspended": "revoked"}, Status.INVALID),
    "suspend": ({"valid": "suspended"}, Status.SUSPENDED),
    "reinstate": ({"suspended": "valid"}, Status.VALID),
}
_REFUSALS: Final = {
    ("revoke", "revoked"): ("already_revoked", "The credential is already revoked."),
    ("suspend", "suspended"): ("already_suspended", "The credential is already suspended."),
    ("suspend", "revoked"): ("credential_revoked", "A revoked credential cannot be suspended."),
    ("reinstate", "valid"): ("not_suspended", "The credential is not suspended."),
    ("reinstate", "revoked"): ("credential_revoked", "A revoked credential cannot be reinstated."),
}


def to_read(row: Any, base_url: str) -> CredentialRead:
    return CredentialRead(
        id=row.id,
        person_id=row.person_id,
        kind=row.kind,
        vct=row.vct,
        alg=row.alg,
        kid=row.kid,
        status_list_uri=status_uri(base_url, row.status_list_id),
        status_idx=row.status_idx,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        state=row.state,
        state_reason=row.state_reason,
        state_changed_at=row.state_changed_at,
        superseded_by=row.superseded_by_id,
        origins=list(row.origins),
    )


def _may_act(principal: Principal, origins: Sequence[str]) -> bool:
    return principal.role is Role.ADMIN or (
        principal.role is Role.ISSUER
        and principal.organisation is not None
        and principal.organisation in origins
    )


def _may_lift(principal: Principal, hold: CredentialHold) -> bool:
    """Only the organisation that placed a hold, or an admin, lifts it (a hold placed by an admin, or
    carried over from before holds existed, by any issuer of the credential's records)."""
    return (
        principal.role is Role.ADMIN
        or hold.organisation_code is None
        or hold.organisation_code == principal.organisation
    )


def hold_notice(action: str, kind: str, by: str | None) -> str:
    """What the holder is told of an issuer's action on one of their credential types: which type, who,
    what it means for re-issues. Never the reason (it may say something of their health)."""
    name = SPECS[kind].name.lower()
    who = f"its issuer ({by})" if by else "the registry's operator"
    if action == "suspend":
        return (
            f"Your {name} credential was suspended by {who}: it does not verify until they reinstate it. "
            "A credential of this type issued meanwhile (a record changed, a renewal, a wallet app) is "
            "suspended too. The reason is on your registry page of credentials."
        )
    if action == "revoke":
        return (
            f"Your {name} credential was revoked by {who}: it no longer verifies, and it is not issued "
            f"again until a new {name} record is submitted for you. The reason is on your registry page "
            "of credentials."
        )
    return f"Your {name} credential was reinstated by {who}: it verifies again."


async def change_state(
    session: AsyncSession,
    issuer: Issuer,
    principal: Principal,
    credential_id: uuid.UUID,
    action: str,
    reason: str,
    *,
    now: dt.datetime,
) -> CredentialRead:
    """Revoke, suspend or reinstate one credential, and with it the holder's credential type (decision
    0046), republishing the lists in this transaction.

    The action applies to every live credential of the holder's type (the registered key's and every
    wallet copy) and is kept as a hold on (holder, type): while a suspension stands every credential
    issued of the type is issued suspended; reinstating the suspended credential (or the one the issuer
    suspended, since superseded) reinstates the current ones and lifts it, and only the organisation that
    suspended (or an admin) may. A revoked type is not issued again until a new record of it is stated.
    The holder is told (never the reason). An issuer may act only on credentials stating records of its
    organisation (others are not found); an admin on any. A transition the state does not allow is a 409.
    """
    allowed, status = TRANSITIONS[action]
    credential = await repository.get_credential(session, credential_id, lock=True)
    if credential is None or not _may_act(principal, credential.origins):
        raise NotFound("No such credential among those you may act on.", code="credential_not_found")
    person, kind = credential.person_id, credential.kind
    hold = await repository.hold_of(session, person, kind, lock=True)
    superseded_held = (
        action == "reinstate"
        and hold is not None
        and hold.state == "suspended"
        and hold.credential_id == credential.id
        and credential.state == "revoked"
    )
    if allowed.get(credential.state) is None and not superseded_held:
        code, detail = _REFUSALS[(action, credential.state)]
        if credential.superseded_by_id is not None:
            detail += " It was superseded by a newer credential."
        raise Conflict(detail, code=code)
    if action == "reinstate" and hold is not None and not _may_lift(principal, hold):
        raise Conflict(
            f"The credential was suspended by another organisation ({hold.organisation_code}): only it, "
            "or an admin, may reinstate it.",
            code="suspended_by_another_organisation",
        )
    live = [c for c in await repository.live_of(session, person, kind) if c.state in allowed]
    for found in live:
        found.state = allowed[found.state]
        found.state_reason = reason
        found.state_changed_at = now
    lists = _Lists(session, issuer, now)
    await lists.set_status([(c.status_list_id, c.status_idx) for c in live], status)
    await lists.publish()
    await _place_hold(session, issuer, principal, credential, hold, action, reason, now)
    body = hold_notice(action, kind, principal.organisation if principal.role is Role.ISSUER else None)
    await repository.add_notifications(session, [_notification_row(person, body, now)])
    shown = credential if credential in live or not live else live[-1]
    return to_read(shown, issuer.base_url)


async def _place_hold(
    session: AsyncSession,
    issuer: Issuer,
    principal: Principal,
    credential: Credential,
    hold: CredentialHold | None,
    action: str,
    reason: str,
    now: dt.datetime,
) -> None:
    """Keep the action as the hold on (holder, type): placed or replaced by a suspension or revocation,
    lifted by a reinstatement. A revocation notes the type's current records (a record not among them
    lifts it)."""
    if action == "reinstate":
        if hold is not None:
            await session.delete(hold)
        return
    record_ids: list[str] = []
    if action == "revoke":
        current = await passport.holder_records(
            session,
            [credential.person_id],
            [credential.kind],  # type: ignore[list-item]
            issuer.data_keys,
        )
        record_ids = sorted(str(r.id) for r in current.get(credential.person_id, []))
    if hold is None:
        hold = CredentialHold(person_id=credential.person_id, kind=credential.kind)
        session.add(hold)
    hold.state = "suspended" if action == "suspend" else "revoked"
    hold.reason = reason
    hold.credential_id = credential.id
    hold.organisation_code = principal.organisation if principal.role is Role.ISSUER else None
    hold.record_ids = record_ids
    hold.since = now
    await session.flush()


async def revoke_many(
    session: AsyncSession, issuer: Issuer, ids: Sequence[uuid.UUID], reason: str, *, now: dt.datetime
) -> int:
    """Revoke many credentials at once (operator and bench path) and republish their lists.

    A registry action, not an issuer's: it places no hold (decision 0046), and the next issue of the type
    (a record change, a renewal, the changeover) issues it again if the records still state it. It is for
    chosen credentials, not for a holder's facts: a copy in a lost phone, a compromised holder key, a batch
    issued in error, the revocation bench. It has no HTTP route or CLI command and no issuer principal
    (no ``origins`` check, no audit event, no notification): an issuer who no longer vouches for a type
    uses ``change_state`` (``POST /api/v1/credentials/{id}/revoke``), which holds the type.
    """
    entries = await repository.set_states(session, ids, "revoked", reason, now)
    lists = _Lists(session, issuer, now)
    await lists.set_status(((e.status_list_id, e.status_idx) for e in entries), Status.INVALID)
    return await lists.publish()


async def list_credentials(
    session: AsyncSession, principal: Principal, person_id: uuid.UUID, base_url: str
) -> list[CredentialRead]:
    """A person's credentials, newest first: metadata only. An issuer sees those stating its records."""
    rows = await repository.credentials_of(session, person_id)
    return [to_read(r, base_url) for r in rows if _may_act(principal, r.origins)]


# ---------------------------------------------------------------- the holder


def holder_person(principal: Principal) -> uuid.UUID:
    """The person a holder principal is linked to; 403 when the caller is not a linked holder."""
    if principal.role is not Role.HOLDER or principal.person_id is None:
        raise Forbidden("Only a holder linked to a person has credentials.", code="not_a_linked_holder")
    try:
        return uuid.UUID(principal.person_id)
    except ValueError:
        raise Forbidden(
            "Only a holder linked to a person has credentials.", code="not_a_linked_holder"
        ) from None


async def new_nonce(
    session: AsyncSession, person_id: uuid.UUID, base_url: str, *, now: dt.datetime
) -> NonceRead:
    nonce = HolderNonce(
        nonce=secrets.token_urlsafe(24), person_id=person_id, created_at=now, expires_at=now + NONCE_LIFETIME
    )
    session.add(nonce)
    await session.flush()
    return NonceRead(
        nonce=nonce.nonce, expires_at=nonce.expires_at, proof_typ=PROOF_TYP, audience=base_url.rstrip("/")
    )


def _proof_refused(reason: str, code: str) -> InvalidInput:
    return InvalidInput(
        f"The proof of possession is refused: {reason}.", errors=[FieldError("body.proof", reason)], code=code
    )


def check_proof(proof: str, *, audience: str, now: dt.datetime) -> tuple[dict[str, Any], str]:
    """Check a proof of possession (pure): ``typ``, an allowed ``alg`` matching the header's ``jwk``, the
    signature by that key, ``aud`` and ``iat`` freshness. Returns (public JWK, nonce); the caller checks
    the nonce is this holder's and unused."""
    try:
        header = jws.unverified_header(proof)
    except jws.JWSError:
        raise _proof_refused("it is not a compact JWS", "proof_malformed") from None
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise _proof_refused("its header carries no 'jwk' (the key to register)", "proof_no_key")
    try:
        key = jws.key_from_jwk(jwk)
        claims = jws.verify(proof, key, typ=PROOF_TYP).claims()
    except jws.JWSError as exc:
        codes = {
            "wrong_typ": "proof_wrong_typ",
            "unsupported_alg": "proof_unsupported_alg",
            "bad_signature": "proof_bad_signature",
        }
        raise _proof_refused(str(exc), codes.get(exc.code, "proof_" + exc.code)) from None
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise _proof_refused("'iat' is missing", "proof_malformed")
    age = now.timestamp() - iat
    if age > PROOF_MAX_AGE or age < -60:
        raise _proof_refused("'iat' is not recent", "proof_stale")
    if claims.get("aud") != audience:
        raise _proof_refused("'aud' is not this registry", "proof_wrong_audience")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        raise _proof_refused("'nonce' is missing", "proof_malformed")
    return jws.public_jwk(key.public_key), nonce


async def _holder_key(
    session: AsyncSession,
    person_id: uuid.UUID,
    jwk: dict[str, Any],
    *,
    now: dt.datetime,
    replaced_at: dt.datetime | None = None,
) -> HolderKey:
    """The person's holder key of this public JWK, added (registered ``now``, ``replaced_at`` as given) if
    the registry does not hold it yet."""
    thumbprint = jws.jwk_thumbprint(jwk)
    key = await repository.key_of(session, person_id, thumbprint)
    if key is None:
        key = HolderKey(
            id=uuid.uuid4(),
            person_id=person_id,
            jwk=dict(jwk),
            thumbprint=thumbprint,
            alg=jws.key_from_jwk(jwk).alg,
            registered_at=now,
            replaced_at=replaced_at,
        )
        session.add(key)
    return key


async def register_key(
    session: AsyncSession, issuer: Issuer, person_id: uuid.UUID, proof: str, *, now: dt.datetime
) -> HolderKeyRead:
    """Register the key a proof of possession shows the holder holds, then issue their credentials
    bound to it (the credentials bound to an earlier key are superseded)."""
    jwk, nonce = check_proof(proof, audience=issuer.base, now=now)
    used = await repository.use_nonce(session, nonce, person_id, now)
    if used != "ok":
        reasons = {
            "unknown": "the nonce is unknown",
            "used": "the nonce was already used",
            "expired": "the nonce has expired",
        }
        raise _proof_refused(reasons[used], f"proof_nonce_{used}")
    key = await _holder_key(session, person_id, jwk, now=now)
    thumbprint = key.thumbprint
    key.replaced_at = None
    await session.flush()
    replaced = await repository.replace_keys(session, person_id, key.id, now)
    result = await issue(
        session,
        issuer,
        [(person_id, kind) for kind in KINDS],
        now=now,
        reason="holder key registered",
        tell=False,
        retired=set(replaced),
    )
    return HolderKeyRead(
        id=key.id,
        thumbprint=thumbprint,
        alg=key.alg,
        registered_at=key.registered_at,
        credentials_issued=result.issued,
    )


async def holder_credentials(
    session: AsyncSession, issuer: Issuer, person_id: uuid.UUID
) -> list[HolderCredential]:
    """The holder's current credentials (valid or suspended), each as issued, every disclosure in it."""
    found = []
    for row, document in await repository.holder_current(session, person_id):
        text = _document_text(issuer, row, document)
        found.append(
            HolderCredential(
                id=row.id,
                kind=row.kind,
                vct=row.vct,
                state=row.state,
                issued_at=row.issued_at,
                expires_at=row.expires_at,
                credential=text,
            )
        )
    return found


async def holder_key_thumbprints(session: AsyncSession, person_id: uuid.UUID) -> list[str]:
    """Thumbprints (RFC 7638) of every key the registry ever bound a credential of the holder to: the
    registered key, keys since replaced and the wallet keys of OpenID4VCI batches (decision 0040), so a
    verification made with ``holder_id`` withheld is linked to its holder. A key another person holds too
    is left out: no verification is ever linked to the wrong holder."""
    return await repository.bound_thumbprints(session, person_id)


def _document_text(issuer: Issuer, row: Credential, document: CredentialDocument) -> str:
    """A credential as issued: kept as text, or sealed (occupational health) and opened with the data keys."""
    if document.sd_jwt is not None:
        return document.sd_jwt
    sealed, kid = document.sealed or b"", document.sealed_key_id or ""  # both set: the table's check
    return issuer.data_keys.open(kid, sealed, _seal_context(row.id, row.person_id)).decode("ascii")


def _record_label(kind: str, record: Any) -> str:
    """A record of a credential's claims in words: its name, never an outcome or a date of birth."""
    if not isinstance(record, dict):
        return SPECS[kind].name
    if kind == "core_skills":
        name = record.get("subject_name") or record.get("subject") or "Core skill"
        return f"{name} (level {record['level']})" if record.get("level") else str(name)
    if kind == "occupational_health":
        return str(record.get("item_name") or record.get("item") or "Occupational health item")
    if kind == "training_placement":
        site = record.get("site_name") or record.get("site") or "Placement"
        start, end = record.get("start_date"), record.get("end_date")
        return f"{site}, {start} to {end}" if start and end else str(site)
    return "Identity link (legal name, date of birth, GMC number)"


def _stated_records(kind: str, text: str) -> list[str]:
    claims = sdjwt.HeldCredential.parse(text).claims
    found = claims.get(SPECS[kind].container)
    records = found if isinstance(found, list) else [found] if found is not None else []
    return [_record_label(kind, record) for record in records]


async def holder_withdrawn(session: AsyncSession, person_id: uuid.UUID) -> list[Any]:
    """The holder's credentials no longer valid (revoked, suspended) by holder key, latest change first, read
    without opening any credential: (thumbprint, state, state_changed_at, superseded_by_id) rows."""
    return await repository.holder_withdrawn(session, person_id)


async def holder_summaries(
    session: AsyncSession, issuer: Issuer, person_id: uuid.UUID
) -> list[HolderCredentialSummary]:
    """Every credential ever issued to the holder (all states), newest first: its metadata, the holder key
    it is bound to, and the records it states by name (read from the credential as issued; the
    occupational health one is opened with the data keys)."""
    found = []
    for row, thumbprint, replaced_at, document in await repository.holder_every(session, person_id):
        text = _document_text(issuer, row, document)
        found.append(
            HolderCredentialSummary(
                id=row.id,
                kind=row.kind,
                issued_at=row.issued_at,
                expires_at=row.expires_at,
                state=row.state,
                state_reason=row.state_reason,
                state_changed_at=row.state_changed_at,
                superseded_by=row.superseded_by_id,
                holder_key_thumbprint=thumbprint,
                holder_key_registered=replaced_at is None,
                records=_stated_records(row.kind, text),
            )
        )
    return found


# ---------------------------------------------------------------- the lifecycle


async def _cursor(session: AsyncSession, now: dt.datetime) -> LifecycleCursor:
    found = await repository.cursor(session, LIFECYCLE)
    if found is None:
        found = LifecycleCursor(name=LIFECYCLE, feed_cursor=0, lapsed_through=None, updated_at=now)
        session.add(found)
        await session.flush()
    return found


async def _issue_batches(
    session: AsyncSession,
    issuer: Issuer,
    pairs: Sequence[tuple[uuid.UUID, str]],
    now: dt.datetime,
    reason: str,
) -> IssueResult:
    total = IssueResult()
    for start in range(0, len(pairs), BATCH):
        done = await issue(session, issuer, pairs[start : start + BATCH], now=now, reason=reason)
        total = IssueResult(
            **{k: getattr(total, k) + getattr(done, k) for k in IssueResult.__struct_fields__}
        )
    return total


async def lifecycle_step(session: AsyncSession, issuer: Issuer, *, now: dt.datetime) -> LifecycleResult:
    """One pass of the lifecycle: consume the change feed, then the records lapsing since the last day
    handled (through today) and the credentials expiring within a week, re-issue what they affect
    (superseded credentials revoked, holders notified), and re-sign status lists older than a day.
    Idempotent; the cursor moves in this transaction.
    """
    cursor = await _cursor(session, now)
    changed: list[tuple[uuid.UUID, str]] = []
    position = cursor.feed_cursor
    while True:
        batch = await passport.changes_since(session, position)
        changed += [(a.person_id, a.kind) for a in batch.affected]
        position = batch.cursor
        if not batch.more:
            break
    changes = await _issue_batches(session, issuer, list(dict.fromkeys(changed)), now, "your records changed")
    today = now.date()
    after = cursor.lapsed_through or today - dt.timedelta(days=1)
    lapsed: list[tuple[uuid.UUID, str]] = []
    start = None
    while after < today:
        page = await passport.lapsing(session, after=after, through=today, start=start)
        lapsed += [(a.person_id, a.kind) for a in page.affected]
        if page.next is None:
            break
        start = page.next
    lapsed += await repository.expiring(session, now + RENEW_BEFORE, 50_000)
    lapses = await _issue_batches(
        session,
        issuer,
        list(dict.fromkeys(lapsed)),
        now,
        "a record reached its end date or the credential its expiry",
    )
    if (cursor.feed_cursor, cursor.lapsed_through) != (position, today):
        # only when it moves: an idle pass writes nothing (on SQLite a write would take the database's
        # write lock every interval, against the requests' transactions)
        cursor.feed_cursor = position
        cursor.lapsed_through = today
        cursor.updated_at = now
    refreshed = await refresh_lists(session, issuer, now)
    return LifecycleResult(
        changes=changes, lapses=lapses, feed_cursor=position, lapsed_through=today, lists_refreshed=refreshed
    )


async def holders(session: AsyncSession, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
    """People with a current holder key, in id order after ``after`` (for re-issuing everyone)."""
    return await repository.holders(session, after, limit)


async def start_over(session: AsyncSession, now: dt.datetime) -> None:
    """Before re-issuing everything: move the lifecycle's feed cursor to the end of the feed."""
    cursor = await _cursor(session, now)
    cursor.feed_cursor = await passport.feed_position(session)
    cursor.updated_at = now


async def reissue_all(
    session_factory: Callable[[], Any],
    issuer: Issuer,
    *,
    now: dt.datetime,
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
) -> IssueResult:
    """Re-issue every credential of every holder with a key (the August changeover), ``batch`` people per
    transaction; each committed batch is done. Moves the lifecycle's feed cursor to the feed's end first,
    so the worker does not re-issue the same credentials again."""
    total = IssueResult()
    async with session_factory() as session:
        await start_over(session, now)
        await session.commit()
    after: uuid.UUID | None = None
    while True:
        async with session_factory() as session:
            people = await repository.holders(session, after, batch)
            if not people:
                break
            pairs = [(person, kind) for person in people for kind in KINDS]
            done = await issue(session, issuer, pairs, now=now, reason="the August changeover", force=True)
            await session.commit()
        total = add_results(total, done)
        after = people[-1]
        if progress is not None:
            progress(len(people))
    copies = await check_copy_holders(session_factory, issuer, now=now, reason="the August changeover")
    return add_results(total, copies)


def add_results(a: IssueResult, b: IssueResult) -> IssueResult:
    return IssueResult(**{k: getattr(a, k) + getattr(b, k) for k in IssueResult.__struct_fields__})


async def check_copy_holders(
    session_factory: Callable[[], Any], issuer: Issuer, *, now: dt.datetime, reason: str, batch: int = BATCH
) -> IssueResult:
    """After re-issuing everything: the people with live OpenID4VCI wallet copies and no registered key,
    whom re-issuing does not reach (and whose record changes the moved feed cursor skips): each copy
    that no longer states the records is revoked and its holder told (decision 0040)."""
    total = IssueResult()
    after: uuid.UUID | None = None
    while True:
        async with session_factory() as session:
            people = await repository.copy_holders(session, after, batch)
            if not people:
                break
            pairs = [(person, kind) for person in people for kind in KINDS]
            total = add_results(total, await issue(session, issuer, pairs, now=now, reason=reason))
            await session.commit()
        after = people[-1]
    return total


# ---------------------------------------------------------------- OpenID4VCI (narrow hook)


async def issue_to_keys(
    session: AsyncSession,
    issuer: Issuer,
    person_id: uuid.UUID,
    kind: str,
    jwks: Sequence[dict[str, Any]],
    *,
    now: dt.datetime,
) -> list[tuple[uuid.UUID, str]]:
    """Issue one credential of ``kind`` from the person's current records per public JWK in ``jwks``
    (a batch of OpenID4VCI, each bound to its own wallet key): ``(credential id, compact SD-JWT)`` each.

    Each is a registry credential like any other: its own status list entry (drawn at random, so a batch's
    indexes are unrelated), listed, revocable and suspendable. The wallet keys are stored as replaced keys
    of the person (``replaced_at`` = now): they bind these credentials only, and the lifecycle keeps binding
    to the key the holder registered, if any. Nothing to state: :class:`InvalidInput`.
    """
    found = await passport.credentials_claims(
        session,
        [person_id],
        [kind],  # type: ignore[list-item]
        on=now.date(),
        base_url=issuer.base_url,
        keys=issuer.data_keys,
        names=issuer.names,
    )
    claim_set = found[person_id][kind]  # type: ignore[index]
    if claim_set is None:
        raise InvalidInput(
            f"The registry holds nothing to state in a {SPECS[kind].name.lower()} credential "
            "for this person.",
            errors=[FieldError("credential_configuration_id", "no records to state")],
            code="nothing_to_issue",
        )
    hold = (await repository.holds(session, [person_id])).get((person_id, kind))
    if hold is not None and hold.state == "revoked":
        if hold_stands(hold, claim_set):
            raise InvalidInput(
                f"The {SPECS[kind].name.lower()} credential of this person was revoked by its issuer; "
                "it is issued again once a new record of that type is submitted.",
                errors=[FieldError("credential_configuration_id", "revoked by its issuer")],
                code="credential_revoked",
            )
        await repository.lift_holds(session, [(person_id, kind)])
        hold = None
    signing = issuer.key()
    iat = int(now.timestamp())
    expires = issuance.expiry(kind, now, claim_set.refresh_on, issuer.lifetime_days)
    jobs: list[issuance.SignJob] = []
    rows: list[dict[str, Any]] = []
    for jwk in jwks:
        key = await _holder_key(session, person_id, jwk, now=now, replaced_at=now)
        thumbprint = key.thumbprint
        jobs.append(_sign_job(issuer, claim_set, iat, expires, dict(jwk)))
        row = credential_row(
            uuid.uuid4(),
            person_id,
            kind,
            claim_set,
            alg=signing.alg,
            kid=signing.kid,
            holder_key_id=key.id,
            digest=issuance.claims_digest(claim_set.claims, claim_set.vct, thumbprint),
            issued_at=now,
            expires_at=expires,
        )
        rows.append(row if hold is None else held_row(row, hold, now))  # suspended: issued suspended
    await session.flush()
    lists = _Lists(session, issuer, now)
    entries = await lists.allocate(len(jobs))
    for job, row, (list_id, index) in zip(jobs, rows, entries, strict=True):
        job.payload["status"] = StatusReference(status_uri(issuer.base_url, list_id), index).claim()
        row["status_list_id"], row["status_idx"] = list_id, index
    texts = await issuer.signer_now().sign_async(jobs)
    for row, text in zip(rows, texts, strict=True):
        row.update(stored(text, row["kind"], row["id"], row["person_id"], issuer.data_keys))
    await repository.insert_credentials(session, rows)
    if hold is not None:
        await lists.set_status([(r["status_list_id"], r["status_idx"]) for r in rows], Status.SUSPENDED)
    await lists.publish()
    return [(row["id"], text) for row, text in zip(rows, texts, strict=True)]
