"""The gates of a match run, taken from the other domains (part of the placements service layer).

- **Additionality**: a site is excluded when the latest check of one of its offers overlapping the
  placements failed (``service.additionality.service.failed_sites``); the reason names each check (its
  id), the failed rules, the offer and its dates.
- **Passport**: a trainee is excluded from a site when their passport does not meet the site's
  compliance policy on the placements' first day: the claims of their current records
  (``service.passport.service.credentials_claims``, the claim model of their credentials), plus the
  placement the match would give them, evaluated with ``service.passport.policy.evaluate``. The reason
  names the policy (organisation, name, version) and gives the policy's own reasons, e.g. "Fire safety
  expires on 2027-07-14, before 2027-08-04". Policies are named per run (``passport_policy``) and may be
  overridden per site (``site_policies``); a site's policy of that name is its own, else its
  independent provider's (evaluated for the site: its placement rules mean a placement at the site).

Each exclusion becomes a row of the run's ``excluded_sites.csv`` or ``excluded_trainee_sites.csv``, so a
gated run is reproducible from its input files like any other (``docs/placements.md``).
"""

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from service.additionality import service as additionality
from service.errors import FieldError, InvalidInput
from service.passport import policy as policies
from service.passport import service as passport
from service.passport.claims import ClaimSet
from service.passport.encryption import DataKeyRing
from service.passport.schemas import RECORD_KINDS, PlacementRule, PolicyRead, RecordKind
from service.placements.csv_import import GATE_REASON
from service.placements.schemas import PolicyApplied
from service.workforce import service as workforce

BATCH: Final = 1000
"""Trainees whose claims are built at a time."""


def fit(parts: Sequence[str], limit: int = GATE_REASON) -> str:
    """``parts`` joined with "; ", as many as fit in ``limit`` characters, then how many were left out."""
    text = ""
    for index, part in enumerate(parts):
        candidate = part if not text else f"{text}; {part}"
        rest = len(parts) - index - 1
        tail = f"; and {rest} more" if rest else ""
        if len(candidate) + len(tail) > limit:
            left = len(parts) - index
            if not text:
                return part[: limit - 1] + "…"
            return f"{text}; and {left} more"
        text = candidate
    return text


# ---------------------------------------------------------------- additionality


class SiteGate(NamedTuple):
    rows: list[tuple[str, str]]
    """(site_code, reason) to add to excluded_sites.csv."""
    checks: list[int]
    """The failed checks that excluded a site."""


async def additionality_gate(
    session: AsyncSession, sites: Sequence[str], start: dt.date, end: dt.date
) -> SiteGate:
    """The dataset's sites with an offer overlapping [start, end] whose latest check failed."""
    wanted = set(sites)
    by_site: dict[str, list[Any]] = defaultdict(list)
    for failed in await additionality.failed_sites(session, start, end):
        if failed.site_code in wanted:
            by_site[failed.site_code].append(failed)
    rows = []
    checks: set[int] = set()
    for site, found in sorted(by_site.items()):
        parts = []
        for f in sorted(found, key=lambda f: f.check_id):
            checks.add(f.check_id)
            failed_rules = ", ".join(r.replace("_", " ") for r in f.failed_rules) or "its verdict"
            parts.append(
                f"additionality check {f.check_id} failed ({failed_rules}) for offer {f.offer_id}, "
                f"{f.start_date.isoformat()} to {f.end_date.isoformat()}"
            )
        rows.append((site, fit(parts)))
    return SiteGate(rows, sorted(checks))


# ---------------------------------------------------------------- passport


class Trainee(NamedTuple):
    gmc_number: str
    person_id: uuid.UUID
    specialty: str
    grade: str


async def _named(session: AsyncSession, names: set[str]) -> dict[tuple[str, str], PolicyRead]:
    """The newest version of every organisation's policy with one of ``names``."""
    found: dict[tuple[str, str], PolicyRead] = {}
    for name in sorted(names):
        offset: int | None = 0
        while offset is not None:
            page = await passport.list_policies(
                session,
                organisation=None,
                name=name,
                all_versions=False,
                limit=passport.MAX_LIMIT,
                offset=offset,
            )
            found.update({(p.organisation_code, p.name): p for p in page.items})
            offset = page.next_offset
    return found


