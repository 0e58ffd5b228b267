"""Helpers for passport tests: a small England with a doctor, record bodies, issuer headers."""

import datetime as dt
from typing import Any

import httpx
import msgspec
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Principal, Role
from service.passport.models import Record, RecordChange
from service.workforce.models import Person
from tests.factories import client_headers
from tests.workforce.factories import Tree, create_person, create_tree

API = "/api/v1"
TODAY = dt.datetime.now(dt.UTC).date()
Headers = dict[str, str]

ASSURANCE: dict[str, Any] = {
    "assurance_policy": "NHS Employment Check Standards",
    "assurance_outcome": "verified",
    "verification_method": "source_system",
}


class World(msgspec.Struct, frozen=True):
    tree: Tree
    doctor: Person
    other: Person


async def create_world(session: AsyncSession) -> World:
    tree = await create_tree(session)
    doctor = await create_person(session, grade="ST3", specialty="general surgery", family_name="Okafor")
    other = await create_person(session, grade="CT1", specialty="anaesthetics", family_name="Bell")
    return World(tree=tree, doctor=doctor, other=other)


def core_skill(person: Person, **fields: Any) -> dict[str, Any]:
    body = {
        "kind": "core_skills",
        "gmc_number": person.gmc_number,
        "subject": "fire_safety",
        "level": 1,
        "date_awarded": (TODAY - dt.timedelta(days=100)).isoformat(),
        "learning_provider": "e-Learning for Healthcare",
        "learning_method": "e_learning",
        **ASSURANCE,
    }
    body.update(fields)
    return body


def health(person: Person, **fields: Any) -> dict[str, Any]:
    body = {
        "kind": "occupational_health",
        "person_id": str(person.id),
        "item": "hepatitis_b",
        "outcome": "immune",
        "assessed_on": (TODAY - dt.timedelta(days=30)).isoformat(),
        **ASSURANCE,
        "verification_method": "clinical_assessment",
    }
    body.update(fields)
    return body


def placement(person: Person, tree: Tree, **fields: Any) -> dict[str, Any]:
    body = {
        "kind": "training_placement",
        "gmc_number": person.gmc_number,
        "programme": "Core Surgical Training",
        "specialty": "general surgery",
        "grade": "CT2",
        "post_number": "LDN/RRK01/021/CT2/001",
        "employing_body_code": tree.trust,
        "site_code": tree.site,
        "start_date": (TODAY - dt.timedelta(days=30)).isoformat(),
        "end_date": (TODAY + dt.timedelta(days=150)).isoformat(),
        **ASSURANCE,
    }
    body.update(fields)
    return body


def identity(person: Person, **fields: Any) -> dict[str, Any]:
    body = {
        "kind": "identity_link",
        "gmc_number": person.gmc_number,
        "given_names": "Ada Chioma",
        "family_name": "Okafor",
        "birth_date": "1994-05-17",
        **ASSURANCE,
        "verification_method": "document_check",
    }
    body.update(fields)
    return body


async def issuer(session: AsyncSession, app: Litestar, organisation: str = Tree().trust) -> Headers:
    return await client_headers(session, app, Role.ISSUER, organisation)


async def admin(session: AsyncSession, app: Litestar) -> Headers:
    return await client_headers(session, app, Role.ADMIN)


def issuer_principal(organisation: str = Tree().trust, subject: str = "issuer-test") -> Principal:
    return Principal(subject=subject, kind="client", role=Role.ISSUER, organisation=organisation)


async def submit(client: httpx.AsyncClient, headers: Headers, body: Any) -> httpx.Response:
    return await client.post(f"{API}/records", json=body, headers=headers)


async def count_records(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Record)) or 0)


async def count_changes(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(RecordChange)) or 0)


def errors(response: httpx.Response) -> dict[str, str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return {e["field"]: e["reason"] for e in response.json().get("errors", [])}
