"""Verdicts of the compiled modules on a corpus, as JSON: run once compiled, once as Python.

``python -m tests.passport.native_parity < corpus.json`` verifies every presentation and status list
token of the corpus (made by :func:`corpus`), records each pending nonce's use, concludes submissions
of the reports (:func:`service.verification.outcome.conclude`, the policy included), evaluates policies
on damaged claims (:func:`service.passport.policy.evaluate`) and prints what came out. The native
build test runs it with ``PASSPORT_NATIVE=false`` in a subprocess and compares with the same run in the
test's own process (compiled): the compiled modules must give every input the same result, field for
field.
"""

import copy
import datetime as dt
import json
import random
import sys
from typing import Any

import msgspec

from service import jws, native
from service.passport import claims as claim_model
from service.passport import policy, presentation, status_list
from service.passport.schemas import Rule
from service.verification import outcome
from tests.passport import credential_helpers as h

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~.=+/ é"
VARIANTS: tuple[dict[str, Any], ...] = (
    {},
    {"now": h.NOW + 400},  # the key-binding JWT is stale
    {"now": h.NOW + 2 * 365 * 86400},  # the credential has expired
    {"now": h.NOW - 7200},  # not yet valid
    {"nonce": "another-nonce"},
    {"audience": "https://elsewhere.example"},
    {"revoked": True},
    {"no_nonce_hook": True},
)


