"""The Digital Credentials Query Language (OpenID4VP 1.0 sections 6 and 7) for the staff passport (pure).

Three uses, one reading of the specification:

- **Derivation** (:func:`query_for_policy`): a verifier's compliance policy becomes a DCQL query: one
  credential query per credential type its rules need (``format: dc+sd-jwt``, ``meta.vct_values``), with
  the claim paths of :func:`service.passport.policy.requirements`. DCQL cannot say "the ``date_to`` of the
  record whose ``subject`` is fire safety", so a rule's record filter becomes ``values`` on the filtering
  claim (``["core_skills", null, "subject"]`` with ``values: ["fire_safety"]``), and a rule's accepted
  outcomes, specialties and grades become ``values`` of those claims; the other fields of the records are
  asked for across the array (``["core_skills", null, "date_to"]``). See ``docs/decisions/0028``.
- **Selection** (:func:`select`, the wallet's side): which of the holder's credentials answers each
  credential query, and which claims to disclose: exactly those the claims path pointers select (``null``
  is every element; ``values`` keep only equal values of the same JSON type), never more.
- **Checking** (:func:`check_response`, the verifier's side): whether the verified presentations of a
  ``vp_token`` answer the query; every shortfall is a reason a person can read ("DCQL not satisfied").

Credential sets (alternatives between credentials) are parsed, selected and checked; the policy language
has no alternative rules today, so derived queries have none.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from service.passport import claims as claim_model
from service.passport import policy
from service.passport.schemas import OccupationalHealthRule, PlacementRule, Rule

FORMAT: Final = "dc+sd-jwt"
ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]+")
MAX_CREDENTIAL_QUERIES: Final = 20
MAX_CLAIMS: Final = 100
MAX_PATH: Final = 16

Component = str | int | None
ConcretePath = tuple[str | int, ...]
Value = str | int | bool


class DcqlError(ValueError):
    """A DCQL query that is not valid: ``field`` names where (``credentials[0].claims[2].path``)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


# ---------------------------------------------------------------- the query


