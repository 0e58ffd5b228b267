"""The application factory: the only place where controllers, plugins and handlers are wired."""

import logging
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

from litestar import Litestar, Router
from litestar.config.response_cache import ResponseCacheConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler
from swagger_ui_bundle import swagger_ui_path

import service
from service import audit, auth, health, serving, wellknown
from service.additionality.controllers import ADDITIONALITY_HANDLERS
from service.benchmark.controllers import BENCHMARK_HANDLERS
from service.config import ConfigError, Settings, load_settings
from service.credentials import service as credentials_service
from service.credentials.controllers import CREDENTIALS_HANDLERS, PUBLIC_HANDLERS
from service.db import Clock, Database, make_engine, utcnow
from service.errors import EXCEPTION_HANDLERS, document_problems
from service.keys import KeyProblem, KeyRing, KeyStore, demo_passphrase
from service.observability import add_request_id_header, configure_logging, request_id_middleware
from service.oid4vc.controllers import API_HANDLERS as OID4VC_API_HANDLERS
from service.oid4vc.controllers import PUBLIC_HANDLERS as OID4VC_PUBLIC_HANDLERS
from service.passport.controllers import PASSPORT_HANDLERS
from service.passport.encryption import DataKeyRing, open_data_keys
from service.placements.controllers import PLACEMENTS_HANDLERS
from service.verification import service as verification
from service.verification.controllers import VERIFICATION_HANDLERS
from service.web.controllers import WEB_HANDLERS
from service.web.pages import handle_unknown_address
from service.workforce.controllers import WORKFORCE_HANDLERS

API_PREFIX = "/api/v1"
SCHEMA_ASSETS = "/schema/assets"


def api_handlers() -> Sequence[ControllerRouterHandler]:
    """Controllers under ``/api/v1``; later domains add theirs here."""
    return [
        *WORKFORCE_HANDLERS,
        *PASSPORT_HANDLERS,
        *ADDITIONALITY_HANDLERS,
        *BENCHMARK_HANDLERS,
        *PLACEMENTS_HANDLERS,
        *VERIFICATION_HANDLERS,
        *CREDENTIALS_HANDLERS,
        *OID4VC_API_HANDLERS,
    ]


def open_keyring(settings: Settings, clock: Clock) -> KeyRing:
    """Open the keys; in demo mode create the passphrase and the keys on first use."""
    passphrase = settings.key_passphrase
    if passphrase is None and settings.demo_mode:
        passphrase = demo_passphrase(settings.var_dir)
    store = KeyStore(settings.keys_dir, passphrase)
    if settings.demo_mode:
        store.init(clock())
    return store.load(clock())


def _openapi(settings: Settings) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Staff Passport Registry",
        version=service.__version__,
        description=(
            "Verified staff passports for NHS and independent sector providers. Machine clients get a "
            "token at `POST /oauth/token` (client credentials) and send it as `Authorization: Bearer`."
        ),
        path="/schema",
        render_plugins=[
            SwaggerRenderPlugin(
                path="/",
                js_url=f"{SCHEMA_ASSETS}/swagger-ui-bundle.js",
                css_url=f"{SCHEMA_ASSETS}/swagger-ui.css",
                standalone_preset_js_url=f"{SCHEMA_ASSETS}/swagger-ui-standalone-preset.js",
            )
        ],
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="An access token from /oauth/token",
                )
            }
        ),
        security=[{"BearerToken": []}],
    )


