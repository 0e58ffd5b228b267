"""Settings read from ``PASSPORT_*`` environment variables.

One frozen struct, validated at start-up. A missing or malformed value raises
:class:`ConfigError` naming the variable and what is expected; the CLI prints that one
line and exits non-zero.
"""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec

PREFIX = "PASSPORT_"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every setting of the registry. Field ``x`` is read from ``PASSPORT_X``."""

    database_url: str = "sqlite+aiosqlite:///var/passport.db"
    """SQLAlchemy async URL: ``sqlite+aiosqlite:///path`` or ``postgresql+asyncpg://user@host/db``."""
    var_dir: Path = Path("var")
    """Folder for the embedded database, demo passphrase and demo client secrets."""
    keys_dir: Path = Path("keys")
    """Folder holding encrypted private keys."""
    key_passphrase: str | None = None
    """Passphrase of the private keys; required unless demo mode is on."""
    public_base_url: str = "http://127.0.0.1:8000"
    """External URL of the registry: token issuer, ``iss`` of credentials, links in pages."""
    access_token_lifetime: Annotated[int, msgspec.Meta(ge=30, le=3600)] = 300
    """Seconds an API access token lives."""
    session_lifetime: Annotated[int, msgspec.Meta(ge=60, le=86400)] = 28800
    """Seconds a web sign-in session lives."""
    auth_cache_seconds: Annotated[int, msgspec.Meta(ge=0, le=60)] = 5
    """Seconds each server process trusts its last check that a client is not revoked (or a web user
    not disabled); a revocation takes effect within this time. 0: checked on every request."""
    demo_mode: bool = False
    native: bool = True
    """False: run the verifier's hot path as plain Python even where it is compiled (decision 0047). Read
    by :mod:`service.native` when the ``service`` package is first imported."""
    """Demo mode: generated key passphrase, demo sign-in page, demo data. Never in production."""
    log_level: LogLevel = "INFO"
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1024 * 1024 * 1024)] = 10 * 1024 * 1024
    """Largest accepted request body (CSV imports included)."""
    db_pool_size: Annotated[int, msgspec.Meta(ge=1, le=200)] = 10
    """Database connections per worker (PostgreSQL: as many again in overflow; SQLite: exactly this)."""
    oidc_issuer: str | None = None
    """OpenID Connect provider for people signing in to web pages (its issuer URL)."""
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    credential_lifetime_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 365
    """Longest life of a credential; a retired signing key stays published this long."""
    presentation_request_lifetime: Annotated[int, msgspec.Meta(ge=30, le=7 * 86400)] = 900
    """Seconds a verifier's presentation request can be answered (its nonce's life)."""
    verification_leeway: Annotated[int, msgspec.Meta(ge=0, le=600)] = 60
    """Seconds of clock difference tolerated on credentials' and key-binding JWTs' times."""
    key_binding_max_age: Annotated[int, msgspec.Meta(ge=10, le=3600)] = 300
    """Oldest key-binding JWT a verification accepts, in seconds (its ``iat`` freshness)."""
    credential_alg: Literal["ES256", "EdDSA"] = "ES256"
    """Algorithm of the credential key that signs new credentials and status lists."""
    lifecycle_interval: Annotated[int, msgspec.Meta(ge=0, le=86400)] = 60
    """Seconds between passes of the credential lifecycle inside ``passport serve`` (0: not run there)."""
    smtp_url: str | None = None
    """Where the notification sender sends mail: ``smtp://[user:password@]host[:port]`` (``smtps://``
    for TLS); unset outside demo mode: notifications wait in the outbox."""

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def issuer(self) -> str:
        return self.public_base_url.rstrip("/")


class ConfigError(Exception):
    """A setting is missing or malformed. ``str()`` is the one line to print."""

    def __init__(self, variable: str, expected: str) -> None:
        self.variable = variable
        self.expected = expected
        super().__init__(f"{variable}: {expected}")


_EXPECTED: dict[str, str] = {
    "database_url": "an SQLAlchemy async URL starting with sqlite+aiosqlite:// or postgresql+asyncpg://",
    "var_dir": "a folder path",
    "keys_dir": "a folder path",
    "key_passphrase": "a passphrase of at least 12 characters",
    "public_base_url": "an absolute http(s) URL without query or fragment, e.g. https://passport.example.nhs.uk",
    "access_token_lifetime": "a whole number of seconds from 30 to 3600",
    "session_lifetime": "a whole number of seconds from 60 to 86400",
    "auth_cache_seconds": "a whole number of seconds from 0 to 60",
    "demo_mode": "true or false",
    "native": "true or false",
    "log_level": "one of DEBUG, INFO, WARNING, ERROR",
    "max_body_bytes": "a whole number of bytes from 1024 to 1073741824",
    "db_pool_size": "a whole number from 1 to 200",
    "oidc_issuer": "an absolute https URL of an OpenID Connect provider",
    "oidc_client_id": "the client id registered with the OpenID Connect provider",
    "oidc_client_secret": "the client secret registered with the OpenID Connect provider",
    "credential_lifetime_days": "a whole number of days from 1 to 3650",
    "presentation_request_lifetime": "a whole number of seconds from 30 to 604800",
    "verification_leeway": "a whole number of seconds from 0 to 600",
    "key_binding_max_age": "a whole number of seconds from 10 to 3600",
    "credential_alg": "ES256 or EdDSA",
    "lifecycle_interval": "a whole number of seconds from 0 to 86400 (0: the server does not run it)",
    "smtp_url": "an smtp:// or smtps:// URL with a host, e.g. smtp://mail.example.nhs.uk:587",
}


