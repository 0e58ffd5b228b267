"""Domain verbs of verification: presentation requests, verifying submissions, the holder's log.

- A verifier (provider HR) creates a presentation request against a compliance policy of its
  organisation (or of its parent); the request has a random, single-use nonce and the verifier's client
  id as audience, and lists the claims the policy needs.
- The holder's wallet reads the holder view of the request and posts its presentations to it; or the
  verifier posts presentations it received (for its own request, or ad hoc with a policy and its nonce).
- Each submission is verified (:mod:`service.passport.presentation`: every check), its policy evaluated
  on the request's day (:mod:`service.verification.outcome`), and written through the
  :class:`~service.verification.writer.BatchWriter` with its nonce and audit event. The result is
  sealed with the data key (its reasons can name occupational health outcomes).
- The holder lists every verification of their credentials (linked by the ``holder_id`` claim, and by
  holder key once the credentials domain registers holder keys).

Services never commit (the batch writer owns the transaction of a verification; the request owns the
others).
"""

import asyncio
import datetime as dt
import os
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from service import audit, jws
from service.auth import Principal
from service.config import Settings
from service.credentials import service as credentials
from service.db import Clock, Database
from service.errors import FieldError, Forbidden, InvalidInput, NotFound, Unavailable
from service.keys import KeyRing
from service.passport import claims as claim_model
from service.passport import policy as policies
from service.passport import presentation
from service.passport import service as passport
from service.passport.encryption import DataKeyRing, DecryptionFailed
from service.passport.schemas import PolicyRead
from service.verification import outcome, repository
from service.verification.errors import MalformedPresentation, PresentationTooLarge
from service.verification.models import PresentationRequest, Verification
from service.verification.schemas import (
    MAX_PRESENTATION_BYTES,
    DisclosedNames,
    HolderRequestView,
    HolderVerificationPage,
    HolderVerificationRead,
    PolicyRef,
    PresentationRequestCreate,
    PresentationRequestPage,
    PresentationRequestRead,
    PresentationRequestSummary,
    RequestState,
    Verdict,
    VerificationCreate,
    VerificationRead,
)
from service.verification.status_source import InProcessTokens, RegistryStatusSource, StatusResolver
from service.verification.writer import BatchWriter, Item
from service.workforce import service as workforce

API: Final = "/api/v1"
POLICY_CACHE_SECONDS: Final = 5
"""How long the newest version of a policy by name is remembered (versions never change)."""
_SEAL_CONTEXT: Final = b"verification "
_encode: Final = msgspec.json.Encoder().encode
"""The answer's JSON (one encoder for the process: as ``msgspec.json.encode``, without making one a call)."""


@dataclass
class _Cached:
    value: Any
    until: float


@dataclass
class Runtime:
    """What verification keeps per process: keys, the status cache, the writer, the policy cache."""

    settings: Settings
    database: Database
    keyring: KeyRing
    data_keys: DataKeyRing
    clock: Clock
    resolver: StatusResolver
    writer: BatchWriter
    issuer_keys: presentation.KeyLookup
    policy: presentation.VerificationPolicy
    _policies: dict[Any, _Cached] = field(default_factory=dict)
    _organisations: dict[str, _Cached] = field(default_factory=dict)
    _policy_look_ups: dict[Any, tuple["asyncio.Future[PolicyRead]", float]] = field(default_factory=dict)
    """The look-up of a policy by name in flight, with when it began (:func:`_named_policy`)."""

    @property
    def base_url(self) -> str:
        return self.settings.issuer


def create_runtime(
    settings: Settings,
    *,
    database: Database,
    keyring: KeyRing,
    data_keys: DataKeyRing,
    clock: Clock,
    status_tokens: InProcessTokens | None = None,
) -> Runtime:
    """The verification runtime of one process; ``status_tokens`` reads the registry's own lists."""
    keys = [
        jws.VerificationKey(key.alg, key.private_key.public_key(), key.kid)
        for key in keyring.published
        if key.meta.purpose == "credential"
    ]
    issuer_keys = presentation.keys_by_kid(keys)
    source = RegistryStatusSource(base_url=settings.issuer, database=database, in_process=status_tokens)
    return Runtime(
        settings=settings,
        database=database,
        keyring=keyring,
        data_keys=data_keys,
        clock=clock,
        resolver=StatusResolver(
            source, issuer_keys, issuer=settings.issuer, leeway=settings.verification_leeway
        ),
        writer=BatchWriter(database, clock),
        issuer_keys=issuer_keys,
        policy=presentation.VerificationPolicy(
            leeway=settings.verification_leeway,
            kb_max_age=settings.key_binding_max_age,
            max_bytes=MAX_PRESENTATION_BYTES,
            accepted_vct=outcome.accepted_vct(settings.issuer),
        ),
    )


