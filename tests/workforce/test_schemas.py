"""The format rules: property-based where the input space is large (codes, GMC numbers, postcodes, text)."""

import datetime as dt
import string
import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from service.workforce import models
from service.workforce.schemas import (
    ORGANISATION_KINDS,
    EmploymentCreate,
    GmcNumber,
    Issue,
    Name,
    OdsCode,
    OrganisationCreate,
    PersonCreate,
    check_employment,
    check_organisation,
    check_organisation_references,
    check_person,
    normalise_ods,
    normalise_postcode,
)

ALNUM = string.ascii_letters + string.digits


def accepts(annotation: Any, value: str) -> bool:
    try:
        msgspec.convert(value, annotation)
    except msgspec.ValidationError:
        return False
    return True


def test_kinds_match_the_table() -> None:
    assert ORGANISATION_KINDS == models.ORGANISATION_KINDS


# ---------------------------------------------------------------- ODS codes and GMC numbers

near_ods = st.one_of(
    st.text(max_size=8),
    st.text(alphabet=ALNUM, min_size=2, max_size=7),
    st.from_regex(r"[A-Za-z0-9]{3,6}[\n ]", fullmatch=True),
)


@given(near_ods)
@example("RRK\n")
@example("rrß")
@example("\uff32\uff32\uff2b")  # full-width RRK
def test_ods_code_is_exactly_3_to_6_ascii_letters_or_digits(text: str) -> None:
    is_code = 3 <= len(text) <= 6 and all(c in ALNUM for c in text)
    assert (normalise_ods(text) is not None) == is_code
    assert accepts(OdsCode, text) == is_code, "the wire type and the validator agree"
    if is_code:
        assert normalise_ods(text) == text.upper()


@given(st.one_of(st.text(max_size=9), st.text(alphabet="0123456789\n", max_size=9)))
@example("1234567\n")
@example("\u0661\u0662\u0663\u0664\u0665\u0666\u0667")
def test_gmc_number_is_exactly_seven_ascii_digits(text: str) -> None:
    assert accepts(GmcNumber, text) == (len(text) == 7 and all(c in string.digits for c in text))


# ---------------------------------------------------------------- postcodes

FIRST = st.sampled_from("ABCDEFGHIJKLMNOPRSTUWYZ")
SECOND = st.sampled_from("ABCDEFGHKLMNOPQRSTUVWXY")
DIGIT = st.sampled_from(string.digits)
INWARD_LETTER = st.sampled_from("ABDEFGHJLNPQRSTUWXYZ")


@st.composite
def postcodes(draw: st.DrawFn) -> str:
    """Valid postcodes in canonical form, in each of the six outward formats."""
    shape = draw(st.sampled_from(["A9", "A99", "AA9", "AA99", "A9A", "AA9A"]))
    outward = draw(FIRST)
    if shape.startswith("AA"):
        outward += draw(SECOND)
    outward += draw(DIGIT)
    if shape in ("A99", "AA99"):
        outward += draw(DIGIT)
    if shape == "A9A":
        outward += draw(st.sampled_from("ABCDEFGHJKPSTUW"))
    if shape == "AA9A":
        outward += draw(st.sampled_from("ABEHMNPRVWXY"))
    return f"{outward} {draw(DIGIT)}{draw(INWARD_LETTER)}{draw(INWARD_LETTER)}"


@given(postcodes(), st.data())
def test_any_spacing_and_case_of_a_postcode_normalises_to_it(postcode: str, data: st.DataObject) -> None:
    assert normalise_postcode(postcode) == postcode
    compact = postcode.replace(" ", "")
    cut = data.draw(st.integers(0, len(compact)))
    spaced = compact[:cut] + data.draw(st.sampled_from(["", " ", "  ", "\t"])) + compact[cut:]
    varied = "".join(c.lower() if data.draw(st.booleans()) else c for c in spaced)
    assert normalise_postcode(f" {varied} ") == postcode


@given(st.text(max_size=12))
@example("SW1A 1AA")
@example("GIR 0AA")
@example("\u017fw1a 1aa")  # long s: upper-cases to S
def test_postcode_normalisation_is_idempotent_and_canonical(text: str) -> None:
    once = normalise_postcode(text)
    if once is not None:
        assert normalise_postcode(once) == once
        outward, inward = once.split(" ")
        assert once.isascii()
        assert once == once.upper()
        assert len(inward) == 3
        assert 2 <= len(outward) <= 4


