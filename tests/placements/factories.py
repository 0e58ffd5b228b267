"""The worked example's world in the test database: organisations, doctors and clients."""

import uuid
from pathlib import Path

import httpx
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Role
from service.workforce.models import Organisation, Person
from tests.factories import client_headers, now

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "placements"
SITES = (
    ("NT301", "Example Hospital London", "QMJ", 51.525, -0.139),
    ("NT402", "Oakridge Croydon Hospital", "QWE", 51.376, -0.098),
    ("NVC11", "Clearview Stratford Eye Centre", "QMF", 51.541, -0.003),
)
DOCTORS = (
    ("7100001", "ST4", "trauma_and_orthopaedics"),
    ("7100002", "ST6", "trauma_and_orthopaedics"),
    ("7100003", "CT2", "trauma_and_orthopaedics"),
    ("7100004", "ST5", "ophthalmology"),
    ("7100005", "ST3", "trauma_and_orthopaedics"),
    ("7100006", "ST7", "trauma_and_orthopaedics"),
)


def example(name: str) -> bytes:
    return (EXAMPLE / name).read_bytes()


def _org(code: str, name: str, kind: str, parent: str | None = None, **extra: object) -> Organisation:
    return Organisation(
        code=code,
        name=name,
        kind=kind,
        parent_code=parent,
        icb_code=extra.get("icb"),
        postcode=None,
        latitude=extra.get("lat"),
        longitude=extra.get("lon"),
        created_at=now(),
    )


async def create_world(session: AsyncSession) -> dict[str, uuid.UUID]:
    """London with three ICBs, two trusts, two providers and the example's three sites; the example's
    six doctors. Returns the doctors' person ids by GMC number."""
    session.add(_org("Y56", "London", "region"))
    session.add(_org("Y59", "South East", "region"))
    await session.flush()
    for icb in ("QMJ", "QWE", "QMF"):
        session.add(_org(icb, f"ICB {icb}", "icb", "Y56"))
    await session.flush()
    session.add(_org("RRK", "Trust RRK", "nhs_trust", "QMJ", icb="QMJ"))
    session.add(_org("RJ1", "Trust RJ1", "nhs_trust", "QWE", icb="QWE"))
    session.add(_org("NT3", "Example Healthcare", "independent_provider"))
    session.add(_org("NV1", "Clearview Eye Care", "independent_provider"))
    await session.flush()
    for code, name, icb, lat, lon in SITES:
        provider = "NV1" if code.startswith("NV") else "NT3"
        session.add(_org(code, name, "independent_site", provider, icb=icb, lat=lat, lon=lon))
    ids = {}
    for number, grade, specialty in DOCTORS:
        person = Person(
            id=uuid.uuid4(),
            given_name="Dr",
            family_name=f"Trainee {number}",
            gmc_number=number,
            staff_group="medical",
            grade=grade,
            specialty=specialty,
            created_at=now(),
        )
        session.add(person)
        ids[number] = person.id
    await session.commit()
    return ids


async def coordinator(session: AsyncSession, app: Litestar, organisation: str = "Y56") -> dict[str, str]:
    return await client_headers(session, app, Role.COORDINATOR, organisation)


def csv_headers(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Content-Type": "text/csv"}


DATASET_FILES = ("sites", "capacity", "trainees", "needs", "preferences", "weights")


async def load_example(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """Load the worked example through the API; returns the dataset id."""
    for path, name in (
        ("volumes", "volumes.csv"),
        ("curriculum", "curriculum.csv"),
        ("logbook", "logbook.csv"),
    ):
        response = await client.post(
            f"/api/v1/placements/{path}", content=example(name), headers=csv_headers(headers)
        )
        assert response.status_code == 201, response.text
    response = await client.post(
        "/api/v1/placements/datasets", json={"name": "London, August 2027"}, headers=headers
    )
    assert response.status_code == 201, response.text
    dataset = str(response.json()["id"])
    for kind in DATASET_FILES:
        response = await client.post(
            f"/api/v1/placements/datasets/{dataset}/files/{kind}",
            content=example(f"{kind}.csv"),
            headers=csv_headers(headers),
        )
        assert response.status_code == 201, response.text
    return dataset