# ---------------------------------------------------------------- policies and organisations


def _policy_ref(policy: PolicyRead) -> PolicyRef:
    return PolicyRef(
        id=policy.id,
        organisation_code=policy.organisation_code,
        name=policy.name,
        version=policy.version,
        title=policy.title,
    )


def _remembered(cache: dict[Any, _Cached], key: Any, now: float) -> Any:
    found = cache.get(key)
    return found.value if found is not None and now < found.until else None


def _remember(cache: dict[Any, _Cached], key: Any, value: Any, until: float) -> None:
    if len(cache) >= 10_000:
        cache.clear()
    cache[key] = _Cached(value, until)


async def _organisation(session: AsyncSession, runtime: Runtime, code: str) -> Any:
    now = runtime.clock().timestamp()
    found = _remembered(runtime._organisations, code, now)
    if found is None:
        found = (await workforce.organisations_by_codes(session, [code])).get(code)
        if found is not None:
            _remember(runtime._organisations, code, found, now + 300)
    return found


def _known_policy(runtime: Runtime, organisation: str, name: str, version: int | None) -> PolicyRead | None:
    """The policy :func:`_find_policy` would answer, if it remembers it (no database needed)."""
    found: PolicyRead | None = _remembered(
        runtime._policies, ("name", organisation, name, version), runtime.clock().timestamp()
    )
    return found


async def _find_policy(
    session: AsyncSession, runtime: Runtime, organisation: str, name: str, version: int | None
) -> PolicyRead:
    """The verifier's organisation's policy ``name`` (else its parent's), newest or at ``version``."""
    known = _known_policy(runtime, organisation, name, version)
    if known is not None:
        return known
    now = runtime.clock().timestamp()
    key = ("name", organisation, name, version)
    codes = [organisation]
    org = await _organisation(session, runtime, organisation)
    if org is not None and org.parent_code:
        codes.append(org.parent_code)
    for code in codes:
        page = await passport.list_policies(
            session, organisation=code, name=name, all_versions=version is not None, limit=200, offset=0
        )
        chosen = [p for p in page.items if version is None or p.version == version]
        if chosen:
            # versions never change: a named version is remembered longer than "the newest"
            ttl = POLICY_CACHE_SECONDS if version is None else 3600
            _remember(runtime._policies, key, chosen[0], now + ttl)
            return chosen[0]
    wanted = f"{name[:80]} version {version}" if version is not None else name[:80]
    raise InvalidInput(
        f"Your organisation has no compliance policy {wanted}.",
        errors=[FieldError("body.policy", f"no policy {wanted} for {organisation} or its parent")],
    )


async def _named_policy(runtime: Runtime, organisation: str, name: str, version: int | None) -> PolicyRead:
    """:func:`_find_policy` in a session of its own, once per policy at a time.

    When the newest version of a policy is no longer remembered (after :data:`POLICY_CACHE_SECONDS`),
    the requests naming it then do not each open a session to read it again: the first starts the
    look-up and the others wait for its answer (or its refusal), if it began less than
    :data:`POLICY_CACHE_SECONDS` ago, so what they get is as fresh as the cache promises. The look-up
    runs as a task of its own: a request cancelled while waiting cancels neither it nor the others."""
    known = _known_policy(runtime, organisation, name, version)
    if known is not None:
        return known
    key = ("name", organisation, name, version)
    now = runtime.clock().timestamp()
    pending = runtime._policy_look_ups.get(key)
    if pending is not None and pending[1] <= now < pending[1] + POLICY_CACHE_SECONDS:
        return await asyncio.shield(pending[0])

    async def look_up() -> PolicyRead:
        async with runtime.database.session(write=False) as session:
            return await _find_policy(session, runtime, organisation, name, version)

    task = asyncio.ensure_future(look_up())
    runtime._policy_look_ups[key] = (task, now)

    def done(finished: "asyncio.Future[PolicyRead]") -> None:
        if runtime._policy_look_ups.get(key, (None, 0.0))[0] is finished:
            del runtime._policy_look_ups[key]
        if not finished.cancelled():
            finished.exception()  # retrieved: every waiter got it, or none was left to

    task.add_done_callback(done)
    return await asyncio.shield(task)


