"""DCQL (service/oid4vc/dcql.py): claims path pointers, selection, checking, and queries from policies."""

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from service.oid4vc import dcql
from service.passport import policy, presentation, sdjwt
from service.passport.claims import vct
from service.passport.schemas import (
    CoreSkillsRule,
    IdentityLinkRule,
    OccupationalHealthRule,
    PlacementRule,
    RecordRead,
    Rule,
    SubjectRequirement,
)
from tests.oid4vc import wallet
from tests.oid4vc.helpers import BASE, NOW, SITE, claim_sets, issue, issuer_lookup, policies, records_for
from tests.passport.strategies import holder_records, outcome, person_identity, post, skill

# The example credential of OpenID4VP 1.0 section 7.4.
DENT: dict[str, Any] = {
    "name": "Arthur Dent",
    "address": {"street_address": "42 Market Street", "locality": "Milliways", "postal_code": "12345"},
    "degrees": [
        {"type": "Bachelor of Science", "university": "University of Betelgeuse"},
        {"type": "Master of Science", "university": "University of Betelgeuse"},
    ],
    "nationalities": ["British", "Betelgeusian"],
}


@pytest.mark.parametrize(
    ("path", "selected"),
    [
        (["name"], {("name",): "Arthur Dent"}),
        (["address"], {("address",): DENT["address"]}),
        (["address", "street_address"], {("address", "street_address"): "42 Market Street"}),
        (
            ["degrees", None, "type"],
            {("degrees", 0, "type"): "Bachelor of Science", ("degrees", 1, "type"): "Master of Science"},
        ),
        (["nationalities", 1], {("nationalities", 1): "Betelgeusian"}),
    ],
)
def test_the_specification_examples_of_claims_path_pointers(
    path: list[Any], selected: dict[Any, Any]
) -> None:
    assert dict(dcql.process_path(DENT, path) or []) == selected


@pytest.mark.parametrize(
    "path",
    [
        ["name", "first"],
        ["address", None],
        ["degrees", "type"],
        ["nationalities", 5],
        ["birth_date"],
        ["degrees", 0, "x"],
    ],
)
def test_a_pointer_that_meets_the_wrong_node_or_nothing_selects_nothing(path: list[Any]) -> None:
    assert dcql.process_path(DENT, path) is None


def test_values_match_only_the_same_json_type() -> None:
    claims = {"flag": True, "count": 1, "word": "1"}
    assert dcql.select_claim(claims, dcql.ClaimQuery(path=["flag"], values=[1])) == []
    assert dcql.select_claim(claims, dcql.ClaimQuery(path=["count"], values=[True])) == []
    assert dcql.select_claim(claims, dcql.ClaimQuery(path=["word"], values=[1])) == []
    assert dcql.select_claim(claims, dcql.ClaimQuery(path=["count"], values=[2, 1])) == [("count",)]


def _credential(**members: Any) -> dict[str, Any]:
    return {"vct": "https://example/pid", "cnf": {"jwk": {}}, **members}


def _query(*credentials: dict[str, Any], sets: list[dict[str, Any]] | None = None) -> dcql.DcqlQuery:
    data: dict[str, Any] = {"credentials": list(credentials)}
    if sets is not None:
        data["credential_sets"] = sets
    return dcql.parse_query(data)


def _pid(query_id: str, *claims: dict[str, Any], **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": query_id,
        "format": "dc+sd-jwt",
        "meta": {"vct_values": ["https://example/pid"]},
    }
    if claims:
        entry["claims"] = list(claims)
    return {**entry, **extra}


def test_claim_sets_give_the_first_option_that_can_be_met() -> None:
    query = _query(
        _pid(
            "pid",
            {"id": "over", "path": ["age_over_18"]},
            {"id": "birth", "path": ["birth_date"]},
            claim_sets=[["over"], ["birth"]],
        )
    )
    assert dcql.select(query, [_credential(birth_date="1990-01-01")]).matches["pid"][0].paths == (
        ("birth_date",),
    )
    both = _credential(birth_date="1990-01-01", age_over_18=True)
    assert dcql.select(query, [both]).matches["pid"][0].paths == (("age_over_18",),)
    assert not dcql.select(query, [_credential()]).satisfied


def test_without_claims_only_the_mandatory_parts_are_asked_for() -> None:
    selection = dcql.select(_query(_pid("pid")), [_credential(name="x")])
    assert selection.matches["pid"][0].paths == ()