def app_state(
    settings: Settings, *, database: Database, keyring: KeyRing, clock: Clock, data_keys: DataKeyRing
) -> State:
    """What the handlers find in ``app.state``: everything of one registry that is not its routes. The
    tests reuse an app they built once and give it a fresh state per test, so they do not pay for building
    the routes each time (``tests/conftest.py``, ``shared_app``)."""
    state: dict[str, Any] = {
        "settings": settings,
        "database": database,
        "keyring": keyring,
        "clock": clock,
        "data_keys": data_keys,
        "tokens": auth.TokenService(
            keyring,
            issuer=settings.issuer,
            lifetime=settings.access_token_lifetime,
            session_lifetime=settings.session_lifetime,
            clock=clock,
        ),
        "status_cache": auth.StatusCache(settings.auth_cache_seconds, clock),
        "verification": verification.create_runtime(
            settings,
            database=database,
            keyring=keyring,
            data_keys=data_keys,
            clock=clock,
            status_tokens=credentials_service.status_list_token,
        ),
    }
    return State(state)


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    keyring: KeyRing | None = None,
    clock: Clock = utcnow,
    data_keys: DataKeyRing | None = None,
    run_lifecycle: bool = False,
) -> Litestar:
    """Build the registry. Raises :class:`KeyProblem` when keys are missing or locked.

    ``run_lifecycle``: run the credential lifecycle and the notification sender in the background every
    ``PASSPORT_LIFECYCLE_INTERVAL`` seconds (``passport serve`` does; tests drive it themselves)."""
    if keyring is None:
        keyring = open_keyring(settings, clock)
    if data_keys is None:
        data_keys = open_data_keys(settings, clock())
        if not data_keys.usable:
            logging.getLogger("service.passport").warning(
                "no data key: occupational health records are refused until `passport keys init` makes one"
            )
    owns_database = database is None
    db = database or Database(make_engine(settings.database_url, pool_size=settings.db_pool_size))

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        from service.credentials.worker import background

        try:
            async with background(app.state, enabled=run_lifecycle):
                yield
        finally:
            app.state["verification"].writer.close()  # its own SQLite connection and lock file
            if owns_database:
                await db.dispose()

    app = Litestar(
        route_handlers=[
            health.live,
            health.ready,
            wellknown.jwks,
            wellknown.token_jwks,
            wellknown.oauth_metadata,
            auth.token_endpoint,
            *PUBLIC_HANDLERS,
            *OID4VC_PUBLIC_HANDLERS,
            Router(API_PREFIX, route_handlers=list(api_handlers())),
            *WEB_HANDLERS,
            create_static_files_router(
                SCHEMA_ASSETS,
                directories=[Path(str(swagger_ui_path))],
                include_in_schema=False,
                name="schema_assets",
            ),
        ],
        dependencies={
            "db_session": Provide(audit.provide_db_session),
            "principal": Provide(auth.provide_principal),
        },
        # An unknown address: an HTML page for a browser, problem details for a program.
        exception_handlers={**EXCEPTION_HANDLERS, NotFoundException: handle_unknown_address},
        after_exception=[audit.record_refusal],
        before_send=[add_request_id_header],
        middleware=[request_id_middleware],
        openapi_config=_openapi(settings),
        state=app_state(settings, database=db, keyring=keyring, clock=clock, data_keys=data_keys),
        lifespan=[lifespan],
        request_max_body_size=settings.max_body_bytes,
        response_cache_config=ResponseCacheConfig(default_expiration=60),
        debug=False,
        logging_config=None,
    )
    document_problems(app)
    _document_closed_requests(app)
    return app


CLOSED_REQUEST_OPERATIONS: Final = frozenset({"respond_to_presentation_request", "verify_presentations"})
"""Verification routes that refuse an answered (409) or expired (410) presentation request; the OpenID4VP
routes declare it on their decorators (service/oid4vc/controllers.py)."""


def _document_closed_requests(app: Litestar) -> None:
    """Say in the API document that these routes answer 409 and 410 (the 409 said for what it means here,
    not as the common "conflicts with existing data"). Here rather than on their decorators only because
    service/verification/ is another engineer's; it belongs with the decorators."""
    from litestar.routes import HTTPRoute

    from service.oid4vc.controllers import CLOSED_REQUEST

    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                if handler.operation_id in CLOSED_REQUEST_OPERATIONS:
                    handler.responses = {**(handler.responses or {}), **CLOSED_REQUEST}


def create_app_from_env() -> Litestar:
    """Factory for ``uvicorn --factory`` and ``passport serve``: settings from the environment."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        sys.stderr.write(f"passport: configuration error: {exc}\n")
        raise SystemExit(2) from None
    configure_logging(settings.log_level)
    try:
        app = create_app(settings, run_lifecycle=settings.lifecycle_interval > 0)
    except KeyProblem as exc:
        sys.stderr.write(f"passport: keys: {exc}\n")
        raise SystemExit(1) from None
    # Everything made at start-up (modules, the app, SQLAlchemy's and Litestar's structures: about a
    # million objects) lives as long as the process: out of the collector's reach, a full collection
    # walks only what requests made since, a few milliseconds instead of 100 to 350 ms that stalled
    # every request of the worker (the p99 of verification over HTTP; decision 0039). What the first
    # requests make to keep is frozen after warm-up, and young collections are rarer (decision 0049).
    serving.tune_collector()
    return app
