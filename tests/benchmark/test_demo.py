"""Demo learner submissions: deterministic, and every one passes the rules a provider's would."""

import datetime as dt

import msgspec

from service.benchmark.demo import submissions
from service.benchmark.learners import rules
from service.benchmark.schemas import LearnerSubmission
from service.workforce.synthetic import generate

TODAY = dt.date(2026, 11, 1)


def test_the_same_world_gives_the_same_submissions_and_each_is_valid() -> None:
    world = generate(0.05, 3, TODAY)
    first = submissions(world, seed=3, today=TODAY)
    assert first == submissions(world, seed=3, today=TODAY)
    assert first != submissions(world, seed=4, today=TODAY)
    sites = {o.code for o in world.organisations if o.kind == "independent_site"}
    assert {row["site_code"] for row in first} == sites
    assert {row["financial_year"] for row in first} == {2025, 2026}
    for row in first:
        fields = {k: v for k, v in row.items() if k != "id"}
        item = msgspec.convert(fields, LearnerSubmission)
        assert rules(item, 2026) == []