def test_credential_sets_return_one_option_per_set_and_optional_sets_when_they_can_be_met() -> None:
    query = _query(
        _pid("pid", {"path": ["name"]}),
        {"id": "card", "format": "dc+sd-jwt", "meta": {"vct_values": ["https://example/card"]}},
        _pid("other", {"path": ["nickname"]}),
        sets=[{"options": [["other"], ["pid"]]}, {"options": [["card"]], "required": False}],
    )
    selection = dcql.select(query, [_credential(name="Ada")])
    assert selection.satisfied
    assert set(selection.matches) == {"pid"}
    card = {"vct": "https://example/card", "cnf": {"jwk": {}}}
    assert set(dcql.select(query, [_credential(name="Ada"), card]).matches) == {"pid", "card"}
    refused = dcql.select(query, [card])
    assert not refused.satisfied
    assert refused.matches == {}
    assert "pid: a credential of type https://example/pid is asked for" in refused.reasons


def test_a_credential_without_holder_binding_answers_only_a_query_that_allows_it() -> None:
    unbound = {"vct": "https://example/pid", "name": "Ada"}
    assert not dcql.select(_query(_pid("pid", {"path": ["name"]})), [unbound]).satisfied
    relaxed = _query(_pid("pid", {"path": ["name"]}, require_cryptographic_holder_binding=False))
    assert dcql.select(relaxed, [unbound]).satisfied


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"credentials": []}, "credentials"),
        ({"credentials": [_pid("a b")]}, "credentials[0].id"),
        ({"credentials": [_pid("a"), _pid("a")]}, "credentials[1].id"),
        ({"credentials": [_pid("a", {"path": []})]}, "credentials[0].claims[0].path"),
        ({"credentials": [_pid("a", {"path": ["x", -1]})]}, "credentials[0].claims[0].path[1]"),
        ({"credentials": [_pid("a", {"path": ["x"], "values": []})]}, "credentials[0].claims[0].values"),
        ({"credentials": [_pid("a", {"path": ["x"]}, claim_sets=[["x"]])]}, "credentials[0].claims"),
        (
            {"credentials": [_pid("a", {"id": "x", "path": ["x"]}, claim_sets=[["y"]])]},
            "credentials[0].claim_sets[0]",
        ),
        (
            {"credentials": [_pid("a")], "credential_sets": [{"options": [["b"]]}]},
            "credential_sets[0].options[0]",
        ),
        ({"credentials": [{"id": "a", "format": "dc+sd-jwt"}]}, "dcql_query"),
        ({"credentials": [_pid("a", {"path": [True]})]}, "dcql_query"),
    ],
)
def test_an_invalid_query_is_refused_naming_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(dcql.DcqlError) as refused:
        dcql.parse_query(data)
    assert refused.value.field == field


def test_unknown_members_are_ignored_and_the_specification_example_parses() -> None:
    example = {
        "credentials": [
            {
                "id": "my_credential",
                "format": "dc+sd-jwt",
                "meta": {"vct_values": ["https://credentials.example.com/identity_credential"]},
                "claims": [
                    {"path": ["last_name"]},
                    {"path": ["first_name"]},
                    {"path": ["address", "street_address"]},
                ],
                "trusted_authorities": [{"type": "aki", "values": ["s9tIpPmhxdiuNkHMEWNpYim8S8Y"]}],
            }
        ],
        "future_extension": {"x": 1},
    }
    query = dcql.parse_query(json.dumps(example))
    assert [c.path for c in query.credentials[0].claims or []] == [
        ["last_name"],
        ["first_name"],
        ["address", "street_address"],
    ]


# ---------------------------------------------------------------- from a compliance policy

THEATRE: list[Rule] = [
    CoreSkillsRule(
        subjects=[
            SubjectRequirement(subject="fire_safety"),
            SubjectRequirement(subject="resuscitation", min_level=2),
        ]
    ),
    OccupationalHealthRule(item="epp_clearance", accepted=["cleared"]),
    OccupationalHealthRule(item="hepatitis_b", accepted=["immune"]),
    IdentityLinkRule(),
    PlacementRule(),
]


def test_a_policy_becomes_one_credential_query_per_type_with_values_for_what_picks_records() -> None:
    query = dcql.query_for_policy(THEATRE, SITE, base_url=BASE).to_builtins()
    assert [c["id"] for c in query["credentials"]] == [
        "core_skills",
        "occupational_health",
        "identity_link",
        "training_placement",
    ]
    assert "credential_sets" not in query
    core, health, identity, placement = query["credentials"]
    assert core["format"] == "dc+sd-jwt"
    assert core["meta"] == {"vct_values": [vct(BASE, "core_skills")]}
    assert core["claims"] == [
        {"path": ["holder_id"]},
        {"path": ["core_skills", None, "subject"], "values": ["fire_safety", "resuscitation"]},
        {"path": ["core_skills", None, "level"]},
        {"path": ["core_skills", None, "date_to"]},
    ]
    assert health["claims"] == [
        {"path": ["holder_id"]},
        {"path": ["occupational_health", None, "item"], "values": ["epp_clearance", "hepatitis_b"]},
        {"path": ["occupational_health", None, "outcome"], "values": ["cleared", "immune"]},
        {"path": ["occupational_health", None, "review_date"]},
    ]
    assert identity["claims"] == [{"path": ["holder_id"]}, {"path": ["identity", "gmc_number"]}]
    assert placement["claims"][1] == {"path": ["placements", None, "site"], "values": [SITE]}
    assert dcql.rules_by_query(THEATRE, SITE) == {
        "core_skills": [1],
        "occupational_health": [2, 3],
        "identity_link": [4],
        "training_placement": [5],
    }


