"""Small canonical inputs for benchmark tests, written out row by row."""

import datetime as dt
from collections.abc import Sequence
from typing import Any

import polars as pl

from service.benchmark.canonical import (
    LEARNERS,
    LOGBOOK,
    ORGANISATIONS,
    PLACEMENTS,
    VOLUMES,
    BenchmarkInputs,
    make_inputs,
)

YEAR = 2025
ORGS: list[tuple[str, str, str, str | None, str | None]] = [
    ("Y56", "London", "region", None, None),
    ("Y63", "North East and Yorkshire", "region", None, None),
    ("QMJ", "North Central London ICB", "icb", "Y56", None),
    ("QHM", "North East and North Cumbria ICB", "icb", "Y63", None),
    ("RAP", "North Middlesex", "nhs_trust", "QMJ", "QMJ"),
    ("NT3", "Example Healthcare", "independent_provider", None, None),
    ("NV1", "Valley Hospitals", "independent_provider", None, None),
    ("NT301", "Example Hospital London", "independent_site", "NT3", "QMJ"),
    ("NT302", "Example Clinic Camden", "independent_site", "NT3", "QMJ"),
    ("NV101", "Valley Hospital Durham", "independent_site", "NV1", "QHM"),
]


def placement(
    person: str,
    site: str,
    start: str,
    end: str,
    *,
    grade: str | None = "ST4",
    staff_group: str = "medical",
    specialty: str | None = "trauma and orthopaedics",
    route: str = "doctors_in_training",
) -> tuple[Any, ...]:
    return (
        person,
        site,
        specialty,
        staff_group,
        grade,
        route,
        dt.date.fromisoformat(start),
        dt.date.fromisoformat(end),
    )


def inputs(
    *,
    placements: Sequence[tuple[Any, ...]] = (),
    logbook: Sequence[tuple[Any, ...]] = (),
    volumes: Sequence[tuple[Any, ...]] = (),
    learners: Sequence[tuple[Any, ...]] = (),
    organisations: Sequence[tuple[Any, ...]] = ORGS,
    year: int = YEAR,
) -> BenchmarkInputs:
    """``logbook``: (year, trainee, grade, site, specialty, supervision, entries); ``volumes``: (year,
    site, specialty, count); ``learners``: (year, provider, site, staff group, route, learners,
    placements, weeks)."""
    return make_inputs(
        year,
        organisations=pl.DataFrame(list(organisations), schema=ORGANISATIONS, orient="row"),
        placements=pl.DataFrame(list(placements), schema=PLACEMENTS, orient="row"),
        logbook=pl.DataFrame(list(logbook), schema=LOGBOOK, orient="row"),
        volumes=pl.DataFrame(list(volumes), schema=VOLUMES, orient="row"),
        learners=pl.DataFrame(list(learners), schema=LEARNERS, orient="row"),
    )


def many(
    count: int, site: str, start: str, end: str, *, first: int = 7_000_000, **kwargs: Any
) -> list[tuple[Any, ...]]:
    """``count`` placements of different people at ``site``."""
    return [placement(str(first + n), site, start, end, **kwargs) for n in range(count)]
