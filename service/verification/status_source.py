"""Where the verifier gets status list tokens, and the per-process cache of verified lists.

A :class:`StatusSource` answers "the status list token at this URI". The registry's own lists
(``<PASSPORT_PUBLIC_BASE_URL>/status-lists/<id>``) are read in-process through the credentials
domain's service (no HTTP round trip to ourselves); any other URI is fetched over HTTPS (nothing else),
with a time limit and a size limit. :class:`StatusResolver` verifies each token (``typ``, signature by
a registry credential key, ``sub``, ``iss``, times) and keeps its list in a
:class:`~service.passport.status_list.StatusListCache` until its ``ttl`` runs out, so a busy verifier
reads each list once per ``ttl``, not once per verification.
"""

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Final, Protocol

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from service import jws
from service.db import Database
from service.passport.status_list import (
    CredentialStatus,
    StatusListCache,
    StatusListError,
    StatusReference,
    verify_token,
)

log = logging.getLogger("service.verification")

TOKEN_MEDIA_TYPE: Final = "application/statuslist+jwt"  # noqa: S105 - a media type
MAX_TOKEN_BYTES: Final = 4 * 1024 * 1024
FETCH_TIMEOUT: Final = 3.0
RETRY_AFTER_FAILURE: Final = 5
"""Seconds a list that could not be fetched or verified is not asked for again (it stays unavailable)."""
_LIST_ID: Final = re.compile(r"^[A-Za-z0-9_-]{1,80}$(?!\n)")

InProcessTokens = Callable[[AsyncSession, str], Awaitable[str | None]]
"""The credentials domain's ``status_list_token(session, list_id)``: the token of one of our lists."""


class StatusSource(Protocol):
    async def token(self, uri: str) -> str | None:
        """The status list token published at ``uri``, or None when there is none to be had."""
        ...


class RegistryStatusSource:
    """Own lists in-process (``in_process``), others over HTTPS."""

    def __init__(
        self,
        *,
        base_url: str,
        database: Database,
        in_process: InProcessTokens | None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.prefix = base_url.rstrip("/") + "/status-lists/"
        self.database = database
        self.in_process = in_process
        self._http = http

    async def token(self, uri: str) -> str | None:
        if uri.startswith(self.prefix):
            list_id = uri[len(self.prefix) :]
            if self.in_process is None or not _LIST_ID.match(list_id):
                return None
            async with self.database.session(write=False) as session:  # it only reads the token
                return await self.in_process(session, list_id)
        if not uri.startswith("https://"):
            return None
        return await self._fetch(uri)

    async def _fetch(self, uri: str) -> str | None:
        client = self._http or httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=False)
        try:
            async with client.stream("GET", uri, headers={"Accept": TOKEN_MEDIA_TYPE}) as response:
                if response.status_code != 200:
                    return None
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_TOKEN_BYTES:
                        return None
                return body.decode("ascii", errors="replace").strip()
        except httpx.HTTPError:
            log.warning("status list fetch failed")
            return None
        finally:
            if self._http is None:
                await client.aclose()


class StatusResolver:
    """Verified status lists by URI, fetched through ``source`` when missing or older than their ``ttl``."""

    def __init__(
        self,
        source: StatusSource,
        keys: jws.KeySource,
        *,
        issuer: str,
        default_ttl: int = 300,
        leeway: int = 0,
    ):
        self.source = source
        self.leeway = leeway
        """Seconds of clock difference allowed on a list token's ``iat`` and ``exp``, as on credentials'
        (``PASSPORT_VERIFICATION_LEEWAY``): a list signed in the same second as a check, or by a registry
        whose clock runs a little ahead, is still a genuine list."""
        self.keys = keys
        self.issuer = issuer
        self.cache = StatusListCache(default_ttl=default_ttl)
        self._locks: dict[str, asyncio.Lock] = {}
        self._failed: dict[str, int] = {}

    def lookup_at(self, now: int, missed: set[str]) -> Callable[[StatusReference], CredentialStatus]:
        """A status lookup for the verifier at ``now``; URIs not in the cache are added to ``missed``."""
        cache = self.cache

        def lookup(ref: StatusReference) -> CredentialStatus:
            found = cache.lookup(ref, now=now)
            if found is CredentialStatus.UNAVAILABLE:
                until = cache.fresh_until(ref.uri)
                if until is None or now >= until:
                    missed.add(ref.uri)
            return found

        return lookup

    async def refresh(self, uris: Iterable[str], *, now: int) -> bool:
        """Fetch and verify the lists at ``uris``; True when at least one new list was cached."""
        changed = False
        for uri in uris:
            changed = await self._refresh_one(uri, now) or changed
        return changed

    async def _refresh_one(self, uri: str, now: int) -> bool:
        if self._failed.get(uri, 0) > now:
            return False
        lock = self._locks.setdefault(uri, asyncio.Lock())
        async with lock:
            until = self.cache.fresh_until(uri)
            if until is not None and now < until:
                return True  # another request fetched it meanwhile
            token = await self.source.token(uri)
            if token is None:
                self._failed[uri] = now + RETRY_AFTER_FAILURE
                return False
            try:
                verified = verify_token(
                    token, self.keys, uri=uri, now=now, iss=self.issuer, leeway=self.leeway
                )
            except StatusListError as exc:
                log.warning("status list token refused: %s", exc.code)
                self._failed[uri] = now + RETRY_AFTER_FAILURE
                return False
            self.cache.put(verified, fetched_at=now)
            self._failed.pop(uri, None)
            return True

    def forget(self) -> None:
        """Drop every cached list (tests; an operator's signal after a key compromise)."""
        self.cache = StatusListCache(default_ttl=self.cache.default_ttl)
        self._failed.clear()