class ClaimQuery(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    path: list[Component]
    id: str | None = None
    values: list[Value] | None = None


class Meta(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    vct_values: list[str] | None = None


class CredentialQuery(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    format: str
    meta: Meta
    claims: list[ClaimQuery] | None = None
    claim_sets: list[list[str]] | None = None
    multiple: bool = False
    require_cryptographic_holder_binding: bool = True


class CredentialSet(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    options: list[list[str]]
    required: bool = True


class DcqlQuery(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    credentials: list[CredentialQuery]
    credential_sets: list[CredentialSet] | None = None

    def to_builtins(self) -> dict[str, Any]:
        built: dict[str, Any] = msgspec.to_builtins(self)
        return built


def _check_id(value: str, where: str) -> None:
    if not ID_PATTERN.fullmatch(value):
        raise DcqlError(where, "must be letters, digits, '_' or '-'")


def _check_claim(claim: ClaimQuery, where: str) -> None:
    if not claim.path or len(claim.path) > MAX_PATH:
        raise DcqlError(f"{where}.path", f"must be a non-empty array of at most {MAX_PATH} components")
    for n, component in enumerate(claim.path):
        if isinstance(component, int) and component < 0:
            raise DcqlError(f"{where}.path[{n}]", "an array index is a non-negative integer")
    if claim.values is not None and not claim.values:
        raise DcqlError(f"{where}.values", "must be a non-empty array when given")
    if claim.id is not None:
        _check_id(claim.id, f"{where}.id")


def _check_claim_sets(query: CredentialQuery, where: str) -> None:
    if query.claim_sets is None:
        return
    if not query.claims:
        raise DcqlError(f"{where}.claim_sets", "claim_sets needs claims")
    if not query.claim_sets:
        raise DcqlError(f"{where}.claim_sets", "must be a non-empty array when given")
    ids = {c.id for c in query.claims}
    if None in ids:
        raise DcqlError(f"{where}.claims", "every claim needs an id when claim_sets is present")
    for n, option in enumerate(query.claim_sets):
        if not option:
            raise DcqlError(f"{where}.claim_sets[{n}]", "an option names at least one claim")
        unknown = [i for i in option if i not in ids]
        if unknown:
            raise DcqlError(f"{where}.claim_sets[{n}]", f"names no claim of this query: {unknown[0]!r}")


def _check_credential(query: CredentialQuery, where: str) -> None:
    _check_id(query.id, f"{where}.id")
    if query.claims is not None:
        if not query.claims or len(query.claims) > MAX_CLAIMS:
            raise DcqlError(f"{where}.claims", f"must be an array of 1 to {MAX_CLAIMS} claims when given")
        seen: set[str] = set()
        for n, claim in enumerate(query.claims):
            _check_claim(claim, f"{where}.claims[{n}]")
            if claim.id is not None:
                if claim.id in seen:
                    raise DcqlError(f"{where}.claims[{n}].id", f"{claim.id!r} is used twice")
                seen.add(claim.id)
    _check_claim_sets(query, where)


def validate(query: DcqlQuery) -> DcqlQuery:
    """``query`` when it follows the specification's rules; :class:`DcqlError` naming the first problem."""
    if not query.credentials or len(query.credentials) > MAX_CREDENTIAL_QUERIES:
        raise DcqlError(
            "credentials", f"must be an array of 1 to {MAX_CREDENTIAL_QUERIES} credential queries"
        )
    ids: set[str] = set()
    for n, credential in enumerate(query.credentials):
        _check_credential(credential, f"credentials[{n}]")
        if credential.id in ids:
            raise DcqlError(f"credentials[{n}].id", f"{credential.id!r} is used twice")
        ids.add(credential.id)
    if query.credential_sets is not None:
        if not query.credential_sets:
            raise DcqlError("credential_sets", "must be a non-empty array when given")
        for n, credential_set in enumerate(query.credential_sets):
            if not credential_set.options:
                raise DcqlError(f"credential_sets[{n}].options", "must be a non-empty array")
            for m, option in enumerate(credential_set.options):
                unknown = [i for i in option if i not in ids]
                if not option or unknown:
                    raise DcqlError(
                        f"credential_sets[{n}].options[{m}]",
                        "must name credential queries of this request"
                        + (f": {unknown[0]!r}" if unknown else ""),
                    )
    return query


def parse_query(data: bytes | str | Mapping[str, Any]) -> DcqlQuery:
    """A DCQL query from JSON or from decoded JSON, validated; unknown members are ignored (section 6)."""
    try:
        if isinstance(data, bytes | str):
            query = msgspec.json.decode(data, type=DcqlQuery)
        else:
            query = msgspec.convert(data, DcqlQuery)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DcqlError("dcql_query", f"not a DCQL query: {exc}") from None
    return validate(query)


# ---------------------------------------------------------------- claims path pointers


def path_text(path: Sequence[Component]) -> str:
    """``["core_skills", null, "date_to"]`` -> ``core_skills/*/date_to`` (for reasons people read)."""
    return "/".join("*" if c is None else str(c) for c in path)


def process_path(claims: Any, path: Sequence[Component]) -> list[tuple[ConcretePath, Any]] | None:
    """The claims a claims path pointer selects (OpenID4VP 1.0 section 7.2), with their concrete paths;
    None when processing ends in an error (a component meets the wrong kind of node, or nothing is left)."""
    selected: list[tuple[ConcretePath, Any]] = [((), claims)]
    for component in path:
        following: list[tuple[ConcretePath, Any]] = []
        for at, node in selected:
            if isinstance(component, str):
                if not isinstance(node, dict):
                    return None
                if component in node:
                    following.append(((*at, component), node[component]))
            elif isinstance(node, list) and (component is None or isinstance(component, int)):
                if component is None:
                    following += [((*at, index), value) for index, value in enumerate(node)]
                elif component < len(node):
                    following.append(((*at, component), node[component]))
            else:
                return None
        selected = following
    return selected or None


def _same_value(value: Any, expected: Value) -> bool:
    return type(value) is type(expected) and value == expected


def select_claim(claims: Any, claim: ClaimQuery) -> list[ConcretePath]:
    """The concrete paths of the claims ``claim`` selects in ``claims``, values applied ([] for none)."""
    found = process_path(claims, claim.path) or []
    if claim.values is not None:
        wanted = claim.values
        found = [(at, v) for at, v in found if any(_same_value(v, w) for w in wanted)]
    return [at for at, _ in found]


def _claim_reason(claim: ClaimQuery) -> str:
    text = path_text(claim.path)
    if claim.values is None:
        return f"no {text} claim"
    shown = ", ".join(str(v) for v in claim.values)
    return (
        f"no {text} claim with the value {shown}" if len(claim.values) == 1 else f"no {text} claim of {shown}"
    )


def _claims_of(query: CredentialQuery, claims: Mapping[str, Any]) -> tuple[list[ConcretePath] | None, str]:
    """The paths to disclose for ``query`` from a credential's claims, or None and why not."""
    if query.claims is None:
        return [], ""
    chosen = {index: select_claim(claims, claim) for index, claim in enumerate(query.claims)}
    if query.claim_sets is None:
        missing = [_claim_reason(query.claims[i]) for i, paths in chosen.items() if not paths]
        if missing:
            return None, "; ".join(missing)
        return [p for paths in chosen.values() for p in paths], ""
    index_of = {claim.id: index for index, claim in enumerate(query.claims)}
    for option in query.claim_sets:
        if all(chosen[index_of[i]] for i in option):
            return [p for i in option for p in chosen[index_of[i]]], ""
    return None, "none of the claim combinations asked for (claim_sets) can be met"


def _meta_reason(query: CredentialQuery, vct: object, credential_format: str) -> str | None:
    if query.format != credential_format:
        return f"a credential of format {query.format} is asked for"
    if query.meta.vct_values is not None and vct not in query.meta.vct_values:
        return "a credential of type " + " or ".join(query.meta.vct_values) + " is asked for"
    return None


# ---------------------------------------------------------------- the wallet's side


@dataclass(frozen=True, slots=True)
class Match:
    credential: int
    """Index of the credential in the list given to :func:`select`."""
    paths: tuple[ConcretePath, ...]
    """The claims to disclose (each with everything under it); () for none beyond the mandatory ones."""


@dataclass(frozen=True, slots=True)
class Selection:
    matches: dict[str, list[Match]]
    """By credential query id: the credentials to present (one unless the query allows ``multiple``)."""
    reasons: list[str] = field(default_factory=list)
    """Why the query cannot be answered (empty when it can)."""

    @property
    def satisfied(self) -> bool:
        return not self.reasons


def _candidates(query: CredentialQuery, credentials: Sequence[Mapping[str, Any]]) -> tuple[list[Match], str]:
    found: list[Match] = []
    reasons: list[str] = []
    for index, claims in enumerate(credentials):
        why = _meta_reason(query, claims.get("vct"), FORMAT)
        if (
            why is None
            and query.require_cryptographic_holder_binding
            and not isinstance(claims.get("cnf"), dict)
        ):
            why = "the credential is not bound to a holder key"
        if why is None:
            paths, why = _claims_of(query, claims)
            if paths is not None:
                found.append(Match(index, tuple(dict.fromkeys(paths))))
                if not query.multiple:
                    break
                continue
        reasons.append(why)
    if found:
        return found, ""
    if not credentials:
        return [], f"{query.id}: no credentials held"
    distinct = list(dict.fromkeys(reasons))
    return [], f"{query.id}: " + "; ".join(distinct)


def _asked(query: DcqlQuery, available: Mapping[str, bool]) -> tuple[list[str], list[str]]:
    """The credential query ids to answer and the reasons the query cannot be answered."""
    if query.credential_sets is None:
        return [q.id for q in query.credentials], [i for i, ok in available.items() if not ok]
    chosen: list[str] = []
    failing: list[str] = []
    for credential_set in query.credential_sets:
        option = next((o for o in credential_set.options if all(available[i] for i in o)), None)
        if option is not None:
            chosen += [i for i in option if i not in chosen]
        elif credential_set.required:
            failing += [i for o in credential_set.options for i in o if not available[i] and i not in failing]
    return chosen, failing


def select(query: DcqlQuery, credentials: Sequence[Mapping[str, Any]]) -> Selection:
    """Which credentials answer ``query`` and which of their claims to disclose (section 6.4).

    ``credentials``: the full claim sets of the holder's SD-JWT VCs (``HeldCredential.claims``), in order
    of preference. Nothing that is not selected is disclosed; if a required credential query cannot be
    answered, nothing is returned at all and the reasons say why.
    """
    found: dict[str, list[Match]] = {}
    why: dict[str, str] = {}
    for credential_query in query.credentials:
        found[credential_query.id], why[credential_query.id] = _candidates(credential_query, credentials)
    asked, failing = _asked(query, {i: bool(m) for i, m in found.items()})
    if failing:
        return Selection({}, [why[i] for i in failing])
    return Selection({i: found[i] for i in asked})


# ---------------------------------------------------------------- the verifier's side


@dataclass(frozen=True, slots=True)
class Presented:
    """A verified presentation, as the verifier saw it."""

    vct: str | None
    claims: Mapping[str, Any]
    """The disclosed claims (undisclosed ones absent)."""
    key_bound: bool
    """Whether the key-binding JWT was checked."""
    format: str = FORMAT


def check_response(query: DcqlQuery, presented: Mapping[str, Sequence[Presented]]) -> list[str]:
    """Why the presentations of a ``vp_token`` (by credential query id) do not answer ``query``; [] when
    they do. Checks the ids, how many presentations each has, each one's format, type, holder binding and
    claims (with ``values``), and the credential sets."""
    by_id = {q.id: q for q in query.credentials}
    reasons: list[str] = [
        f"{name}: the query asked for no such credential" for name in presented if name not in by_id
    ]
    answered: dict[str, bool] = {}
    for credential_query in query.credentials:
        items = presented.get(credential_query.id)
        if items is None:
            answered[credential_query.id] = False
            continue
        problems = _check_items(credential_query, items)
        reasons += problems
        answered[credential_query.id] = not problems
    asked, failing = _asked(query, answered)
    reasons += [f"{i}: not presented" for i in failing if i not in presented]
    if query.credential_sets is not None:
        reasons += [f"{i}: presented but not asked for" for i in presented if i in by_id and i not in asked]
    return reasons


def _check_items(query: CredentialQuery, items: Sequence[Presented]) -> list[str]:
    if not items:
        return [f"{query.id}: an empty array of presentations"]
    if len(items) > 1 and not query.multiple:
        return [f"{query.id}: {len(items)} presentations where one is asked for"]
    reasons = []
    for item in items:
        why = _meta_reason(query, item.vct, item.format)
        if why is None and query.require_cryptographic_holder_binding and not item.key_bound:
            why = "a presentation with key binding is asked for"
        if why is None:
            paths, why = _claims_of(query, item.claims)
            if paths is not None:
                continue
        reasons.append(f"{query.id}: {why}")
    return reasons


# ---------------------------------------------------------------- from a compliance policy


def _restriction(rule: Rule, need: policy.ClaimNeed) -> set[Value] | None:
    """The values a rule accepts for the claim at ``need.path``, or None for any value."""
    name = need.path[-1]
    if need.where and isinstance(name, str) and name in need.where:
        return {need.where[name]}
    if isinstance(rule, OccupationalHealthRule) and name == "outcome":
        return set(rule.accepted)
    if isinstance(rule, PlacementRule) and name == "specialty" and rule.specialties:
        return set(rule.specialties)
    if isinstance(rule, PlacementRule) and name == "grade" and rule.grades:
        return set(rule.grades)
    return None


def _needs(rule: Rule, organisation_code: str) -> list[policy.ClaimNeed]:
    """The rule's needs, plus the claims its records are picked by (as ``disclosures_for`` adds them)."""
    needs = policy.rule_needs(rule, organisation_code)
    extra = []
    for need in needs:
        if need.where and None in need.path:
            cut = need.path.index(None) + 1
            extra += [
                policy.ClaimNeed(
                    credential_type=need.credential_type, path=[*need.path[:cut], k], where=need.where
                )
                for k in need.where
            ]
    return needs + extra


def query_for_policy(rules: Sequence[Rule], organisation_code: str, *, base_url: str) -> DcqlQuery:
    """The DCQL query that asks for what the policy's rules need (module docstring).

    One credential query per credential type, with the id of the type (``core_skills``, ...), in the order
    the rules first need them; each claim path once, with ``values`` when every rule needing it accepts
    only some values. When more than one credential is asked for, each query also asks for ``holder_id``,
    so the verifier can tell the credentials are about one person (a batch binds each to its own key).
    """
    wanted: dict[str, dict[tuple[Component, ...], list[Value] | None]] = {}
    for rule in rules:
        for need in _needs(rule, organisation_code):
            paths = wanted.setdefault(need.credential_type, {})
            key = tuple(need.path)
            restriction = _restriction(rule, need)
            if key not in paths:
                paths[key] = sorted(restriction, key=str) if restriction is not None else None
            else:
                known = paths[key]
                paths[key] = (
                    None
                    if known is None or restriction is None
                    else [*known, *sorted(restriction - set(known), key=str)]
                )
    link = len(wanted) > 1
    queries = []
    for kind, paths in wanted.items():
        claim_queries = [ClaimQuery(path=[claim_model.HOLDER_ID.name])] if link else []
        claim_queries += [ClaimQuery(path=list(path), values=values) for path, values in paths.items()]
        queries.append(
            CredentialQuery(
                id=kind,
                format=FORMAT,
                meta=Meta(vct_values=[claim_model.vct(base_url, kind)]),
                claims=claim_queries,
            )
        )
    if not queries:
        raise DcqlError("rules", "the policy needs no claims: there is nothing to ask for")
    return validate(DcqlQuery(credentials=queries))


def rules_by_query(rules: Sequence[Rule], organisation_code: str) -> dict[str, list[int]]:
    """For each credential query id of :func:`query_for_policy`, the rules (numbered from 1) that need it:
    the holder's page highlights what each rule asks for."""
    found: dict[str, list[int]] = {}
    for index, rule in enumerate(rules, start=1):
        for need in policy.rule_needs(rule, organisation_code):
            numbers = found.setdefault(need.credential_type, [])
            if index not in numbers:
                numbers.append(index)
    return found
