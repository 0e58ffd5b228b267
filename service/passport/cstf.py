"""The Core Skills Training Framework (CSTF): its subjects, their levels and default renewal periods.

Pure module. The subjects and levels are the framework's; the renewal period of each subject and level
is data that an admin changes through the API (``PUT /api/v1/cstf-subjects/{subject}``), seeded with
the defaults below by the migration. The defaults are common NHS practice, not a national rule (check
them against the framework version your organisation follows): most subjects every three years,
resuscitation, information governance and level-2 infection prevention every year.
"""

import datetime as dt
from calendar import monthrange
from typing import Final, Literal, NamedTuple, get_args

SubjectCode = Literal[
    "equality_diversity_human_rights",
    "health_safety_welfare",
    "conflict_resolution",
    "fire_safety",
    "infection_prevention_control",
    "information_governance",
    "moving_handling",
    "safeguarding_adults",
    "safeguarding_children",
    "resuscitation",
    "preventing_radicalisation",
]
SUBJECT_CODES: Final = get_args(SubjectCode)


class Subject(NamedTuple):
    code: str
    name: str
    levels: tuple[int, ...]
    default_renewal_months: tuple[int, ...]
    """Default renewal period in months, one per level (same order as ``levels``)."""


SUBJECTS: Final[dict[str, Subject]] = {
    s.code: s
    for s in (
        Subject("equality_diversity_human_rights", "Equality, diversity and human rights", (1,), (36,)),
        Subject("health_safety_welfare", "Health, safety and welfare", (1,), (36,)),
        Subject("conflict_resolution", "NHS conflict resolution", (1,), (36,)),
        Subject("fire_safety", "Fire safety", (1,), (24,)),
        Subject("infection_prevention_control", "Infection prevention and control", (1, 2), (36, 12)),
        Subject("information_governance", "Information governance and data security", (1,), (12,)),
        Subject("moving_handling", "Moving and handling", (1, 2), (36, 24)),
        Subject("safeguarding_adults", "Safeguarding adults", (1, 2, 3), (36, 36, 36)),
        Subject("safeguarding_children", "Safeguarding children", (1, 2, 3), (36, 36, 36)),
        Subject("resuscitation", "Resuscitation", (1, 2, 3), (12, 12, 12)),
        Subject("preventing_radicalisation", "Preventing radicalisation", (1, 2, 3), (36, 36, 36)),
    )
}
"""Every CSTF subject by code, in the framework's order."""

MIN_RENEWAL_MONTHS: Final = 1
MAX_RENEWAL_MONTHS: Final = 120


def subject_name(code: str) -> str:
    """The subject's name ("Fire safety"), or the code itself for an unknown code."""
    subject = SUBJECTS.get(code)
    return subject.name if subject is not None else code


def describe(code: str, level: int) -> str:
    """ "Fire safety" for a one-level subject, "Resuscitation level 2" otherwise."""
    subject = SUBJECTS.get(code)
    if subject is None or len(subject.levels) == 1:
        return subject_name(code)
    return f"{subject.name} level {level}"


def levels_text(code: str) -> str:
    """The subject's levels in words: "1", "1 or 2", "1, 2 or 3"."""
    levels = [str(level) for level in SUBJECTS[code].levels]
    return levels[0] if len(levels) == 1 else ", ".join(levels[:-1]) + " or " + levels[-1]


def default_periods() -> list[tuple[str, int, int]]:
    """``(subject, level, months)`` for every subject and level: the seed of the reference table."""
    return [
        (s.code, level, months)
        for s in SUBJECTS.values()
        for level, months in zip(s.levels, s.default_renewal_months, strict=True)
    ]


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus whole calendar months; the 31st becomes the last day of a shorter month.

    2025-01-31 + 1 month is 2025-02-28; 2024-02-29 + 12 months is 2025-02-28.
    """
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, monthrange(year, month)[1]))
