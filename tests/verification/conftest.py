"""Fixtures of the verification tests: the app with a data key, a doctor with real records and
credentials signed with the registry's credential key, a theatre-list policy, verifier and holder callers,
and the registry's own status list served in-process."""

import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service.keys import KeyRing
from service.passport.encryption import DataKeyRing
from tests.passport.conftest import app, data_keys
from tests.verification.factories import Scene, create_scene

__all__ = ["app", "data_keys", "scene"]  # the passport tests' app and data key, and the scene below


@pytest.fixture
async def scene(
    session: AsyncSession,
    app: Litestar,
    keyring: KeyRing,
    data_keys: DataKeyRing,
) -> Scene:
    return await create_scene(session, app, keyring, data_keys)
