"""Settings from PASSPORT_* variables (service/config.py): every bad value is one clear line."""

from pathlib import Path

import pytest

from service.config import ConfigError, Settings, describe, load_settings

OIDC_OK = {
    "PASSPORT_OIDC_ISSUER": "https://login.example.nhs.uk",
    "PASSPORT_OIDC_CLIENT_ID": "passport",
    "PASSPORT_OIDC_CLIENT_SECRET": "oidc-secret",
}
REQUIRED_WITH_ISSUER = "required when PASSPORT_OIDC_ISSUER is set"

# (variable, bad value, other variables set, what the message must say; None = the describe() text)
BAD: list[tuple[str, str, dict[str, str], str | None]] = [
    ("PASSPORT_DATABASE_URL", "mysql://user@host/passport", {}, None),
    ("PASSPORT_DATABASE_URL", "sqlite:///var/passport.db", {}, None),
    ("PASSPORT_DATABASE_URL", "postgresql://user@host/passport", {}, None),
    ("PASSPORT_VAR_DIR", "{a_file}", {}, None),
    ("PASSPORT_KEYS_DIR", "{a_file}", {}, None),
    ("PASSPORT_KEY_PASSPHRASE", "short", {}, None),
    ("PASSPORT_PUBLIC_BASE_URL", "passport.example.nhs.uk", {}, None),
    ("PASSPORT_PUBLIC_BASE_URL", "ftp://passport.example.nhs.uk", {}, None),
    ("PASSPORT_PUBLIC_BASE_URL", "https://passport.example.nhs.uk/?x=1", {}, None),
    ("PASSPORT_PUBLIC_BASE_URL", "https://passport.example.nhs.uk/#top", {}, None),
    ("PASSPORT_ACCESS_TOKEN_LIFETIME", "five minutes", {}, None),
    ("PASSPORT_ACCESS_TOKEN_LIFETIME", "29", {}, None),
    ("PASSPORT_ACCESS_TOKEN_LIFETIME", "3601", {}, None),
    ("PASSPORT_ACCESS_TOKEN_LIFETIME", "300.5", {}, None),
    ("PASSPORT_SESSION_LIFETIME", "59", {}, None),
    ("PASSPORT_SESSION_LIFETIME", "86401", {}, None),
    ("PASSPORT_AUTH_CACHE_SECONDS", "-1", {}, None),
    ("PASSPORT_AUTH_CACHE_SECONDS", "61", {}, None),
    ("PASSPORT_AUTH_CACHE_SECONDS", "5s", {}, None),
    ("PASSPORT_DEMO_MODE", "maybe", {}, None),
    ("PASSPORT_LOG_LEVEL", "loud", {}, None),
    ("PASSPORT_MAX_BODY_BYTES", "10MB", {}, None),
    ("PASSPORT_MAX_BODY_BYTES", "1023", {}, None),
    ("PASSPORT_DB_POOL_SIZE", "0", {}, None),
    ("PASSPORT_DB_POOL_SIZE", "201", {}, None),
    ("PASSPORT_OIDC_ISSUER", "http://login.example.nhs.uk", OIDC_OK, None),
    ("PASSPORT_OIDC_ISSUER", "login.example.nhs.uk", OIDC_OK, None),
    ("PASSPORT_OIDC_CLIENT_ID", "", OIDC_OK, REQUIRED_WITH_ISSUER),
    ("PASSPORT_OIDC_CLIENT_ID", "   ", OIDC_OK, REQUIRED_WITH_ISSUER),
    ("PASSPORT_OIDC_CLIENT_SECRET", "", OIDC_OK, REQUIRED_WITH_ISSUER),
    ("PASSPORT_CREDENTIAL_LIFETIME_DAYS", "0", {}, None),
    ("PASSPORT_CREDENTIAL_LIFETIME_DAYS", "3651", {}, None),
    ("PASSPORT_CREDENTIAL_ALG", "HS256", {}, None),
    ("PASSPORT_CREDENTIAL_ALG", "none", {}, None),
    ("PASSPORT_LIFECYCLE_INTERVAL", "-1", {}, None),
    ("PASSPORT_LIFECYCLE_INTERVAL", "a minute", {}, None),
    ("PASSPORT_SMTP_URL", "mail.example.nhs.uk", {}, None),
    ("PASSPORT_SMTP_URL", "http://mail.example.nhs.uk", {}, None),
    ("PASSPORT_PRESENTATION_REQUEST_LIFETIME", "29", {}, None),
    ("PASSPORT_PRESENTATION_REQUEST_LIFETIME", "a week", {}, None),
    ("PASSPORT_VERIFICATION_LEEWAY", "-1", {}, None),
    ("PASSPORT_VERIFICATION_LEEWAY", "601", {}, None),
    ("PASSPORT_KEY_BINDING_MAX_AGE", "9", {}, None),
    ("PASSPORT_KEY_BINDING_MAX_AGE", "3601", {}, None),
    ("PASSPORT_NATIVE", "sometimes", {}, None),
]
EXPECTED = {variable: expected for variable, _, expected in describe()}