def test_one_credential_needs_no_holder_id_and_an_unrestricted_need_drops_the_values() -> None:
    rules: list[Rule] = [
        PlacementRule(specialties=["general surgery"]),
        PlacementRule(site_code="RRK"),
    ]
    query = dcql.query_for_policy(rules, SITE, base_url=BASE)
    assert next(c.path for c in query.credentials[0].claims or []) == ["placements", None, "site"]
    claims = {tuple(c.path): c.values for c in query.credentials[0].claims or []}
    assert claims[("placements", None, "site")] == [SITE, "RRK"]
    assert claims[("placements", None, "specialty")] == ["general surgery"]


def _present_all(
    records: list[RecordRead], query: dcql.DcqlQuery
) -> tuple[dict[str, list[str]], list[Any], Any]:
    """The wallet's answer to ``query`` from credentials the registry issued for ``records``."""
    sets = claim_sets(records)
    keys = [wallet.HolderKey.generate() for _ in sets]
    helds = [wallet.parse_sd_jwt(issue(c, k)) for c, k in zip(sets.values(), keys, strict=True)]
    request = {
        "dcql_query": query.to_builtins(),
        "client_id": "decentralized_identifier:did:web:r.example",
        "nonce": "n-0S6",
    }
    return wallet.answer(request, helds, keys, iat=NOW), helds, sets


def _verified(vp_token: dict[str, list[str]]) -> dict[str, list[dcql.Presented]]:
    lookup = issuer_lookup()
    found: dict[str, list[dcql.Presented]] = {}
    for name, items in vp_token.items():
        for text in items:
            report = presentation.verify_presentation(
                text,
                issuer_keys=lookup,
                status=None,
                audience="decentralized_identifier:did:web:r.example",
                nonce="n-0S6",
                now=NOW,
                nonce_unused=lambda _: True,
            )
            assert report.valid, report.failures
            assert report.claims is not None
            found.setdefault(name, []).append(
                dcql.Presented(vct=report.vct, claims=report.claims, key_bound=True)
            )
    return found


def test_the_wallet_discloses_only_what_the_query_selects() -> None:
    records: list[RecordRead] = [
        outcome("hepatitis_b", "immune", n=1),
        outcome("varicella", "non_immune", n=2),
        outcome("tuberculosis", "cleared", n=3),
        skill("fire_safety", dt.date(2026, 3, 1), dt.date(2028, 3, 1), n=4),
    ]
    rules: list[Rule] = [OccupationalHealthRule(item="hepatitis_b", accepted=["immune"])]
    vp_token, _, _ = _present_all(records, dcql.query_for_policy(rules, SITE, base_url=BASE))
    assert set(vp_token) == {"occupational_health"}
    shown = _verified(vp_token)["occupational_health"][0].claims
    assert shown["occupational_health"] == [{"item": "hepatitis_b", "outcome": "immune"}]
    assert "holder_id" not in shown


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(holder_records(), policies, st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2028, 1, 1)))
def test_any_holder_any_policy_the_query_decides_as_disclosing_everything(
    records: list[RecordRead], rules: list[Rule], on: dt.date
) -> None:
    _decides_as_everything(records, rules, on)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies, st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2027, 12, 1)), st.data())
def test_a_holder_near_the_policy_the_query_decides_as_disclosing_everything(
    rules: list[Rule], on: dt.date, data: st.DataObject
) -> None:
    _decides_as_everything(records_for(data, rules, on), rules, on)