@pytest.mark.parametrize(
    "text", ["SW1A1AA", "sw1a 1aa", "EC1A 1BB", "W1A 0AX", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT"]
)
def test_real_postcodes_are_accepted(text: str) -> None:
    assert normalise_postcode(text) is not None


@pytest.mark.parametrize(
    "text", ["", "SW1A", "QA1 1AA", "V1 1AA", "X1 1AA", "SW1A 1AC", "SW1A 1IA", "AA1 1AAA", "12345"]
)
def test_non_postcodes_are_refused(text: str) -> None:
    assert normalise_postcode(text) is None


# ---------------------------------------------------------------- free text


@given(st.text(min_size=1, max_size=200))
@example("Okafor\n")
@example(" Okafor")
@example("O'Brien-Smith")
def test_names_are_refused_exactly_when_they_hold_control_characters_or_surrounding_space(text: str) -> None:
    control = any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)
    assert accepts(Name, text) == (not control and text.strip() == text and text != "")


# ---------------------------------------------------------------- rules across fields


def organisation(**change: Any) -> OrganisationCreate:
    fields = {"code": "rap", "name": "A trust", "kind": "nhs_trust", "parent_code": "qop", **change}
    return msgspec.convert(fields, OrganisationCreate)


def test_organisation_is_normalised() -> None:
    normalised, issues = check_organisation(organisation(postcode="n181qx"))
    assert issues == []
    assert (normalised.code, normalised.parent_code, normalised.icb_code) == ("RAP", "QOP", "QOP")
    assert normalised.postcode == "N18 1QX"
    site, _ = check_organisation(organisation(kind="independent_site", parent_code="np1"))
    assert site.icb_code is None, "only a trust's ICB defaults to its parent"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"kind": "region"}, [Issue("parent_code", "must be empty: a region has no parent")]),
        ({"parent_code": None}, [Issue("parent_code", "is required: the ICB of this NHS trust")]),
        ({"kind": "icb", "icb_code": "QMM"}, ["icb_code"]),
        (
            {"latitude": 51.5},
            [Issue("longitude", "latitude and longitude go together: give both or neither")],
        ),
        ({"postcode": "nowhere"}, ["postcode"]),
    ],
)
def test_organisation_rules(change: dict[str, Any], expected: list[Any]) -> None:
    _, issues = check_organisation(organisation(**change))
    if expected and isinstance(expected[0], str):
        assert [i.field for i in issues] == expected
    else:
        assert issues == expected


def test_references_must_exist_and_be_of_the_right_kind() -> None:
    kinds = {"QOP": "icb", "Y56": "region", "NP1": "independent_provider"}
    trust, _ = check_organisation(organisation())
    assert check_organisation_references(trust, kinds.get) == []
    under_region, _ = check_organisation(organisation(parent_code="Y56"))
    assert check_organisation_references(under_region, kinds.get) == [
        Issue("parent_code", "must be an ICB, but Y56 is a region")
    ]
    site, _ = check_organisation(organisation(kind="independent_site", parent_code="NP1", icb_code="ZZZ"))
    assert check_organisation_references(site, kinds.get) == [
        Issue("icb_code", "no organisation has the code ZZZ")
    ]


def test_doctors_in_training_are_medical_staff() -> None:
    nurse = msgspec.convert(
        {"given_name": "A", "family_name": "B", "staff_group": "nursing", "grade": "FY1"}, PersonCreate
    )
    assert [i.field for i in check_person(nurse)[1]] == ["staff_group"]


def employment(**change: Any) -> EmploymentCreate:
    fields = {"organisation_code": "rrk", "role": "FY1", "staff_group": "medical", "contracted_sessions": 10}
    return EmploymentCreate(
        **{**fields, "start_date": dt.date(2026, 8, 5), "gmc_number": "7000001", **change}
    )


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({}, []),
        ({"gmc_number": None}, ["person_id"]),
        ({"person_id": uuid.uuid4()}, ["gmc_number"]),
        ({"end_date": dt.date(2026, 8, 4)}, ["end_date"]),
        ({"end_date": dt.date(2026, 8, 5)}, []),
        ({"start_date": dt.date(1899, 12, 31)}, ["start_date"]),
    ],
)
def test_employment_rules(change: dict[str, Any], fields: list[str]) -> None:
    normalised, issues = check_employment(employment(**change))
    assert [i.field for i in issues] == fields
    assert normalised.organisation_code == "RRK"
