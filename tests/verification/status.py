"""The scene's status list served as the registry would have signed it a moment before the answer."""

import time

from sqlalchemy.ext.asyncio import AsyncSession

from service.passport import status_list
from tests.conftest import BASE_URL
from tests.verification.factories import LIST_ID, LIST_URI, Scene


def serve_status_issued_a_second_ago(scene: Scene) -> None:
    """Serve the scene's status list with ``iat`` one second back. The verifier checks a status list's
    ``iat`` without leeway, so a list signed in the second after the answer's clock reading (as
    ``Scene.token`` signs it, at fetch time) would be refused now and then as "not yet valid"."""

    async def token(_session: AsyncSession, list_id: str) -> str | None:
        if list_id != LIST_ID:
            return None
        key = scene.keyring.signer("credential")
        return status_list.sign_token(
            scene.statuses,
            key=key.private_key,
            kid=key.kid,
            uri=LIST_URI,
            iat=int(time.time()) - 1,
            ttl=300,
            iss=BASE_URL,
        )

    scene.runtime.resolver.source.in_process = token  # type: ignore[attr-defined]
