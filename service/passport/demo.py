"""Demo records and policies (the ``passport`` step of ``passport demo seed``): deterministic and fast.

For every doctor in training of the synthetic world: an identity link, the CSTF subjects a resident doctor
keeps (most in date, some expiring within weeks, a few expired), occupational health outcomes (EPP clearance
for surgical specialties) and a placement for their current post. The demo doctor (the holder of the demo
accounts) is about to rotate to the demo independent site at their next rotation (:func:`changeover_after`:
the August changeover, or February's rotation when August is under three weeks or over 11 months away);
their information governance expires three weeks before it, so the theatre-list policy fails on that one
subject until the demo issuer submits a renewal. The demo colleagues (``DemoCast.colleagues``) rotate to the
same site on the same day with everything in date like the holder's, but no information governance trap; the
``fire_safety_expired`` one's fire safety lapsed a fortnight before the seed. Three compliance policies are
seeded: the theatre list and an outpatient clinic at the demo site, a ward-based post at the demo trust.

Record ids are drawn from a generator seeded with the demo's seed, policies' are UUID v5 of it; dates are
laid out around the demo's ``today``.
Records are written straight to the tables (the synthetic world is valid by construction), occupational
health sealed as the service seals it, and each record is announced on the change feed.
"""

import datetime as dt
import random
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any, Final

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from service.passport import repository
from service.passport.cstf import SUBJECTS, add_months
from service.passport.encryption import DataKeyRing
from service.passport.models import CompliancePolicy
from service.passport.schemas import (
    CoreSkillsRule,
    IdentityLinkRule,
    OccupationalHealthRule,
    PlacementRule,
    Rule,
    SubjectRequirement,
)
from service.passport.service import seal_outcome
from service.workforce.demo import NAMESPACE, DemoCast, person_id
from service.workforce.synthetic import SynthEmployment, SynthOrganisation, SynthPerson, SynthWorld

ACTOR: Final = "passport demo seed"
SURGICAL: Final = frozenset(
    {
        "general_surgery",
        "trauma_and_orthopaedics",
        "obstetrics_and_gynaecology",
        "urology",
        "ent",
        "plastic_surgery",
        "vascular_surgery",
        "neurosurgery",
        "oral_and_maxillofacial_surgery",
    }
)
DOCTOR_SUBJECTS: Final = (
    ("equality_diversity_human_rights", 1),
    ("health_safety_welfare", 1),
    ("conflict_resolution", 1),
    ("fire_safety", 1),
    ("infection_prevention_control", 2),
    ("information_governance", 1),
    ("moving_handling", 1),
    ("safeguarding_adults", 2),
    ("safeguarding_children", 3),
    ("resuscitation", 2),
    ("preventing_radicalisation", 1),
)
"""The CSTF subjects (and levels) a resident doctor keeps in date."""
PROVIDERS: Final = ("e-Learning for Healthcare", "Resuscitation Council UK", "Skills for Health")


CHANGEOVER_MARGIN = dt.timedelta(days=21)
"""The demo doctor's next rotation is at least this far ahead of the seed: their information governance
lapses this long before it."""
CHANGEOVER_HORIZON = dt.timedelta(days=330)
"""... and at most this far ahead, so a subject renewed on the seed day (12 months at the shortest) still
holds on the rotation day."""


def changeover_after(day: dt.date) -> dt.date:
    """The demo doctor's next rotation day: the first Wednesday of August (the main changeover) at least
    :data:`CHANGEOVER_MARGIN` after ``day``; when that is more than :data:`CHANGEOVER_HORIZON` ahead (from
    about mid-July to early September), the first Wednesday of February before it (the second rotation)."""

    def first_wednesday(year: int, month: int) -> dt.date:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(2 - first.weekday()) % 7)

    august = first_wednesday(day.year, 8)
    if august < day + CHANGEOVER_MARGIN:
        august = first_wednesday(day.year + 1, 8)
    if august - day <= CHANGEOVER_HORIZON:
        return august
    return first_wednesday(august.year, 2)


