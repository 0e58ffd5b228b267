"""Pure checks of service/additionality/csv_import.py: roster periods, overlaps, repeats, places."""

import datetime as dt
import uuid

from service.additionality import csv_import
from service.additionality.csv_import import Entry, Period
from service.workforce.schemas import OrganisationRead

D = dt.date
OFFER = Period(D(2026, 4, 1), D(2027, 3, 31))
A, B = uuid.UUID(int=1), uuid.UUID(int=2)
AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def org(code: str, kind: str, parent: str | None = None, icb: str | None = None) -> OrganisationRead:
    return OrganisationRead(
        code=code,
        name=code,
        kind=kind,
        parent_code=parent,
        icb_code=icb,
        postcode=None,
        latitude=None,
        longitude=None,
        created_at=AT,
    )


def test_an_entry_takes_the_offers_dates_where_it_gives_none_and_must_lie_within() -> None:
    assert csv_import.entry_period(None, None, OFFER) == (OFFER, [])
    assert csv_import.entry_period(D(2026, 10, 1), None, OFFER)[0] == Period(D(2026, 10, 1), OFFER.end)
    _, early = csv_import.entry_period(D(2026, 3, 31), None, OFFER)
    assert [(i.field, i.reason) for i in early] == [
        ("start_date", "must be within the offer, 2026-04-01 to 2027-03-31")
    ]
    _, after = csv_import.entry_period(None, D(2026, 3, 1), OFFER)  # ends before the offer starts
    assert [i.field for i in after] == ["end_date"]


def test_overlaps_are_per_person_and_offer_and_touching_periods_do_not_overlap() -> None:
    offer, other = uuid.UUID(int=10), uuid.UUID(int=11)
    entries = [
        Entry(2, offer, A, Period(D(2026, 4, 1), D(2026, 6, 30))),
        Entry(3, offer, A, Period(D(2026, 7, 1), D(2026, 9, 30))),  # touches row 2: fine
        Entry(4, offer, B, Period(D(2026, 4, 1), D(2026, 6, 30))),  # another person: fine
        Entry(5, other, A, Period(D(2026, 4, 1), D(2026, 6, 30))),  # another offer: fine
        Entry(6, offer, A, Period(D(2026, 9, 30), D(2026, 10, 31))),  # overlaps row 3 by a day
    ]
    stored = [(other, A, Period(D(2026, 6, 1), D(2026, 6, 1)))]  # overlaps row 5
    found = csv_import.overlap_issues(entries, stored)
    assert [(position, issue.reason.split(" of ")[0]) for position, issue in found] == [
        (5, "overlaps an entry already recorded"),
        (6, "overlaps row 3"),
    ]


def test_repeats_name_the_first_row_with_the_label_given() -> None:
    found = csv_import.repeats([(0, "x"), (1, "y"), (2, "x"), (3, "x")], "month", "key", label="rows[{}]")
    assert [(p.row, p.reason) for p in found] == [
        (2, "repeats the key of rows[0]"),
        (3, "repeats the key of rows[0]"),
    ]


def test_an_offer_is_placed_at_an_independent_site_for_an_icb() -> None:
    organisations = {
        "NT301": org("NT301", "independent_site", "NT3", "QMM"),
        "NT399": org("NT399", "independent_site", "NT3", None),
        "QMM": org("QMM", "icb", "Y56"),
        "RRK": org("RRK", "nhs_trust", "QMM", "QMM"),
    }
    placed, issues = csv_import.offer_place_issues("NT301", None, organisations)
    assert issues == []
    assert placed is not None
    assert (placed.provider_code, placed.commissioner_code) == ("NT3", "QMM")
    _, no_icb = csv_import.offer_place_issues("NT399", None, organisations)
    assert [i.reason for i in no_icb] == ["is required: no ICB is recorded for the site NT399"]
    assert csv_import.may_act_for_site("NT3", organisations["NT301"])
    assert csv_import.may_act_for_site("NT301", organisations["NT301"])
    assert not csv_import.may_act_for_site("NT9", organisations["NT301"])
    assert not csv_import.may_act_for_site(None, organisations["NT301"])


def test_only_an_organisation_itself_or_a_sites_provider_records_its_activity() -> None:
    site, trust = org("NT301", "independent_site", "NT3", "QMM"), org("RRK", "nhs_trust", "QMM", "QMM")
    assert csv_import.may_record_activity("NT3", site)
    assert csv_import.may_record_activity("RRK", trust)
    assert not csv_import.may_record_activity("QMM", trust)  # an ICB is a trust's parent, not its voice
    assert not csv_import.may_record_activity("RRK", None)