def _variable(field: str) -> str:
    return PREFIX + field.upper()


def _fields() -> tuple[str, ...]:
    return Settings.__struct_fields__


def _raw_values(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in _fields():
        raw = env.get(_variable(field))
        if raw is None or not raw.strip():  # empty or blank: not set
            continue
        if field in ("demo_mode", "native"):  # booleans, in the same words
            lowered = raw.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ConfigError(_variable(field), _EXPECTED[field])
            values[field] = lowered in {"1", "true", "yes", "on"}
        elif field == "log_level":
            values[field] = raw.strip().upper()
        else:
            values[field] = raw.strip()
    return values


def _decode_path(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError


def _check_url(value: str, *, https_only: bool) -> bool:
    parts = urlsplit(value)
    schemes = {"https"} if https_only else {"http", "https"}
    return parts.scheme in schemes and bool(parts.netloc) and not parts.query and not parts.fragment


def _validate(settings: Settings) -> None:
    if not settings.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ConfigError(_variable("database_url"), _EXPECTED["database_url"])
    if not _check_url(settings.public_base_url, https_only=False):
        raise ConfigError(_variable("public_base_url"), _EXPECTED["public_base_url"])
    if settings.key_passphrase is not None and len(settings.key_passphrase) < 12:
        raise ConfigError(_variable("key_passphrase"), _EXPECTED["key_passphrase"])
    for field in ("var_dir", "keys_dir"):
        folder: Path = getattr(settings, field)
        if folder.exists() and not folder.is_dir():
            raise ConfigError(_variable(field), _EXPECTED[field] + f" ({folder} is not a folder)")
    smtp = urlsplit(settings.smtp_url) if settings.smtp_url is not None else None
    if smtp is not None and (smtp.scheme not in {"smtp", "smtps"} or not smtp.hostname):
        raise ConfigError(_variable("smtp_url"), _EXPECTED["smtp_url"])
    if settings.oidc_issuer is not None:
        localhost = urlsplit(settings.oidc_issuer).hostname in {"127.0.0.1", "localhost", "::1"}
        if not _check_url(settings.oidc_issuer, https_only=not localhost):
            raise ConfigError(_variable("oidc_issuer"), _EXPECTED["oidc_issuer"])
        for field in ("oidc_client_id", "oidc_client_secret"):
            if not getattr(settings, field):
                raise ConfigError(_variable(field), "required when PASSPORT_OIDC_ISSUER is set")


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read, convert and validate the settings; raise :class:`ConfigError` on the first bad one."""
    source = os.environ if env is None else env
    unknown = sorted(
        name for name in source if name.startswith(PREFIX) and name[len(PREFIX) :].lower() not in _fields()
    )
    # Variables used only by tests and tools are tolerated; anything else is probably a typo.
    unknown = [name for name in unknown if not name.startswith(PREFIX + "TEST_")]
    if unknown:
        raise ConfigError(unknown[0], "is not a known setting (see the configuration table in README.md)")
    values = _raw_values(source)
    values.update(overrides)
    try:
        settings = msgspec.convert(values, Settings, strict=False, dec_hook=_decode_path)
    except msgspec.ValidationError as exc:
        field = _failed_field(str(exc))
        if field is None:
            raise ConfigError(PREFIX + "*", str(exc)) from None
        raise ConfigError(_variable(field), _EXPECTED.get(field, str(exc))) from None
    _validate(settings)
    return settings


def _failed_field(message: str) -> str | None:
    # msgspec reports the failing path as "... - at `$.field`"
    marker = "`$."
    start = message.find(marker)
    if start < 0:
        return None
    end = message.find("`", start + len(marker))
    field = message[start + len(marker) : end]
    return field if field in _fields() else None


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting: the README table is checked against this."""
    defaults = Settings()
    rows = []
    for field in _fields():
        default = getattr(defaults, field)
        rows.append((_variable(field), "" if default is None else str(default), _EXPECTED[field]))
    return rows