async def _policy_by_id(session: AsyncSession, runtime: Runtime, policy_id: uuid.UUID) -> PolicyRead:
    found = _remembered(runtime._policies, ("id", policy_id), 0.0)
    if found is None:
        found = await passport.get_policy(session, policy_id)
        _remember(runtime._policies, ("id", policy_id), found, float("inf"))
    policy: PolicyRead = found
    return policy


def _requirements(policy: PolicyRead) -> list[policies.RuleRequirement]:
    return policies.requirements(policy.rules, policy.organisation_code)


_PARTS: dict[int, tuple[PolicyRead, PolicyRef, list[policies.RuleRequirement]]] = {}


def _policy_parts(policy: PolicyRead) -> tuple[PolicyRef, list[policies.RuleRequirement]]:
    """The reference and the rules' requirements of ``policy``, made once per policy object (the
    runtime remembers the policies it reads, and a policy version never changes; at most 1,000)."""
    found = _PARTS.get(id(policy))
    if found is None or found[0] is not policy:
        if len(_PARTS) >= 1_000:
            _PARTS.clear()
        found = _PARTS[id(policy)] = (policy, _policy_ref(policy), _requirements(policy))
    return found[1], found[2]


# ---------------------------------------------------------------- presentation requests


def _verifier_organisation(principal: Principal) -> str:
    if principal.organisation is None:
        raise Forbidden("A verifier belongs to an organisation; this caller has none.")
    return principal.organisation


def request_state(request: PresentationRequest, now: dt.datetime) -> RequestState:
    if request.state == "answered":
        return "answered"
    return "expired" if request.expires_at <= now else "pending"


def _request_uri(runtime: Runtime, request_id: uuid.UUID) -> str:
    return f"{runtime.base_url}{API}/presentation-requests/{request_id}/request"


def _request_read(
    runtime: Runtime,
    request: PresentationRequest,
    policy: PolicyRead,
    now: dt.datetime,
    result: VerificationRead | None = None,
) -> PresentationRequestRead:
    requirements = _requirements(policy)
    needs = outcome.all_needs(requirements)
    return PresentationRequestRead(
        id=request.id,
        state=request_state(request, now),
        nonce=request.nonce,
        audience=request.audience,
        request_uri=_request_uri(runtime, request.id),
        organisation_code=request.organisation_code,
        policy=_policy_ref(policy),
        purpose=request.purpose,
        subject_hint=request.subject_hint,
        evaluate_on=request.evaluate_on,
        created_at=request.created_at,
        expires_at=request.expires_at,
        answered_at=request.answered_at,
        credential_types=outcome.kinds_needed(needs),
        needs=needs,
        requirements=requirements,
        result=result,
    )


def new_nonce() -> str:
    """128 bits from :mod:`secrets`, base64url."""
    return secrets.token_urlsafe(16)


_MS_BITS: Final = (1 << 48) - 1


def new_verification_id(now: dt.datetime) -> uuid.UUID:
    """A new verification's id: a UUID version 7 (RFC 9562), its first 48 bits the milliseconds of
    ``now`` since 1970 and 74 random bits from the system's CSPRNG (``os.urandom``, which
    :mod:`secrets` reads; decision 0043).

    Ids made in time order are inserted at the end of the primary key's index, as rows are appended
    to the table, instead of on a random page of it: a batch of verifications then rewrites one page of
    that index where it rewrote one page per verification (in SQLite's WAL, 4 KB each). A verification
    id names a stored result only to callers allowed to read it: it is not a secret, and what it tells,
    when the verification was made, is in the result anyway. Presentation request ids stay random: a
    request id is all an OpenID4VP wallet needs to fetch the request."""
    ms = int(now.timestamp() * 1000)
    random = int.from_bytes(os.urandom(10)) >> 6  # secrets.randbits(74), without its two Python calls
    return uuid.UUID(
        int=(ms & _MS_BITS) << 80 | 0x7 << 76 | (random >> 62) << 64 | 0b10 << 62 | (random & ((1 << 62) - 1))
    )


def _refuse_past_day(on: dt.date | None, now: dt.datetime) -> None:
    """A 422 naming ``evaluate_on`` for a day before the day of the request (decision 0040)."""
    reason = None if on is None else policies.judging_day_refusal(on, now)
    if reason is not None:
        raise InvalidInput(
            f"The date to judge on {reason} (in England).",
            errors=[FieldError("body.evaluate_on", reason)],
            code="evaluate_on_in_the_past",
        )