def _label(specialty: str | None) -> str:
    return (specialty or "foundation").replace("_", " ")


def _programme(grade: str, specialty: str | None) -> str:
    if grade.startswith("FY"):
        return "Foundation Programme"
    if grade.startswith("CT"):
        return f"Core training in {_label(specialty)}"
    return f"Specialty training in {_label(specialty)}"


class _Builder:
    """Rows for one world; ``rows`` and ``changes`` grow as people are added."""

    def __init__(
        self,
        world: SynthWorld,
        cast: DemoCast,
        *,
        seed: int,
        today: dt.date,
        now: dt.datetime,
        keys: DataKeyRing,
    ) -> None:
        self.rng = random.Random(f"passport/{seed}")  # noqa: S311 - demo data, not cryptography
        self.seed, self.today, self.now, self.keys = seed, today, now, keys
        self.cast = cast
        self.by_code = {o.code: o for o in world.organisations}
        self.history: dict[str, list[SynthEmployment]] = {}
        for e in world.employments:
            self.history.setdefault(e.person_key, []).append(e)
        self.person = uuid.UUID(int=0)
        self.ids: dict[str, uuid.UUID] = {}
        self.rows: list[dict[str, Any]] = []
        self.changes: list[dict[str, Any]] = []
        self.kinds: Counter[str] = Counter()
        self.lapsing_soon = 0
        self.lapsed = 0
        self.case: str | None = None
        """The demo colleague case of the doctor being built (None for the holder and everyone else)."""

    def _region_of(self, code: str) -> str:
        org = self.by_code[code]
        icb = self.by_code.get(org.parent_code or "")
        if org.kind == "independent_site":
            return self.cast.region.code if icb is None else (icb.parent_code or self.cast.region.code)
        return icb.parent_code if icb is not None and icb.parent_code else self.cast.region.code

    def _add(
        self,
        person: SynthPerson,
        what: str,
        kind: str,
        origin: str,
        columns: dict[str, Any],
        *,
        lapses_on: dt.date | None,
        key: str | None,
        effective: dt.date | None,
        **assurance: str,
    ) -> None:
        rid = self.ids.get(what) or self.new_id()
        pid = self.person
        refreshed = self.now - dt.timedelta(days=self.rng.randint(0, 40), minutes=self.rng.randint(0, 600))
        self.rows.append(
            {
                "id": rid,
                "kind": kind,
                "person_id": pid,
                "state": "current",
                "supersedes_id": None,
                "superseded_by_id": None,
                "change_reason": None,
                "record_key": key,
                "effective_on": effective,
                "lapses_on": lapses_on,
                "origin_organisation_code": origin,
                "assurance_policy": assurance.get("policy", "NHS Employment Check Standards"),
                "assurance_outcome": "verified",
                "verification_method": assurance.get("method", "source_system"),
                "last_refreshed_at": refreshed,
                "submitted_at": self.now,
                "submitted_by": ACTOR,
                **columns,
            }
        )
        self.changes.append(
            {"person_id": pid, "kind": kind, "record_id": rid, "change": "added", "at": self.now}
        )
        self.kinds[kind] += 1
        if lapses_on is not None and lapses_on <= self.today:
            self.lapsed += 1
        elif lapses_on is not None and lapses_on <= self.today + dt.timedelta(days=60):
            self.lapsing_soon += 1

    # ---------------------------------------------------------------- one doctor

    def new_id(self) -> uuid.UUID:
        """A record id drawn from the seeded generator: deterministic, and cheaper than UUID v5."""
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def doctor(self, person: SynthPerson, holder: bool, case: str | None = None) -> None:
        """The records of one doctor: the demo holder's story, a demo colleague's ``case``
        (:data:`service.workforce.demo.COLLEAGUE_CASES`), or a random doctor's."""
        self.person = person_id(self.seed, person.key)
        self.case = case
        self.ids = {}
        posts = sorted(self.history.get(person.key, []), key=lambda e: e.start)
        trust = next(
            (
                e.organisation_code
                for e in reversed(posts)
                if self.by_code[e.organisation_code].kind == "nhs_trust"
            ),
            self.cast.trust.code,
        )
        self.identity(person, trust)
        self.core_skills(person, trust, holder)
        self.health(person, trust, holder or case is not None)
        if posts:
            self.placement(person, posts[-1], trust, "current")
        if holder or case is not None:  # both rotate to the demo site
            start = changeover_after(self.today)
            future = SynthEmployment(
                person.key,
                self.cast.site.code,
                "Specialty registrar",
                "medical",
                person.specialty,
                start,
                add_months(start, 6) - dt.timedelta(days=1),
                10,
            )
            self.placement(person, future, trust, "next")

    def identity(self, person: SynthPerson, trust: str) -> None:
        age = {"F": 25, "C": 28, "S": 33}[person.grade[0]] + self.rng.randint(0, 6)
        born = dt.date(self.today.year - age, self.rng.randint(1, 12), self.rng.randint(1, 28))
        columns = {
            "given_names": person.given_name,
            "family_name": person.family_name,
            "birth_date": born,
            "gmc_number": person.gmc_number,
        }
        self._add(
            person,
            "identity",
            "identity_link",
            trust,
            columns,
            lapses_on=None,
            key="identity",
            effective=None,
            policy="NHS Employment Check Standards: identity checks",
            method="document_check",
        )

    def core_skills(self, person: SynthPerson, trust: str, holder: bool) -> None:
        for subject, level in DOCTOR_SUBJECTS:
            months = SUBJECTS[subject].default_renewal_months[SUBJECTS[subject].levels.index(level)]
            roll = self.rng.random()
            if holder and subject == "information_governance":  # lapses just before the rotation
                until = changeover_after(self.today) - CHANGEOVER_MARGIN
                awarded = add_months(until, -months)
            elif self.case == "fire_safety_expired" and subject == "fire_safety":  # lapsed a fortnight ago
                until = self.today - dt.timedelta(days=14)
                awarded = add_months(until, -months)
            elif holder or self.case is not None:  # in date a month past the rotation (as renewal allows)
                latest = self.today - dt.timedelta(days=7)
                awarded = min(
                    latest, add_months(changeover_after(self.today) + dt.timedelta(days=30), -months)
                )
                until = add_months(awarded, months)
            elif roll < 0.04:  # lapsed
                until = self.today - dt.timedelta(days=self.rng.randint(1, 120))
                awarded = add_months(until, -months)
            elif roll < 0.12 and not holder:  # lapses within two months
                until = self.today + dt.timedelta(days=self.rng.randint(1, 60))
                awarded = add_months(until, -months)
            else:
                awarded = self.today - dt.timedelta(days=self.rng.randint(1, max(2, months * 30 - 70)))
                until = add_months(awarded, months)
            columns = {
                "subject": subject,
                "level": level,
                "date_awarded": awarded,
                "renewal_months": months,
                "date_to": until,
                "learning_provider": self.rng.choice(PROVIDERS),
                "learning_method": "face_to_face" if subject == "resuscitation" else "e_learning",
            }
            self._add(
                person,
                f"cstf/{subject}",
                "core_skills",
                trust,
                columns,
                lapses_on=until,
                key=f"{subject}/{level}",
                effective=awarded,
                policy="CSTF attainment from the learning system",
            )

    def _outcome(self, item: str, holder: bool) -> str:
        roll = self.rng.random()
        if holder:
            return {
                "hepatitis_b": "immune",
                "tuberculosis": "cleared",
                "epp_clearance": "cleared",
                "fitness_for_work": "fit",
            }.get(item, "immune")
        if item == "hepatitis_b":
            return "immune" if roll < 0.92 else ("course_in_progress" if roll < 0.97 else "non_responder")
        if item in {"measles_rubella", "varicella"}:
            return "immune" if roll < 0.96 else "non_immune"
        if item in {"tuberculosis", "epp_clearance"}:
            return "cleared" if roll < 0.98 else "not_cleared"
        return "fit" if roll < 0.94 else ("fit_with_adjustments" if roll < 0.995 else "not_fit")

    def health(self, person: SynthPerson, trust: str, holder: bool) -> None:
        if not self.keys.usable:
            return  # no data key to seal outcomes with (reported by the step)
        items = ["hepatitis_b", "measles_rubella", "varicella", "tuberculosis", "fitness_for_work"]
        if holder or person.specialty in SURGICAL:
            items.append("epp_clearance")
        for item in items:
            assessed = self.today - dt.timedelta(days=self.rng.randint(20, 900))
            review = None
            if item == "epp_clearance":
                review = self.today + dt.timedelta(days=self.rng.randint(-30, 700) if not holder else 540)
                assessed = min(assessed, review - dt.timedelta(days=365))
            fields = {
                "item": item,
                "outcome": self._outcome(item, holder),
                "assessed_on": assessed,
                "review_date": review,
            }
            rid = self.ids[f"oh/{item}"] = self.new_id()
            kid, blob = seal_outcome(fields, rid, self.person, self.keys)
            self._add(
                person,
                f"oh/{item}",
                "occupational_health",
                trust,
                {"oh_key_id": kid, "oh_sealed": blob},
                lapses_on=review,
                key=None,
                effective=None,
                policy="Occupational health clearance for new healthcare workers",
                method="clinical_assessment",
            )

    def placement(self, person: SynthPerson, post: SynthEmployment, trust: str, what: str) -> None:
        site: SynthOrganisation = self.by_code[post.organisation_code]
        end = post.end or add_months(post.start, 12) - dt.timedelta(days=1)
        post_number = f"{self._region_of(site.code)}/{site.code}/{person.grade}/{person.key[-4:]}".upper()
        columns = {
            "programme": _programme(person.grade, person.specialty),
            "programme_start": None,
            "programme_end": None,
            "specialty": _label(post.specialty),
            "grade": person.grade,
            "post_number": post_number,
            "employing_body_code": trust,
            "site_code": site.code,
            "start_date": post.start,
            "end_date": end,
        }
        self._add(
            person,
            f"placement/{what}",
            "training_placement",
            self._region_of(trust),
            columns,
            lapses_on=end + dt.timedelta(days=1),
            key=f"{site.code}/{post.start.isoformat()}",
            effective=post.start,
            policy="Training programme records of the regional training office",
        )


