"""Which record is current when several state the same thing (service/passport/supersession.py)."""

import datetime as dt
import uuid

from hypothesis import given
from hypothesis import strategies as st

from service.passport.supersession import Version, key_of, resolve

PEOPLE = [uuid.UUID(int=1), uuid.UUID(int=2)]
versions = st.builds(
    Version,
    id=st.uuids(version=4),
    person_id=st.sampled_from(PEOPLE),
    kind=st.sampled_from(["core_skills", "training_placement"]),
    key=st.none() | st.sampled_from(["fire_safety/1", "resuscitation/2"]),
    effective_on=st.none() | st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2027, 1, 1)),
)


def _current_existing(existing: list[Version]) -> list[Version]:
    """Existing current records have at most one per slot (the database invariant)."""
    seen: set[tuple[uuid.UUID, str, str | None]] = set()
    kept = []
    for v in existing:
        slot = (v.person_id, v.kind, v.key)
        if v.key is None or slot not in seen:
            kept.append(v)
            seen.add(slot)
    return kept


@given(st.lists(versions, max_size=6), st.lists(versions, max_size=8))
def test_one_current_record_per_thing_and_nothing_lost(
    existing: list[Version], incoming: list[Version]
) -> None:
    existing = _current_existing(existing)
    result = resolve(existing, incoming)
    assert set(result.incoming) == {v.id for v in incoming}
    by_id = {v.id: v for v in [*existing, *incoming]}
    state = {v.id: "current" for v in existing} | {i: p.state for i, p in result.incoming.items()}
    state.update(dict.fromkeys(result.replaced, "replaced"))
    successor = dict(result.replaced) | {
        i: p.superseded_by_id for i, p in result.incoming.items() if p.superseded_by_id
    }
    slots: dict[tuple[uuid.UUID, str, str], list[Version]] = {}
    for v in by_id.values():
        if v.key is not None:
            slots.setdefault((v.person_id, v.kind, v.key), []).append(v)
    for members in slots.values():
        current = [v for v in members if state[v.id] == "current"]
        assert len(current) == 1
        dated = [v.effective_on for v in members if v.effective_on is not None]
        if len(dated) == len(members):  # all dated: the latest date wins
            assert current[0].effective_on == max(dated)
    for record_id, new in successor.items():
        assert state[record_id] == "replaced"
        assert by_id[new].key == by_id[record_id].key
        assert by_id[new].person_id == by_id[record_id].person_id
    assert all(state[v.id] == "current" for v in [*existing, *incoming] if v.key is None)


def test_a_renewal_replaces_and_a_late_older_award_does_not() -> None:
    person = PEOPLE[0]
    current = Version(uuid.UUID(int=10), person, "core_skills", "fire_safety/1", dt.date(2025, 3, 1))
    renewal = Version(uuid.UUID(int=11), person, "core_skills", "fire_safety/1", dt.date(2026, 3, 1))
    late = Version(uuid.UUID(int=12), person, "core_skills", "fire_safety/1", dt.date(2024, 3, 1))
    result = resolve([current], [renewal, late])
    assert result.replaced == {current.id: renewal.id}
    assert result.incoming[renewal.id].state == "current"
    assert result.incoming[renewal.id].supersedes_id == current.id
    assert result.incoming[late.id].state == "replaced"
    assert result.incoming[late.id].superseded_by_id == renewal.id


def test_keys_of_each_kind() -> None:
    assert key_of(
        "core_skills", {"subject": "fire_safety", "level": 1, "date_awarded": dt.date(2026, 1, 2)}
    ) == (
        "fire_safety/1",
        dt.date(2026, 1, 2),
    )
    assert (
        key_of("occupational_health", {"item": "varicella", "assessed_on": dt.date(2026, 1, 2)})[0]
        == "varicella"
    )
    assert key_of("training_placement", {"site_code": "NT301", "start_date": dt.date(2026, 8, 5)}) == (
        "NT301/2026-08-05",
        dt.date(2026, 8, 5),
    )
    assert key_of("identity_link", {}) == ("identity", None)