def _mutants(text: str, rng: random.Random, count: int) -> list[str]:
    found = []
    for _ in range(count):
        at = rng.randrange(len(text))
        found.append(text[:at] + rng.choice(ALPHABET) + text[at + 1 :])
    for _ in range(count // 4):
        found.append(text[: rng.randrange(len(text))])
    parts = text.split("~")
    for index in range(1, len(parts) - 1):
        found.append("~".join(parts[:index] + parts[index + 1 :]))  # a disclosure left out
        found.append("~".join([*parts[: index + 1], parts[index], *parts[index + 1 :]]))  # twice
    found.append("~".join([parts[0], *reversed(parts[1:-1]), parts[-1]]))
    found.append("~".join(parts[:-1]) + "~")  # no key-binding JWT
    found.append(text + "~junk")
    return found


BASE_URL = h.ISSUER
"""The registry whose credential types the concluded submissions name."""
DAY = dt.datetime.fromtimestamp(h.NOW, dt.UTC).date()
RULE_SETS: tuple[list[dict[str, Any]], ...] = (
    [{"type": "core_skills", "subjects": [{"subject": "fire_safety"}]}],
    [
        {
            "type": "core_skills",
            "subjects": [{"subject": "fire_safety"}, {"subject": "resuscitation", "min_level": 3}],
        }
    ],
    [{"type": "core_skills", "subjects": [{"subject": "infection_prevention_control", "min_level": 2}]}],
    [
        {"type": "occupational_health", "item": "hepatitis_b", "accepted": ["immune"]},
        {"type": "occupational_health", "item": "epp_clearance", "accepted": ["cleared"]},
        {
            "type": "occupational_health",
            "item": "fitness_for_work",
            "accepted": ["fit", "fit_with_adjustments"],
            "review_after_date": True,
        },
    ],
    [{"type": "identity_link", "claims": ["gmc_number", "family_name"]}, {"type": "identity_link"}],
    [
        {"type": "training_placement"},
        {"type": "training_placement", "site_code": "rxx", "specialties": ["Cardiology"], "grades": ["ST3"]},
    ],
)
DISCLOSED: dict[str, Any] = {
    "core_skills": {
        "core_skills": [
            {"subject": "fire_safety", "level": 1, "date_to": "2027-03-01"},
            {"subject": "resuscitation", "level": 3, "date_to": (DAY + dt.timedelta(days=3)).isoformat()},
            {"subject": "infection_prevention_control", "level": 2, "date_to": "2027-01-10"},
        ]
    },
    "occupational_health": {
        "occupational_health": [
            {"item": "hepatitis_b", "outcome": "immune"},
            {"item": "epp_clearance", "outcome": "cleared", "review_date": "2027-06-01"},
            {"item": "fitness_for_work", "outcome": "fit_with_adjustments", "review_date": "2026-12-02"},
        ]
    },
    "identity_link": {
        "identity": {
            "given_names": "Priya",
            "family_name": "Raman",
            "birth_date": "1990-01-01",
            "gmc_number": "7012345",
        }
    },
    "training_placement": {
        "placements": [
            {
                "site": "RAA",
                "start_date": "2026-08-05",
                "end_date": "2027-02-02",
                "specialty": "Cardiology",
                "grade": "ST3",
            },
            {
                "site": "RXX",
                "start_date": "2026-08-05",
                "end_date": "2027-02-02",
                "specialty": "Cardiology",
                "grade": "ST4",
            },
        ]
    },
}
"""Claims of each credential type, in the registry's shape, that the rule sets look at."""
ODD_VALUES: tuple[Any, ...] = (
    None,
    3,
    True,
    2.5,
    "",
    "2026-13-01",
    "2026-12-0",
    "x",
    [],
    {},
    ["a"],
    {"k": 1},
)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [path] + [leaf for key, item in value.items() for leaf in _leaves(item, (*path, key))]
    if isinstance(value, list):
        return [path] + [leaf for index, item in enumerate(value) for leaf in _leaves(item, (*path, index))]
    return [path]


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of ``value`` with the member at ``path`` replaced by ``new`` (or removed: ``_GONE``)."""
    changed = copy.deepcopy(value)
    holder = changed
    for step in path[:-1]:
        holder = holder[step]
    if new is _GONE:
        del holder[path[-1]]
    else:
        holder[path[-1]] = new
    return changed


_GONE = object()


def policy_cases(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Disclosed claims damaged one member at a time (a value of another type, an odd date, removed),
    each with a rule set and a day to judge on."""
    paths = [path for path in _leaves(DISCLOSED) if path]
    cases = []
    for number in range(count):
        path = rng.choice(paths)
        disclosed = _set(DISCLOSED, path, _GONE if number % 4 == 0 else rng.choice(ODD_VALUES))
        on = DAY + dt.timedelta(days=rng.choice((0, 1, 3, 4, 40, 400)))
        cases.append({"rules": rng.choice(RULE_SETS), "disclosed": disclosed, "on": on.isoformat()})
    cases += [{"rules": rules, "disclosed": DISCLOSED, "on": DAY.isoformat()} for rules in RULE_SETS]
    return cases


def _registry_claims() -> dict[str, Any]:
    """A credential of the registry's core skills type, as :func:`outcome.conclude` reads them."""
    claims = h.core_skills_claims(
        vct=claim_model.vct(BASE_URL, "core_skills"),
        holder_id="holder-0f3b9c2e",
        core_skills=DISCLOSED["core_skills"]["core_skills"],
    )
    del claims["records"]
    return claims


def corpus(seed: int = 9901, mutants: int = 60) -> dict[str, Any]:
    """Presentations and status list tokens, good and damaged, with what a verifier needs; policy
    cases (:func:`policy_cases`)."""
    rng = random.Random(seed)
    wallet = h.Wallet()
    registry = h.Wallet(
        claims=_registry_claims(), disclosable=("core_skills/*", "core_skills/*/*", "holder_id")
    )
    bases = [
        wallet.present(("records/0",)),
        wallet.present(("records/0", "holder/legal_name")),
        wallet.present(("records/0", "records/1", "records/2")),
        wallet.present(()),
        registry.present(("core_skills/0", "core_skills/1", "holder_id")),
        registry.present(("core_skills/2",)),
    ]
    presentations = [text for base in bases for text in (base, *_mutants(base, rng, mutants))]
    lst = status_list.StatusList(status_list.MIN_LIST_SIZE)
    lst[1234] = status_list.Status.INVALID
    token = status_list.sign_token(
        lst, key=wallet.issuer, kid=h.kid_of(wallet.issuer), uri=h.LIST_URI, iat=h.NOW, ttl=3600
    )
    return {
        "issuer_jwk": {**jws.public_jwk(wallet.issuer.public_key()), "kid": h.kid_of(wallet.issuer)},
        "presentations": presentations,
        "tokens": [token, *_mutants(token, rng, mutants)],
        "policy_cases": policy_cases(rng, 40 * mutants),
    }


def _report(report: presentation.VerificationReport) -> Any:
    reference = report.status_reference
    return {
        "checks": [list(check) for check in report.checks],
        "valid": report.valid,
        "code": report.code,
        "claims": report.claims,
        "disclosed": [list(path) for path in report.disclosed],
        "header": report.header,
        "issuer": report.issuer,
        "vct": report.vct,
        "status_reference": None if reference is None else [reference.uri, reference.idx],
        "nonce": report.nonce,
    }


def _valid(reference: status_list.StatusReference) -> status_list.CredentialStatus:
    return status_list.CredentialStatus.VALID


def _revoked(reference: status_list.StatusReference) -> status_list.CredentialStatus:
    return status_list.CredentialStatus.INVALID


def verdicts(data: dict[str, Any]) -> dict[str, Any]:
    """Every presentation under every variant of the verifier's inputs, and every token."""
    key = jws.key_from_jwk(data["issuer_jwk"])
    keys = presentation.keys_by_kid([key])
    results = []
    reports: list[presentation.VerificationReport] = []
    for number, text in enumerate(data["presentations"]):
        for variant in VARIANTS:
            report = presentation.verify_presentation(
                text.encode("utf-8") if number % 5 == 0 else text,  # bytes too, as the HTTP layer gives
                issuer_keys=keys,
                status=_revoked if "revoked" in variant else _valid,
                audience=variant.get("audience", h.AUDIENCE),
                nonce=variant.get("nonce", h.NONCE),
                now=variant.get("now", h.NOW),
                nonce_unused=None if "no_nonce_hook" in variant else (lambda nonce: True),
            )
            reports.append(report)
            results.append(_report(report))
    tokens: list[list[Any]] = []
    pending = [
        report for report in reports if report.nonce is not None and report.code == "kb_nonce_unchecked"
    ]
    recorded = [outcome.nonce_recorded(report, first) for report in pending for first in (True, False)]
    for token in data["tokens"]:
        try:
            verified = status_list.verify_token(token, key, uri=h.LIST_URI, now=h.NOW + 60)
        except (status_list.StatusListError, jws.JWSError) as error:
            tokens.append(["error", type(error).__name__, error.code, str(error)])
        else:
            statuses = [verified.status_list.status_of(index) for index in (0, 1234, 4321)]
            tokens.append(["ok", verified.uri, verified.iat, verified.exp, verified.ttl, statuses])
    return {
        "native": native.state().active,
        "presentations": results,
        "tokens": tokens,
        "recorded": [_report(report) for report in recorded],
        "conclusions": [_conclusion(submission) for submission in _submissions(recorded)],
        "policies": [_policy(case) for case in data["policy_cases"]],
    }


def _submissions(
    reports: list[presentation.VerificationReport],
) -> list[list[presentation.VerificationReport]]:
    """Each report alone, and neighbours in pairs (two of one type, two holders, a failed one beside a
    genuine one)."""
    return [[report] for report in reports] + [
        list(pair) for pair in zip(reports[::3], reports[1::3], strict=False)
    ]


def _conclusion(reports: list[presentation.VerificationReport]) -> Any:
    """The concluded submission on its day and four days later (a record then out of date), and its
    audit subject."""
    rules = msgspec.convert(RULE_SETS[len(reports[0].disclosed) % 3], list[Rule])
    found = []
    for on in (DAY, DAY + dt.timedelta(days=4)):
        made = outcome.conclude(
            reports, base_url=BASE_URL, rules=rules, organisation_code="RAA", on=on, today=DAY
        )
        fields = {name: msgspec.to_builtins(getattr(made, name)) for name in made._fields}
        subject = outcome.audit_subject("verification-1", None, made.verdict, made.disclosed)
        found.append({**fields, "audit_subject": subject})
    return found


def _policy(case: dict[str, Any]) -> Any:
    rules = msgspec.convert(case["rules"], list[Rule])
    on = dt.date.fromisoformat(case["on"])
    found = policy.evaluate(rules, case["disclosed"], on, organisation_code="RAA", today=DAY)
    again = policy.evaluate(
        rules,
        case["disclosed"],
        on,
        organisation_code="RAA",
        requirements=policy.requirements(rules, "RAA"),
    )
    return [msgspec.to_builtins(found), msgspec.to_builtins(again)]


def main() -> None:
    json.dump(verdicts(json.load(sys.stdin)), sys.stdout)


if __name__ == "__main__":
    main()