async def create_request(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    data: PresentationRequestCreate,
    now: dt.datetime,
) -> PresentationRequestRead:
    organisation = _verifier_organisation(principal)
    _refuse_past_day(data.evaluate_on, now)
    policy = await _find_policy(session, runtime, organisation, data.policy, data.policy_version)
    request = PresentationRequest(
        id=uuid.uuid4(),
        organisation_code=organisation,
        verifier=principal.subject,
        audience=principal.subject,
        nonce=new_nonce(),
        policy_id=policy.id,
        purpose=data.purpose,
        subject_hint=data.subject_hint,
        evaluate_on=data.evaluate_on,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=runtime.settings.presentation_request_lifetime),
        state="pending",
        answered_at=None,
    )
    await repository.add_request(session, request)
    return _request_read(runtime, request, policy, now)


async def _owned_request(
    session: AsyncSession, principal: Principal, request_id: uuid.UUID
) -> PresentationRequest:
    """The request if ``principal`` made it; otherwise not found (another verifier's is not shown)."""
    request = await repository.get_request(session, request_id)
    if request is None or request.verifier != principal.subject:
        raise NotFound(f"No presentation request {request_id} of yours.")
    return request


async def get_request(
    session: AsyncSession, runtime: Runtime, principal: Principal, request_id: uuid.UUID, now: dt.datetime
) -> PresentationRequestRead:
    request = await _owned_request(session, principal, request_id)
    policy = await _policy_by_id(session, runtime, request.policy_id)
    result = None
    if request.state == "answered":
        found = await repository.verification_of_request(session, request.id)
        result = open_result(runtime, found) if found is not None else None
    return _request_read(runtime, request, policy, now, result)


async def usable_policies(session: AsyncSession, runtime: Runtime, principal: Principal) -> list[PolicyRead]:
    """The newest version of every policy the verifier may ask against: its organisation's, then its
    parent's whose name the organisation does not use itself (as :func:`create_request` resolves a name)."""
    organisation = _verifier_organisation(principal)
    codes = [organisation]
    org = await _organisation(session, runtime, organisation)
    if org is not None and org.parent_code:
        codes.append(org.parent_code)
    found: dict[str, PolicyRead] = {}
    for code in codes:
        page = await passport.list_policies(
            session, organisation=code, name=None, all_versions=False, limit=200, offset=0
        )
        for policy in page.items:
            found.setdefault(policy.name, policy)
    return sorted(found.values(), key=lambda p: (p.title.lower(), p.name))


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def _day_after(day: dt.date | None) -> dt.datetime | None:
    """The start of the day after a range's last day; None (no end) after the calendar's last day."""
    if day is None or day >= dt.date.max:
        return None
    return _day_start(day + dt.timedelta(days=1))


async def list_requests(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    *,
    created_from: dt.date | None,
    created_to: dt.date | None,
    verdict: Verdict | None,
    limit: int,
    offset: int,
    now: dt.datetime,
) -> PresentationRequestPage:
    """The requests of the verifier's organisation made from ``created_from`` to ``created_to`` (UTC days,
    both included), newest first; ``verdict``: only answered ones with that verdict. Claim names, never
    values: a result is read only by the request's own verifier (:func:`get_request`)."""
    organisation = _verifier_organisation(principal)
    if created_from is not None and created_to is not None and created_to < created_from:
        raise InvalidInput(
            "The end of the date range is before its start.",
            errors=[FieldError("query.created_to", "before created_from")],
        )
    rows, more = await repository.organisation_requests(
        session,
        organisation,
        created_from=_day_start(created_from) if created_from is not None else None,
        created_before=_day_after(created_to),
        verdict=verdict,
        limit=limit,
        offset=offset,
    )
    refs: dict[uuid.UUID, PolicyRef] = {}
    for request, _ in rows:
        if request.policy_id not in refs:
            refs[request.policy_id] = _policy_ref(await _policy_by_id(session, runtime, request.policy_id))
    items = [
        PresentationRequestSummary(
            id=request.id,
            state=request_state(request, now),
            organisation_code=request.organisation_code,
            verifier=request.verifier,
            policy=refs[request.policy_id],
            purpose=request.purpose,
            subject_hint=request.subject_hint,
            evaluate_on=request.evaluate_on,
            created_at=request.created_at,
            expires_at=request.expires_at,
            answered_at=request.answered_at,
            verdict=found.verdict if found is not None else None,  # type: ignore[arg-type]
            verification_id=found.id if found is not None else None,
            evaluated_on=found.evaluated_on if found is not None else None,
            disclosed=msgspec.convert(found.disclosed, list[DisclosedNames]) if found is not None else [],
        )
        for request, found in rows
    ]
    return PresentationRequestPage(
        items=items, limit=limit, offset=offset, next_offset=offset + limit if more else None
    )