def _decides_as_everything(records: list[RecordRead], rules: list[Rule], on: dt.date) -> None:
    query = dcql.query_for_policy(rules, SITE, base_url=BASE)
    full = {kind: c.claims for kind, c in claim_sets(records).items()}
    by_all = policy.evaluate(rules, full, on, organisation_code=SITE)
    try:
        vp_token, helds, sets = _present_all(records, query)
    except wallet.WalletError:
        event("the wallet cannot answer")
        # The wallet cannot answer: then the registry's selection says so too, and the policy fails anyway.
        assert not dcql.select(
            query,
            [
                wallet.parse_sd_jwt(issue(c, wallet.HolderKey.generate())).claims
                for c in claim_sets(records).values()
            ],
        ).satisfied
        assert not by_all.passed
        return
    # The independent wallet and the registry's selection choose the same credentials and claims.
    selection = dcql.select(query, [h.claims for h in helds])
    assert selection.satisfied
    assert set(selection.matches) == set(vp_token)
    mine = {name: {p for m in matches for p in m.paths} for name, matches in selection.matches.items()}
    theirs = {name: set(paths) for name, (_, paths) in wallet.match_query(query.to_builtins(), helds).items()}
    assert mine == theirs
    presented = _verified(vp_token)
    event("answered; the policy " + ("passes" if by_all.passed else "fails"))
    assert dcql.check_response(query, presented) == []
    disclosed = {name: items[0].claims for name, items in presented.items()}
    by_query = policy.evaluate(rules, disclosed, on, organisation_code=SITE)
    assert [r.passed for r in by_query.rules] == [r.passed for r in by_all.rules]
    assert set(sets) >= set(vp_token)


# ---------------------------------------------------------------- the verifier's check


def _theatre_response() -> tuple[dcql.DcqlQuery, dict[str, list[dcql.Presented]]]:
    records: list[RecordRead] = [
        skill("fire_safety", dt.date(2026, 3, 1), dt.date(2028, 3, 1), n=1),
        skill("resuscitation", dt.date(2026, 3, 1), dt.date(2027, 3, 1), level=2, n=2),
        outcome("epp_clearance", "cleared", review=dt.date(2028, 1, 1), n=3),
        outcome("hepatitis_b", "immune", n=4),
        person_identity(),
        post(SITE, dt.date(2026, 8, 5), dt.date(2027, 2, 2)),
    ]
    query = dcql.query_for_policy(THEATRE, SITE, base_url=BASE)
    vp_token, _, _ = _present_all(records, query)
    return query, _verified(vp_token)


def test_a_complete_answer_passes_the_check() -> None:
    query, presented = _theatre_response()
    assert dcql.check_response(query, presented) == []


def test_every_shortfall_of_an_answer_is_named() -> None:
    query, presented = _theatre_response()
    missing = {k: v for k, v in presented.items() if k != "identity_link"}
    assert dcql.check_response(query, missing) == ["identity_link: not presented"]
    extra = {**presented, "photo": presented["identity_link"]}
    assert dcql.check_response(query, extra) == ["photo: the query asked for no such credential"]
    twice = {**presented, "identity_link": presented["identity_link"] * 2}
    assert dcql.check_response(query, twice) == ["identity_link: 2 presentations where one is asked for"]
    item = presented["core_skills"][0]
    wrong_type = {
        **presented,
        "core_skills": [dcql.Presented(vct=vct(BASE, "identity_link"), claims=item.claims, key_bound=True)],
    }
    assert dcql.check_response(query, wrong_type) == [
        f"core_skills: a credential of type {vct(BASE, 'core_skills')} is asked for"
    ]
    unbound = {
        **presented,
        "core_skills": [dcql.Presented(vct=item.vct, claims=item.claims, key_bound=False)],
    }
    assert dcql.check_response(query, unbound) == [
        "core_skills: a presentation with key binding is asked for"
    ]
    stripped = {k: v for k, v in item.claims.items() if k != "core_skills"}
    fewer = {**presented, "core_skills": [dcql.Presented(vct=item.vct, claims=stripped, key_bound=True)]}
    assert dcql.check_response(query, fewer) == [
        "core_skills: no core_skills/*/subject claim of fire_safety, resuscitation; "
        "no core_skills/*/level claim; no core_skills/*/date_to claim"
    ]


def test_a_presentation_made_from_the_registry_s_own_selection_checks_out() -> None:
    records: list[RecordRead] = [person_identity()]
    query = dcql.query_for_policy(
        [IdentityLinkRule(claims=["gmc_number", "family_name"])], SITE, base_url=BASE
    )
    sets = claim_sets(records)
    holder = wallet.HolderKey.generate()
    held = sdjwt.HeldCredential.parse(issue(sets["identity_link"], holder))
    selection = dcql.select(query, [held.claims])
    assert selection.matches["identity_link"][0].paths == (
        ("identity", "gmc_number"),
        ("identity", "family_name"),
    )
    shown = sdjwt.unblind(held.payload, held.select(selection.matches["identity_link"][0].paths)).claims
    assert shown["identity"] == {"gmc_number": "7123456", "family_name": "Okafor"}