# ---------------------------------------------------------------- policies


def _skills(*subjects: tuple[str, int]) -> CoreSkillsRule:
    return CoreSkillsRule(subjects=[SubjectRequirement(subject=s, min_level=level) for s, level in subjects])  # type: ignore[arg-type]


def demo_policies(cast: DemoCast) -> list[tuple[str, str, str, str, str, list[Rule]]]:
    """``(organisation, name, title, role, description, rules)`` of the three demo policies."""
    theatre: list[Rule] = [
        _skills(*DOCTOR_SUBJECTS),
        OccupationalHealthRule(item="epp_clearance", accepted=["cleared"]),
        OccupationalHealthRule(item="hepatitis_b", accepted=["immune"]),
        OccupationalHealthRule(item="measles_rubella", accepted=["immune"]),
        OccupationalHealthRule(item="varicella", accepted=["immune"]),
        OccupationalHealthRule(item="tuberculosis", accepted=["cleared"]),
        OccupationalHealthRule(item="fitness_for_work", accepted=["fit", "fit_with_adjustments"]),
        IdentityLinkRule(claims=["gmc_number"]),
        PlacementRule(),
    ]
    ward: list[Rule] = [
        _skills(
            ("fire_safety", 1),
            ("infection_prevention_control", 2),
            ("information_governance", 1),
            ("moving_handling", 1),
            ("safeguarding_adults", 2),
            ("safeguarding_children", 2),
            ("resuscitation", 2),
        ),
        OccupationalHealthRule(item="measles_rubella", accepted=["immune"]),
        OccupationalHealthRule(item="varicella", accepted=["immune"]),
        OccupationalHealthRule(item="tuberculosis", accepted=["cleared"]),
        OccupationalHealthRule(item="fitness_for_work", accepted=["fit", "fit_with_adjustments"]),
        IdentityLinkRule(claims=["gmc_number", "family_name"]),
    ]
    clinic: list[Rule] = [
        _skills(
            ("fire_safety", 1),
            ("information_governance", 1),
            ("infection_prevention_control", 1),
            ("safeguarding_adults", 2),
            ("safeguarding_children", 2),
            ("resuscitation", 1),
        ),
        OccupationalHealthRule(item="fitness_for_work", accepted=["fit", "fit_with_adjustments"]),
        IdentityLinkRule(claims=["gmc_number"]),
    ]
    return [
        (
            cast.site.code,
            "theatre-surgical-trainee",
            "Independent sector theatre list, surgical trainee",
            "surgical trainee on an independent sector theatre list",
            "Everything in date on the placement start, EPP clearance, immunity, a placement at this site.",
            theatre,
        ),
        (
            cast.trust.code,
            "ward-resident-doctor",
            "NHS ward-based resident doctor",
            "resident doctor on a ward",
            "Ward-based clinical work: core skills, measles, rubella and varicella immunity, TB screening.",
            ward,
        ),
        (
            cast.site.code,
            "outpatient-non-surgical",
            "Outpatient clinic, non-surgical",
            "doctor in an outpatient clinic, no exposure-prone procedures",
            "Outpatient work without exposure-prone procedures.",
            clinic,
        ),
    ]


