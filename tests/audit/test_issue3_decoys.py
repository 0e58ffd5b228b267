"""Issue 3, part 2, "with decoy digests": every ``_sd`` array of a credential the registry issues (the
payload's and each record's) and every array of records carries 1 to 3 digests no disclosure matches, and
the number varies, so a verifier cannot count what was withheld.

The existing fast-path test (tests/credentials/test_issuance.py) checks only that the payload's ``_sd`` and
the records array have at least two entries with one record; a record's own ``_sd`` was never checked,
and neither was the range.
"""

from collections import Counter
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from service.credentials import issuance
from service.passport import sdjwt
from tests.audit.helpers import register_and_fetch
from tests.credentials.test_issuance import ISSUER_KEY, job, model
from tests.verification.factories import Scene


def decoys(held: sdjwt.HeldCredential) -> list[tuple[str, int]]:
    """(where, how many digests of that place no disclosure of the credential has) for each place."""
    known = {f.disclosure.digest for f in held.found}
    places: list[tuple[str, list[str]]] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if "_sd" in node:
                places.append((f"{where}/_sd", list(node["_sd"])))
            for name, value in node.items():
                if name != "_sd":
                    walk(value, f"{where}/{name}")
        elif isinstance(node, list):
            digests = [e["..."] for e in node if isinstance(e, dict) and set(e) == {"..."}]
            if digests:
                places.append((where, digests))
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    walk(held.payload, "")
    for f in held.found:
        walk(f.disclosure.value, "/".join(map(str, f.path)))
    return [(where, sum(d not in known for d in digests)) for where, digests in places]


async def test_every_sd_array_and_record_array_the_registry_issues_has_decoys(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    texts = await register_and_fetch(client, scene.holder, ec.generate_private_key(ec.SECP256R1()))
    assert len(texts) == 4
    for kind, text in texts.items():
        found = decoys(sdjwt.HeldCredential.parse(text))
        assert found, kind
        assert all(1 <= count <= 3 for _, count in found), (kind, found)
        if kind == "core_skills":  # its two records each have their own _sd
            assert sum(where.endswith("/_sd") and where != "/_sd" for where, _ in found) == 2, found


def test_the_number_of_decoys_varies_from_one_to_three() -> None:
    claims, paths = model("core_skills", [{"a": 1, "b": 2}, {"a": 3, "b": 4}], single=False)
    seen: Counter[tuple[str, int]] = Counter()
    for _ in range(100):
        held = sdjwt.HeldCredential.parse(issuance.sign_one(job(claims, paths), ISSUER_KEY, "k1"))
        for where, count in decoys(held):
            seen[("record" if where.count("/") > 1 else where, count)] += 1
    for place in ("/_sd", "/core_skills", "record"):
        assert {count for (p, count) in seen if p == place} == {1, 2, 3}, (place, seen)
