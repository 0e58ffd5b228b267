"""Every CSV import in the OpenAPI document, sent files that are not what it reads: each answers a 4xx
problem document, never a 500 (a cell over the csv module's field limit was a 500 in one of them)."""

from typing import Any

import httpx
import msgspec
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Role
from tests.factories import client_headers, create_organisation
from tests.placements.factories import coordinator

NOT_WHAT_IT_READS: dict[str, bytes] = {
    "empty": b"",
    "only blank lines": b"\n\r\n\n",
    "a byte-order mark and CRLF": b"\xef\xbb\xbfa,b\r\n1,2\r\n",
    "Latin-1": "name\nJos\xe9\n".encode("latin-1"),
    "UTF-16": "a,b\n1,2\n".encode("utf-16"),
    "NUL characters": b"a,b\n\x00\x00,\x00\n",
    "a quote never closed": b'a,b\n"1,2\n',
    "a cell over the csv module's limit": b"a,b\n" + b"x" * 200_000 + b",1\n",
    "5,000 columns": (",".join(f"c{i}" for i in range(5000)) + "\n" + ",".join("1" * 5000) + "\n").encode(),
    "semicolons": b"a;b\n1;2\n",
    "carriage returns only": b"a,b\r1,2\r",
    "a header named twice": b"a,a\n1,2\n",
}


WELL_FORMED = b"a,b\r\n1,2\r\n"
"""CSV that no import reads (its header is wrong): answered 422 with rows once the caller may import."""


def csv_operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, address template) of every operation whose request body may be text/csv."""
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}) if isinstance(operation, dict) else {}
            if "text/csv" in body.get("content", {}):
                found.append((method.upper(), path))
    return found


async def test_no_csv_import_fails_on_a_file_it_cannot_read(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar
) -> None:
    await create_organisation(session, "RQX")
    await create_organisation(session, "Y56", kind="region")
    callers = [
        await client_headers(session, app, Role.ADMIN),
        await client_headers(session, app, Role.ISSUER, "RQX"),
        await coordinator(session, app),
    ]
    made = await client.post("/api/v1/placements/datasets", json={"name": "CSV checks"}, headers=callers[2])
    assert made.status_code == 201, made.text
    files = "/api/v1/placements/datasets/{dataset_id}/files/{kind}"
    filled = {
        files: files.format(dataset_id=made.json()["id"], kind="sites"),
        "/api/v1/records/import": "/api/v1/records/import?kind=core_skills",
    }
    document = (await client.get("/schema/openapi.json")).json()
    operations = csv_operations(document)
    assert len(operations) >= 12, operations
    for method, path in operations:
        address = filled.get(path, path)
        # the first caller the import reads a file for (a 422 naming rows, not a 403 or a 404)
        for caller in callers:
            control = await client.request(
                method, address, content=WELL_FORMED, headers={**caller, "Content-Type": "text/csv"}
            )
            if control.status_code == 422:
                break
        assert control.status_code == 422, (address, control.text[:300])
        assert msgspec.json.decode(control.content)["rows"], (address, control.text[:300])
        for name, body in NOT_WHAT_IT_READS.items():
            response = await client.request(
                method, address, content=body, headers={**caller, "Content-Type": "text/csv"}
            )
            assert 400 <= response.status_code < 500, (address, name, response.text[:300])
            assert response.headers["content-type"].startswith("application/problem+json"), (address, name)
            problem = msgspec.json.decode(response.content)
            assert problem["status"] == response.status_code
            if response.status_code == 422:
                assert problem.get("rows") or problem.get("errors"), (address, name, problem)