async def resolve_policies(
    session: AsyncSession,
    sites: Sequence[str],
    default: str | None,
    per_site: Mapping[str, str],
) -> tuple[dict[str, PolicyRead], list[str]]:
    """Each site's policy: the one named for it (or the run's), the site's own, else its provider's.
    Returns the policies by site and the sites with no policy of the run's name; refuses a name that
    no site has, and a site override naming a policy neither the site nor its provider has."""
    errors = []
    for index, site in enumerate(per_site):
        if site not in sites:
            errors.append(
                FieldError(f"body.site_policies[{index}].site_code", f"{site} is not a site of the dataset")
            )
    if errors:
        raise InvalidInput("The run names sites the dataset does not have.", errors=errors)
    names = {n for n in (default, *per_site.values()) if n is not None}
    if not names:
        return {}, []
    known = await _named(session, names)
    organisations = await workforce.organisations_by_codes(session, sites)
    chosen: dict[str, PolicyRead] = {}
    without: list[str] = []
    positions = {site: position for position, site in enumerate(per_site)}
    for site in sorted(sites):
        name = per_site.get(site, default)
        if name is None:
            continue
        parent = organisations[site].parent_code if site in organisations else None
        found = known.get((site, name)) or (known.get((parent, name)) if parent else None)
        if found is not None:
            chosen[site] = found
        elif site in per_site:
            errors.append(
                FieldError(
                    f"body.site_policies[{positions[site]}].policy",
                    f"neither {site} nor its provider has a policy named {name}",
                )
            )
        else:
            without.append(site)
    if default is not None and not any(p.name == default for p in chosen.values()) and not errors:
        errors.append(
            FieldError("body.passport_policy", f"no site of the dataset has a policy named {default}")
        )
    if errors:
        raise InvalidInput("The run names passport policies that do not exist.", errors=errors)
    return chosen, without


def _proposed(
    claims: Mapping[RecordKind, ClaimSet | None], placement: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The claims a holder would disclose in full, with the placement the match would give them."""
    disclosed: dict[str, dict[str, Any]] = {
        kind: dict(c.claims) for kind, c in claims.items() if c is not None
    }
    current = disclosed.get("training_placement", {}).get("placements", [])
    disclosed["training_placement"] = {
        **disclosed.get("training_placement", {}),
        "placements": [*current, placement],
    }
    return disclosed


def _has_placement_rule(policy: PolicyRead) -> bool:
    return any(isinstance(rule, PlacementRule) for rule in policy.rules)


async def passport_gate(
    session: AsyncSession,
    *,
    policies_by_site: Mapping[str, PolicyRead],
    trainees: Sequence[Trainee],
    candidates: Mapping[str, Sequence[str]],
    start: dt.date,
    end: dt.date,
    today: dt.date,
    keys: DataKeyRing,
    base_url: str,
) -> list[tuple[str, str, str]]:
    """(trainee, site, reason) for each candidate pair whose trainee does not meet the site's policy."""
    rows: list[tuple[str, str, str]] = []
    claims_on = min(today, start)
    names: dict[str, str] = {}
    gated = [t for t in trainees if any(s in policies_by_site for s in candidates.get(t.gmc_number, ()))]
    for first in range(0, len(gated), BATCH):
        batch = gated[first : first + BATCH]
        claims = await passport.credentials_claims(
            session,
            [t.person_id for t in batch],
            list(RECORD_KINDS),
            on=claims_on,
            base_url=base_url,
            keys=keys,
            names=names,
        )
        for trainee in batch:
            decided: dict[tuple[uuid.UUID, str | None], policies.PolicyOutcome] = {}
            for site in sorted(candidates.get(trainee.gmc_number, ())):
                policy = policies_by_site.get(site)
                if policy is None:
                    continue
                key = (policy.id, site if _has_placement_rule(policy) else None)
                if key not in decided:
                    placement = {
                        "specialty": trainee.specialty,
                        "grade": trainee.grade,
                        "site": site,
                        "start_date": start.isoformat(),
                        "end_date": end.isoformat(),
                    }
                    decided[key] = policies.evaluate(
                        policy.rules,
                        _proposed(claims[trainee.person_id], placement),
                        start,
                        organisation_code=site,
                        today=today,
                    )
                outcome = decided[key]
                if not outcome.passed:
                    head = (
                        f"passport does not meet {policy.organisation_code}'s policy {policy.name} "
                        f"v{policy.version} on {start.isoformat()}: "
                    )
                    failed = [o.reason for o in outcome.rules if not o.passed]
                    rows.append((trainee.gmc_number, site, head + fit(failed, GATE_REASON - len(head))))
    return rows


def applied(policies_by_site: Mapping[str, PolicyRead]) -> list[PolicyApplied]:
    return [
        PolicyApplied(
            site_code=site,
            policy_id=p.id,
            organisation_code=p.organisation_code,
            name=p.name,
            version=p.version,
            title=p.title,
        )
        for site, p in sorted(policies_by_site.items())
    ]