def test_every_setting_has_a_malformed_case() -> None:
    assert {row[0] for row in BAD} == set(EXPECTED)
    assert set(EXPECTED) == {"PASSPORT_" + name.upper() for name in Settings.__struct_fields__}


@pytest.mark.parametrize(
    ("variable", "value", "others", "expected"), BAD, ids=[f"{row[0]}={row[1]!r}" for row in BAD]
)
def test_malformed_value_names_the_variable_and_what_is_expected(
    tmp_path: Path, variable: str, value: str, others: dict[str, str], expected: str | None
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    env = {**others, variable: value.format(a_file=a_file)}
    with pytest.raises(ConfigError) as refused:
        load_settings(env)
    message = str(refused.value)
    assert refused.value.variable == variable
    assert message.startswith(f"{variable}: ")
    assert (expected or EXPECTED[variable]) in message
    assert "\n" not in message


def test_unknown_variable_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^PASSPORT_FOO: is not a known setting"):
        load_settings({"PASSPORT_FOO": "1"})
    with pytest.raises(ConfigError, match=r"^PASSPORT_DATABASEURL: "):
        load_settings({"PASSPORT_DATABASEURL": "sqlite+aiosqlite:///x.db"})


def test_test_variables_and_other_programs_variables_are_ignored() -> None:
    assert load_settings({"PASSPORT_TEST_POSTGRES_URL": "postgresql://x", "HOME": "/root"}) == Settings()


@pytest.mark.parametrize("missing", ["PASSPORT_OIDC_CLIENT_ID", "PASSPORT_OIDC_CLIENT_SECRET"])
def test_oidc_issuer_requires_client_id_and_secret(missing: str) -> None:
    env = {k: v for k, v in OIDC_OK.items() if k != missing}
    with pytest.raises(ConfigError, match=f"^{missing}: {REQUIRED_WITH_ISSUER}$"):
        load_settings(env)
    settings = load_settings(OIDC_OK)
    assert (settings.oidc_issuer, settings.oidc_client_id) == ("https://login.example.nhs.uk", "passport")


def test_oidc_issuer_may_be_plain_http_on_localhost_only() -> None:
    env = {**OIDC_OK, "PASSPORT_OIDC_ISSUER": "http://127.0.0.1:9000/realms/test"}
    assert load_settings(env).oidc_issuer == "http://127.0.0.1:9000/realms/test"


def test_defaults_load_from_an_empty_environment() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.demo_mode is False
    assert settings.key_passphrase is None
    assert settings.oidc_issuer is None
    for variable, default, _ in describe():
        field = variable.removeprefix("PASSPORT_").lower()
        value = getattr(settings, field)
        assert ("" if value is None else str(value)) == default


def test_empty_or_blank_value_means_not_set() -> None:
    assert load_settings({"PASSPORT_KEY_PASSPHRASE": "", "PASSPORT_LOG_LEVEL": "  "}) == Settings()


def test_good_values_are_converted(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "PASSPORT_DATABASE_URL": "postgresql+asyncpg://passport@db.internal/passport",
            "PASSPORT_VAR_DIR": str(tmp_path),
            "PASSPORT_KEYS_DIR": str(tmp_path / "not-yet-created"),
            "PASSPORT_KEY_PASSPHRASE": " twelve chars ok ",
            "PASSPORT_PUBLIC_BASE_URL": "https://passport.example.nhs.uk/",
            "PASSPORT_ACCESS_TOKEN_LIFETIME": "600",
            "PASSPORT_DEMO_MODE": "Yes",
            "PASSPORT_LOG_LEVEL": "debug",
            "PASSPORT_DB_POOL_SIZE": "20",
        }
    )
    assert settings.is_sqlite is False
    assert settings.var_dir == tmp_path
    assert settings.keys_dir == tmp_path / "not-yet-created"
    assert settings.key_passphrase == "twelve chars ok"
    assert settings.issuer == "https://passport.example.nhs.uk"
    assert settings.access_token_lifetime == 600
    assert settings.demo_mode is True
    assert settings.log_level == "DEBUG"
    assert settings.db_pool_size == 20


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("on", True), ("false", False), ("0", False)])
def test_demo_mode_spellings(raw: str, expected: bool) -> None:
    assert load_settings({"PASSPORT_DEMO_MODE": raw}).demo_mode is expected