async def _holder_request(
    session: AsyncSession, principal: Principal, request_id: uuid.UUID
) -> PresentationRequest:
    """The request, if this holder may see it: any holder with its id, unless it names another doctor."""
    person_id = _holder_person(principal)
    request = await repository.get_request(session, request_id)
    if request is None:
        raise NotFound(f"No presentation request {request_id}.")
    if request.subject_hint is not None:
        ids = await workforce.person_ids_by_gmc(session, [request.subject_hint])
        if ids.get(request.subject_hint) != person_id:
            raise NotFound(f"No presentation request {request_id}.")
    return request


async def holder_view(
    session: AsyncSession, runtime: Runtime, principal: Principal, request_id: uuid.UUID, now: dt.datetime
) -> HolderRequestView:
    request = await _holder_request(session, principal, request_id)
    policy = await _policy_by_id(session, runtime, request.policy_id)
    organisation = await _organisation(session, runtime, request.organisation_code)
    requirements = _requirements(policy)
    needs = outcome.all_needs(requirements)
    return HolderRequestView(
        id=request.id,
        state=request_state(request, now),
        nonce=request.nonce,
        audience=request.audience,
        response_uri=f"{runtime.base_url}{API}/presentation-requests/{request.id}/response",
        verifier_organisation_code=request.organisation_code,
        verifier_organisation_name=organisation.name
        if organisation is not None
        else request.organisation_code,
        policy=_policy_ref(policy),
        purpose=request.purpose,
        evaluate_on=request.evaluate_on,
        expires_at=request.expires_at,
        credential_types=outcome.kinds_needed(needs),
        needs=needs,
        requirements=requirements,
    )


# ---------------------------------------------------------------- verifying


def _holder_person(principal: Principal) -> uuid.UUID:
    try:
        return uuid.UUID(principal.person_id or "")
    except ValueError:
        raise Forbidden("This holder sign-in is not linked to a person.", code="no_holder_identity") from None


async def _examine(
    runtime: Runtime, presentations: Sequence[str], *, audience: str, nonce: str, now: int
) -> list[presentation.VerificationReport]:
    """Every check of each presentation (the nonce's use still pending); 413/400 for what is not one."""
    for index, text in enumerate(presentations):
        if len(text) > MAX_PRESENTATION_BYTES:
            raise PresentationTooLarge(
                f"Presentation {index} is larger than {MAX_PRESENTATION_BYTES} bytes.",
                errors=[
                    FieldError(f"body.presentations[{index}]", f"larger than {MAX_PRESENTATION_BYTES} bytes")
                ],
            )

    def run(text: str, lookup: presentation.StatusLookup) -> presentation.VerificationReport:
        return presentation.verify_presentation(
            text,
            issuer_keys=runtime.issuer_keys,
            status=lookup,
            audience=audience,
            nonce=nonce,
            now=now,
            policy=runtime.policy,
        )

    missed: set[str] = set()
    lookup = runtime.resolver.lookup_at(now, missed)
    reports = [run(text, lookup) for text in presentations]
    malformed = [
        FieldError(f"body.presentations[{i}]", r.check(presentation.FORMAT).reason)
        for i, r in enumerate(reports)
        if r.check(presentation.FORMAT).outcome == "failed"
    ]
    if malformed:
        raise MalformedPresentation(
            "A presentation is not an SD-JWT with a key-binding JWT (<jwt>~<disclosure>~...~<kb-jwt>).",
            errors=malformed,
        )
    if missed and await runtime.resolver.refresh(missed, now=now):
        again = runtime.resolver.lookup_at(now, set())
        reports = [
            run(text, again) if r.check(presentation.STATUS).code == "status_unavailable" else r
            for text, r in zip(presentations, reports, strict=True)
        ]
    return reports


