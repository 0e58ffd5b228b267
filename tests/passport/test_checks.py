"""Record rules the types cannot express (service/passport/checks.py), as a JSON record meets them."""

import datetime as dt
from typing import Any

import msgspec
import pytest

from service.passport.checks import record_rules
from service.passport.schemas import RecordCreate, kind_of

NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
TODAY = NOW.date()
ASSURANCE = {"assurance_policy": "x", "assurance_outcome": "verified", "verification_method": "source_system"}


def issues(body: dict[str, Any]) -> dict[str, str]:
    record = msgspec.convert({"gmc_number": "7123456", **ASSURANCE, **body}, RecordCreate)
    return {
        i.field: i.reason
        for i in record_rules(kind_of(record), msgspec.structs.asdict(record), today=TODAY, now=NOW)
    }


def skill(**fields: Any) -> dict[str, Any]:
    return {
        "kind": "core_skills",
        "subject": "fire_safety",
        "date_awarded": "2026-01-05",
        "learning_provider": "ELfH",
        "learning_method": "e_learning",
        **fields,
    }


def test_a_valid_core_skill_has_no_issue() -> None:
    assert issues(skill()) == {}


def test_the_level_must_be_one_the_subject_has() -> None:
    assert issues(skill(level=2)) == {"level": "must be 1 for Fire safety"}
    assert issues(skill(subject="infection_prevention_control", level=3)) == {
        "level": "must be 1 or 2 for Infection prevention and control"
    }
    with pytest.raises(msgspec.ValidationError, match="<= 3"):
        issues(skill(level=4))


def test_date_to_after_awarded_and_awarded_not_in_the_future() -> None:
    assert issues(skill(date_to="2026-01-05")) == {"date_to": "must be after date_awarded"}
    assert issues(skill(date_to="2025-01-05")) == {"date_to": "must be after date_awarded"}
    future = issues(skill(date_awarded="2026-12-01"))
    assert future == {"date_awarded": "cannot be in the future: a subject is recorded once completed"}


def test_exactly_one_way_of_naming_the_person() -> None:
    assert issues({**skill(), "person_id": "3f6c1c5e-8d2b-4f7a-9a57-2f1d2b8c9e10"}) == {
        "person_id": "give the person's person_id or gmc_number (one of the two)"
    }


def test_last_refreshed_needs_a_zone_and_cannot_be_in_the_future() -> None:
    assert issues(skill(last_refreshed_at="2026-11-01T10:00:00")) == {
        "last_refreshed_at": "must include a time zone, e.g. 2026-11-23T09:30:00Z"
    }
    assert issues(skill(last_refreshed_at="2026-11-24T10:00:00Z")) == {
        "last_refreshed_at": "cannot be in the future"
    }
    assert issues(skill(last_refreshed_at="2026-11-23T09:33:00Z")) == {}  # a sender's clock a little ahead


def health(**fields: Any) -> dict[str, Any]:
    return {
        "kind": "occupational_health",
        "item": "hepatitis_b",
        "outcome": "immune",
        "assessed_on": "2026-10-01",
        **fields,
    }


def test_an_outcome_must_belong_to_its_item_and_is_never_echoed() -> None:
    found = issues(health(outcome="cleared"))
    assert found == {
        "outcome": "is not an outcome of hepatitis_b: must be one of immune, non_immune, non_responder, "
        "course_in_progress"
    }
    # A diagnosis typed into the outcome never reaches the rules: the pattern refuses it, naming no value.
    with pytest.raises(msgspec.ValidationError) as refused:
        issues(health(outcome="HBsAg positive, chronic carrier"))
    assert "HBsAg" not in str(refused.value)
    assert "chronic" not in str(refused.value)
    with pytest.raises(msgspec.ValidationError, match="unknown field `diagnosis`"):
        issues(health(diagnosis="HBsAg positive"))


def test_epp_clearance_needs_a_review_date_after_the_assessment() -> None:
    assert issues(health(item="epp_clearance", outcome="cleared")) == {
        "review_date": "is required for Exposure-prone procedures clearance"
    }
    assert issues(health(item="epp_clearance", outcome="cleared", review_date="2026-09-01")) == {
        "review_date": "must be after assessed_on"
    }
    assert issues(health(item="epp_clearance", outcome="cleared", review_date="2027-10-01")) == {}


def test_placement_dates() -> None:
    body = {
        "kind": "training_placement",
        "programme": "Core Surgical Training",
        "programme_start": "2025-08-06",
        "programme_end": "2027-08-03",
        "specialty": "general surgery",
        "grade": "CT2",
        "employing_body_code": "RRK",
        "site_code": "NT301",
        "start_date": "2026-08-05",
        "end_date": "2026-08-04",
    }
    assert issues(body) == {"end_date": "must be on or after start_date"}
    assert issues({**body, "start_date": "2025-01-01", "end_date": "2028-01-01"}) == {
        "start_date": "must be on or after programme_start (a placement is within its programme)",
        "end_date": "must be on or before programme_end (a placement is within its programme)",
    }


def test_identity_birth_date() -> None:
    body = {
        "kind": "identity_link",
        "given_names": "Ada",
        "family_name": "Okafor",
        "birth_date": "2015-01-01",
    }
    assert issues(body) == {"birth_date": "must be at least 16 years ago"}
    assert issues({**body, "birth_date": "1899-12-31"}) == {
        "birth_date": "must be between 1900-01-01 and 2099-12-31"
    }
    assert issues({**body, "birth_date": "1990-01-01"}) == {}