# ---------------------------------------------------------------- the step


class PassportSeeded(msgspec.Struct, frozen=True, kw_only=True):
    records: dict[str, int]
    lapsing_soon: int
    lapsed: int
    policies: list[str]
    sealed: bool
    """Whether occupational health records were written (they need a data key)."""

    def lines(self) -> list[str]:
        kinds = ", ".join(f"{n:,} {k.replace('_', ' ')}" for k, n in self.records.items())
        skipped = (
            []
            if self.sealed
            else ["  no occupational health records: no data key (run `passport keys init`)"]
        )
        return [
            *skipped,
            f"passport records: {kinds}",
            f"  of which {self.lapsing_soon:,} lapse within 60 days and {self.lapsed:,} have lapsed",
            f"compliance policies: {', '.join(self.policies)}",
        ]


async def seed_passport(
    session: AsyncSession,
    world: SynthWorld,
    cast: DemoCast,
    *,
    seed: int,
    today: dt.date,
    now: dt.datetime,
    keys: DataKeyRing,
) -> PassportSeeded:
    """Write the demo records of every doctor in training of ``world`` and the three demo policies."""
    builder = _Builder(world, cast, seed=seed, today=today, now=now, keys=keys)
    holder_key = cast.holder.key if cast.holder is not None else None
    doctors: Sequence[SynthPerson] = [p for p in world.people if p.gmc_number is not None]
    cases = {person.key: case for case, person, _ in cast.colleagues}
    for person in doctors:
        builder.doctor(person, person.key == holder_key, cases.get(person.key))
    await repository.insert_records(session, builder.rows)
    await repository.append_changes(session, builder.changes)
    names = []
    for organisation, name, title, role, description, rules in demo_policies(cast):
        policy = CompliancePolicy(
            id=uuid.uuid5(NAMESPACE, f"{seed}/policy/{organisation}/{name}/1"),
            organisation_code=organisation,
            name=name,
            version=1,
            title=title,
            role=role,
            description=description,
            rules=msgspec.to_builtins(rules),
            created_at=now,
            created_by=ACTOR,
        )
        await repository.add_policy(session, policy)
        names.append(f"{title} ({organisation})")
    order = ("core_skills", "occupational_health", "training_placement", "identity_link")
    return PassportSeeded(
        records={k: builder.kinds[k] for k in order},
        lapsing_soon=builder.lapsing_soon,
        lapsed=builder.lapsed,
        policies=names,
        sealed=keys.usable,
    )
