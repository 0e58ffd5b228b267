"""Credentials issued by the registry's own code to the test wallet's keys, and policy strategies."""

import datetime as dt
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from service import jws
from service.passport import claims, sdjwt, status_list
from service.passport.cstf import SUBJECTS
from service.passport.schemas import (
    OH_OUTCOMES,
    RECORD_KINDS,
    CoreSkillsRule,
    IdentityLinkRule,
    OccupationalHealthRule,
    RecordRead,
    Rule,
)
from tests.factories import load_test_key
from tests.oid4vc.wallet import HolderKey
from tests.passport.strategies import ON, ORGANISATIONS, PERSON, SITES, rules

BASE = "https://passport.nhs.example"
NOW = 1_796_000_000
"""2026-11-30: a fixed clock."""
SITE = "NT301"


def issuer_key() -> jws.PrivateKey:
    return load_test_key("es256-test.pem")


def kid_of(key: jws.PrivateKey) -> str:
    return jws.jwk_thumbprint(jws.public_jwk(key.public_key()))


def claim_sets(records: Sequence[RecordRead], on: dt.date = ON) -> dict[str, claims.ClaimSet]:
    built = {
        kind: claims.build_claims(
            kind, PERSON, records, base_url=BASE, on=on, organisation_names=ORGANISATIONS
        )
        for kind in RECORD_KINDS
    }
    return {kind: c for kind, c in built.items() if c is not None}


def issue(claim_set: claims.ClaimSet, holder: HolderKey, *, index: int = 7) -> str:
    """The SD-JWT VC the registry would issue for ``claim_set``, bound to the wallet's key."""
    key = issuer_key()
    payload: dict[str, Any] = {
        "iss": BASE,
        "iat": NOW - 60,
        "exp": NOW + 365 * 86400,
        "vct": claim_set.vct,
        "status": status_list.status_claim(f"{BASE}/status-lists/1", index),
        **claim_set.claims,
    }
    issued = sdjwt.issue(
        payload, claim_set.disclosable, key=key, kid=kid_of(key), holder_jwk=holder.public_jwk()
    )
    return issued.combined()


def issuer_lookup() -> Any:
    key = issuer_key()
    return jws.VerificationKey(jws.algorithm_of(key), key.public_key(), kid_of(key))


policies = st.lists(rules, min_size=1, max_size=4)


def _around(data: st.DataObject, on: dt.date) -> dt.date:
    return on + dt.timedelta(days=data.draw(st.integers(min_value=-400, max_value=400)))


def records_for(data: st.DataObject, rules: Sequence[Rule], on: dt.date) -> list[RecordRead]:
    """Records of a holder who often, not always, meets ``rules`` on ``on``: what each rule asks about,
    with dates, levels and outcomes either side of what it accepts, plus an unrelated record or two."""
    from tests.passport.strategies import outcome, person_identity, post, skill

    records: list[RecordRead] = []
    n = iter(range(1, 1000))
    for rule in rules:
        if isinstance(rule, CoreSkillsRule):
            for requirement in rule.subjects:
                if data.draw(st.integers(0, 9)) == 0:
                    continue
                until = _around(data, on)
                level = data.draw(st.sampled_from(SUBJECTS[requirement.subject].levels))
                records.append(
                    skill(requirement.subject, until - dt.timedelta(days=365), until, level=level, n=next(n))
                )
        elif isinstance(rule, OccupationalHealthRule):
            result = data.draw(st.sampled_from(rule.accepted) | st.sampled_from(OH_OUTCOMES[rule.item]))
            review = _around(data, on) if rule.item == "epp_clearance" or data.draw(st.booleans()) else None
            records.append(outcome(rule.item, result, review=review, n=next(n)))
        elif isinstance(rule, IdentityLinkRule):
            records.append(
                person_identity(gmc=data.draw(st.sampled_from(["7123456", "7123456", None])), n=next(n))
            )
        else:
            site = data.draw(st.sampled_from([rule.site_code or SITE, *SITES]))
            start = _around(data, on)
            specialty = data.draw(
                st.sampled_from([*(rule.specialties or []), "general surgery", "anaesthetics"])
            )
            records.append(post(site, start, start + dt.timedelta(days=180), specialty=specialty, n=next(n)))
    records.append(outcome("varicella", data.draw(st.sampled_from(OH_OUTCOMES["varicella"])), n=next(n)))
    records.append(
        skill("moving_handling", on - dt.timedelta(days=30), on + dt.timedelta(days=300), n=next(n))
    )
    return records