class _Context(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a submission's verification row and answer need besides its reports (a struct: made
    on every submission, in a tenth of a frozen dataclass's time; never encoded or decoded)."""

    verification_id: uuid.UUID
    request_id: uuid.UUID | None
    organisation_code: str
    verifier: str
    submitted_by: Literal["holder", "verifier"]
    purpose: str
    policy: PolicyRead
    on: dt.date
    now: dt.datetime
    actor: Principal
    action: str
    http_request_id: str | None
    linked_holder: str | None = None
    """The holder id of the person a genuine identity link names (when the holder id is withheld)."""


def _holder_context(
    request: PresentationRequest,
    policy: PolicyRead,
    actor: Principal,
    action: str,
    now: dt.datetime,
    http_request_id: str | None,
) -> _Context:
    """The context of a holder's answer to ``request`` (through the registry's API or OpenID4VP)."""
    return _Context(
        verification_id=new_verification_id(now),
        request_id=request.id,
        organisation_code=request.organisation_code,
        verifier=request.verifier,
        submitted_by="holder",
        purpose=request.purpose,
        policy=policy,
        on=request.evaluate_on or now.date(),
        now=now,
        actor=actor,
        action=action,
        http_request_id=http_request_id,
    )


class Answered(NamedTuple):
    """A stored verification's answer: the result, and the same result encoded as JSON (the bytes
    sealed in the database are the bytes of the HTTP answer: encoded once)."""

    read: VerificationRead
    body: bytes


def _finish(
    runtime: Runtime, context: _Context, reports: list[presentation.VerificationReport]
) -> Callable[[bool], tuple[dict[str, Any], audit.Entry, Answered]]:
    policy_ref, requirements = _policy_parts(context.policy)

    def finish(first_use: bool) -> tuple[dict[str, Any], audit.Entry, Answered]:
        final = [outcome.nonce_recorded(r, first_use) for r in reports]
        found = outcome.conclude(
            final,
            base_url=runtime.base_url,
            rules=context.policy.rules,
            organisation_code=context.policy.organisation_code,
            on=context.on,
            today=context.now.date(),
            requirements=requirements,
        )
        read = VerificationRead(
            id=context.verification_id,
            request_id=context.request_id,
            verdict=found.verdict,
            summary=found.summary,
            organisation_code=context.organisation_code,
            verifier=context.verifier,
            submitted_by=context.submitted_by,
            purpose=context.purpose,
            policy=policy_ref,
            evaluated_on=context.on,
            verified_at=context.now,
            presentations=found.presentations,
            checks=found.checks,
            claims=found.claims,
            outcome=found.outcome,
        )
        body = _encode(read)
        sealed = runtime.data_keys.seal(body, _SEAL_CONTEXT + context.verification_id.bytes)
        row = {
            "id": context.verification_id,
            "request_id": context.request_id,
            "organisation_code": context.organisation_code,
            "verifier": context.verifier,
            "submitted_by": context.submitted_by,
            "policy_id": context.policy.id,
            "purpose": context.purpose,
            "evaluated_on": context.on,
            "verdict": found.verdict,
            "holder_id": found.holder_id or context.linked_holder,
            "holder_jkt": found.holder_jkt,
            "disclosed": msgspec.to_builtins(found.disclosed),
            "result_key_id": sealed.kid,
            "result_sealed": sealed.blob,
            "created_at": context.now,
        }
        entry = audit.Entry(
            at=context.now,
            actor=context.actor.subject,
            organisation=context.actor.organisation,
            action=context.action,
            subject=outcome.audit_subject(
                str(context.verification_id),
                str(context.request_id) if context.request_id else None,
                found.verdict,
                found.disclosed,
                found.disclosed_text,
            ),
            request_id=context.http_request_id,
            outcome=found.verdict,
        )
        return row, entry, Answered(read, body)

    return finish


async def _linked_holder(runtime: Runtime, reports: Sequence[presentation.VerificationReport]) -> str | None:
    """The holder id of the person whose GMC number a signed identity link discloses, if any."""
    identity_vct = claim_model.vct(runtime.base_url, "identity_link")
    for report in reports:
        if report.vct != identity_vct or report.claims is None:
            continue
        identity = report.claims.get("identity")
        number = identity.get("gmc_number") if isinstance(identity, dict) else None
        if isinstance(number, str) and len(number) == 7 and number.isdigit():
            async with runtime.database.session(write=False) as session:
                found = (await workforce.person_ids_by_gmc(session, [number])).get(number)
            return claim_model.holder_id(found) if found is not None else None
    return None


def _nonce_seen(reports: Sequence[presentation.VerificationReport]) -> str | None:
    return next((r.nonce for r in reports if r.nonce is not None), None)


async def _submit(
    runtime: Runtime, context: _Context, presentations: Sequence[str], *, audience: str, nonce: str
) -> Answered:
    if not runtime.data_keys.usable:
        raise Unavailable(
            "Verification results are kept encrypted and the registry has no data key "
            "(operator: run `passport keys init`).",
            code="data_key_unavailable",
        )
    reports = await _examine(
        runtime, presentations, audience=audience, nonce=nonce, now=int(context.now.timestamp())
    )
    linked = await _linked_holder(runtime, reports)
    if linked is not None:  # only a genuine identity link names one: otherwise the context as it is
        context = msgspec.structs.replace(context, linked_holder=linked)
    margin = runtime.policy.kb_max_age + 2 * runtime.policy.leeway
    item = Item(
        finish=_finish(runtime, context, reports),
        nonce=_nonce_seen(reports),
        nonce_expires=context.now + dt.timedelta(seconds=margin),
        request_id=context.request_id,
    )
    # finished here (sealed, encoded) for the expected first use of the nonce: the batch's transaction
    # then only writes; a replay found there is finished again inside it
    answer: Answered = await runtime.writer.submit(item.prepare())
    return answer


async def respond(
    runtime: Runtime,
    principal: Principal,
    request_id: uuid.UUID,
    presentations: Sequence[str],
    now: dt.datetime,
    http_request_id: str | None,
) -> Answered:
    """The holder's wallet answers a request."""
    async with runtime.database.session(write=False) as session:
        request = await _holder_request(session, principal, request_id)
        policy = await _policy_by_id(session, runtime, request.policy_id)
    _refuse_closed(request, now)
    context = _holder_context(
        request, policy, principal, "POST respond_to_presentation_request", now, http_request_id
    )
    return await _submit(runtime, context, presentations, audience=request.audience, nonce=request.nonce)


def _refuse_closed(request: PresentationRequest, now: dt.datetime) -> None:
    from service.verification.errors import RequestAnswered, RequestExpired

    state = request_state(request, now)
    if state == "answered":
        raise RequestAnswered("The request has already been answered; a nonce is used once.")
    if state == "expired":
        raise RequestExpired("The request has expired; ask the verifier for a new one.")


async def verify(
    runtime: Runtime,
    principal: Principal,
    data: VerificationCreate,
    now: dt.datetime,
    http_request_id: str | None,
) -> Answered:
    """The verifier submits presentations it received: for its own request, or ad hoc."""
    organisation = _verifier_organisation(principal)
    request: PresentationRequest | None = None
    if data.request_id is None:
        missing = [name for name in ("policy", "nonce", "purpose") if getattr(data, name) is None]
        if missing:
            raise InvalidInput(
                "Without request_id, say which policy, nonce and purpose.",
                errors=[FieldError(f"body.{name}", "required without request_id") for name in missing],
            )
        _refuse_past_day(data.evaluate_on, now)
        # a remembered policy needs no database session (the common case: one policy, many checks)
        policy = await _named_policy(runtime, organisation, data.policy or "", data.policy_version)
    else:
        extra = [
            name
            for name in ("policy", "policy_version", "nonce", "purpose", "evaluate_on")
            if getattr(data, name) is not None
        ]
        if extra:
            raise InvalidInput(
                "A request's policy, nonce, purpose and day are the request's own.",
                errors=[FieldError(f"body.{name}", "not allowed with request_id") for name in extra],
            )
        async with runtime.database.session(write=False) as session:
            request = await _owned_request(session, principal, data.request_id)
            policy = await _policy_by_id(session, runtime, request.policy_id)
    if request is not None:
        _refuse_closed(request, now)
        nonce, purpose, on, audience = request.nonce, request.purpose, request.evaluate_on, request.audience
    else:
        nonce, purpose = data.nonce or "", data.purpose or ""
        on, audience = data.evaluate_on, principal.subject
    context = _Context(
        verification_id=new_verification_id(now),
        request_id=request.id if request is not None else None,
        organisation_code=organisation,
        verifier=principal.subject,
        submitted_by="verifier",
        purpose=purpose,
        policy=policy,
        on=on or now.date(),
        now=now,
        actor=principal,
        action="POST verify_presentations",
        http_request_id=http_request_id,
    )
    return await _submit(runtime, context, data.presentations, audience=audience, nonce=nonce)


def open_result(runtime: Runtime, verification: Verification) -> VerificationRead:
    try:
        plain = runtime.data_keys.open(
            verification.result_key_id, verification.result_sealed, _SEAL_CONTEXT + verification.id.bytes
        )
    except DecryptionFailed:
        raise Unavailable(
            f"The result of verification {verification.id} cannot be decrypted with the data keys.",
            code="data_key_unavailable",
        ) from None
    return msgspec.json.decode(plain, type=VerificationRead)


# ---------------------------------------------------------------- transparency


async def _holder_key_thumbprints(session: AsyncSession, runtime: Runtime, person_id: uuid.UUID) -> list[str]:
    """Thumbprints of every key a credential of the holder was ever bound to (decision 0040)."""
    return await credentials.holder_key_thumbprints(session, person_id)


async def holder_verifications(
    session: AsyncSession, runtime: Runtime, principal: Principal, *, limit: int, offset: int
) -> HolderVerificationPage:
    """Every verification of the holder's credentials, newest first (names of claims, never values)."""
    person_id = _holder_person(principal)
    keys = await _holder_key_thumbprints(session, runtime, person_id)
    rows, more = await repository.holder_verifications(
        session, claim_model.holder_id(person_id), keys, limit=limit, offset=offset
    )
    names = await workforce.organisations_by_codes(session, {r.organisation_code for r in rows})
    policy_refs = {}
    for row in rows:
        if row.policy_id not in policy_refs:
            policy_refs[row.policy_id] = _policy_ref(await _policy_by_id(session, runtime, row.policy_id))
    items = [
        HolderVerificationRead(
            id=row.id,
            verified_at=row.created_at,
            organisation_code=row.organisation_code,
            organisation_name=names[row.organisation_code].name
            if row.organisation_code in names
            else row.organisation_code,
            purpose=row.purpose,
            policy=policy_refs[row.policy_id],
            verdict=row.verdict,  # type: ignore[arg-type]
            submitted_by=row.submitted_by,  # type: ignore[arg-type]
            disclosed=msgspec.convert(row.disclosed, list[DisclosedNames]),
        )
        for row in rows
    ]
    return HolderVerificationPage(
        items=items, limit=limit, offset=offset, next_offset=offset + limit if more else None
    )


# ---------------------------------------------------------------- OpenID4VP (narrow hooks)


@dataclass(frozen=True)
class WalletRequest:
    """What an OpenID4VP request object needs of a presentation request."""

    id: uuid.UUID
    state: RequestState
    nonce: str
    expires_at: dt.datetime
    policy: PolicyRead
    verifier_name: str


async def wallet_request(runtime: Runtime, request_id: uuid.UUID, now: dt.datetime) -> WalletRequest | None:
    """The presentation request ``request_id`` for an anonymous wallet (OpenID4VP ``request_uri``): its
    nonce, expiry, policy and the verifier's name; None when there is no such request."""
    async with runtime.database.session(write=False) as session:
        request = await repository.get_request(session, request_id)
        if request is None:
            return None
        policy = await _policy_by_id(session, runtime, request.policy_id)
        organisation = await _organisation(session, runtime, request.organisation_code)
    return WalletRequest(
        id=request.id,
        state=request_state(request, now),
        nonce=request.nonce,
        expires_at=request.expires_at,
        policy=policy,
        verifier_name=organisation.name if organisation is not None else request.organisation_code,
    )


async def respond_for_wallet(
    runtime: Runtime,
    request_id: uuid.UUID,
    presentations: Sequence[str],
    *,
    audience: str,
    now: dt.datetime,
    http_request_id: str | None,
) -> VerificationRead:
    """An OpenID4VP wallet answers a request (``direct_post``): verified exactly as :func:`respond`, but
    the key-binding JWTs' ``aud`` is ``audience`` (the registry's OpenID4VP client identifier) and the
    wallet is anonymous (audited as ``openid4vp-wallet``)."""
    from service.auth import Role

    async with runtime.database.session(write=False) as session:
        request = await repository.get_request(session, request_id)
        if request is None:
            raise NotFound(f"No presentation request {request_id}.")
        policy = await _policy_by_id(session, runtime, request.policy_id)
    _refuse_closed(request, now)
    wallet = Principal(subject="openid4vp-wallet", kind="client", role=Role.HOLDER, organisation=None)
    context = _holder_context(request, policy, wallet, "POST oid4vp_direct_post", now, http_request_id)
    answer = await _submit(runtime, context, presentations, audience=audience, nonce=request.nonce)
    return answer.read
