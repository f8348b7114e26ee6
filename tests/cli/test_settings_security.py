"""Security settings: DN_CDS_AUTH, DN_CDS_TRUSTED_ISSUERS, DN_CDS_CORS_ORIGINS and the input limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds_service.settings import Settings, SettingsError
from cds_service.trust import IssuerTrust


def test_security_defaults() -> None:
    settings = Settings.from_env({})

    assert settings.auth == "required" == Settings().auth
    assert settings.trusted_issuers == ()
    assert settings.cors_origins == ()
    assert settings.max_string_chars == 262_144
    assert settings.max_array_items == 10_000


def test_security_variables_are_parsed() -> None:
    issuers = {
        "https://ehr.example.org": {
            "jwks_url": "https://ehr.example.org/.well-known/jwks.json",
            "jku": ["https://ehr.example.org/jwks/"],
            "tenants": ["t1", "t2"],
        },
        "https://other.example.com": {"jwks_file": "~/keys/other.json"},
        "urn:example:inline": {"jwks": {"keys": []}},
        "https://jku-only.example": {"jku": "https://jku-only.example/keys/"},
    }
    settings = Settings.from_env(
        {
            "DN_CDS_AUTH": " OFF ",
            "DN_CDS_TRUSTED_ISSUERS": json.dumps(issuers),
            "DN_CDS_CORS_ORIGINS": "https://Sandbox.cds-hooks.org, http://localhost:3000/",
            "DN_CDS_MAX_STRING_CHARS": "65536",
            "DN_CDS_MAX_ARRAY_ITEMS": "500",
        }
    )

    assert settings.auth == "off"
    assert settings.trusted_issuers[0] == IssuerTrust(
        issuer="https://ehr.example.org",
        jwks_url="https://ehr.example.org/.well-known/jwks.json",
        jku_prefixes=("https://ehr.example.org/jwks/",),
        tenants=("t1", "t2"),
    )
    assert settings.trusted_issuers[1].jwks_file == Path("~/keys/other.json").expanduser()
    assert settings.trusted_issuers[2].jwks_json == '{"keys": []}'
    assert settings.trusted_issuers[3].jku_prefixes == ("https://jku-only.example/keys/",)
    assert settings.cors_origins == ("https://sandbox.cds-hooks.org", "http://localhost:3000")
    assert (settings.max_string_chars, settings.max_array_items) == (65536, 500)
    assert settings == Settings.from_env(
        {
            "DN_CDS_AUTH": "off",
            "DN_CDS_TRUSTED_ISSUERS": json.dumps(issuers),
            "DN_CDS_CORS_ORIGINS": "https://sandbox.cds-hooks.org,http://localhost:3000",
            "DN_CDS_MAX_STRING_CHARS": "65536",
            "DN_CDS_MAX_ARRAY_ITEMS": "500",
        }
    )  # hashable and comparable: the settings object stays a frozen value


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DN_CDS_AUTH", "optional", "required' or 'off"),
        ("DN_CDS_TRUSTED_ISSUERS", "not json", "JSON object"),
        ("DN_CDS_TRUSTED_ISSUERS", "[]", "JSON object"),
        ("DN_CDS_TRUSTED_ISSUERS", "{}", "non-empty"),
        ("DN_CDS_TRUSTED_ISSUERS", '{"iss": "https://x.example/jwks"}', "must be an object"),
        ("DN_CDS_TRUSTED_ISSUERS", '{"iss": {}}', "needs jwks_url"),
        ("DN_CDS_TRUSTED_ISSUERS", '{"iss": {"jwks_uri": "https://x.example/"}}', "unknown key"),
        ("DN_CDS_TRUSTED_ISSUERS", '{"iss": {"jwks_url": "http://x.example/jwks"}}', "https"),
        ("DN_CDS_TRUSTED_ISSUERS", '{"iss": {"jwks_url": "https://u:p@x.example/jwks"}}', "credentials"),
        ("DN_CDS_TRUSTED_ISSUERS", '{"iss": {"jku": ["ftp://x.example/"]}}', "https"),
        (
            "DN_CDS_TRUSTED_ISSUERS",
            '{"iss": {"jwks_url": "https://x.example/j", "jwks_file": "/k"}}',
            "only one",
        ),
        ("DN_CDS_TRUSTED_ISSUERS", '{"iss": {"jwks": {"kty": "EC"}}}', "JWK Set"),
        ("DN_CDS_TRUSTED_ISSUERS", '{"iss": {"jwks_file": "/k", "tenants": [1]}}', "tenants"),
        ("DN_CDS_TRUSTED_ISSUERS", '{" ": {"jwks_file": "/k"}}', "empty"),
        ("DN_CDS_CORS_ORIGINS", "sandbox.cds-hooks.org", "origin"),
        ("DN_CDS_CORS_ORIGINS", "https://ehr.example.org/app", "origin"),
        ("DN_CDS_CORS_ORIGINS", "https://ehr.example.org?x=1", "query"),
        ("DN_CDS_MAX_STRING_CHARS", "10", "between"),
        ("DN_CDS_MAX_ARRAY_ITEMS", "many", "integer"),
    ],
)
def test_invalid_security_values_name_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=variable) as error:
        Settings.from_env({variable: value})
    assert message in str(error.value)


def test_loopback_http_key_urls_are_allowed_for_local_setups() -> None:
    settings = Settings.from_env(
        {"DN_CDS_TRUSTED_ISSUERS": '{"iss": {"jwks_url": "http://127.0.0.1:9999/jwks.json"}}'}
    )
    assert settings.trusted_issuers[0].jwks_url == "http://127.0.0.1:9999/jwks.json"


def test_an_unreadable_jwks_file_stops_start_up(tmp_path: Path) -> None:
    from cds_service import create_app

    settings = Settings(trusted_issuers=(IssuerTrust(issuer="iss", jwks_file=tmp_path / "absent.json"),))
    with pytest.raises(SettingsError, match="DN_CDS_TRUSTED_ISSUERS: issuer 'iss'"):
        create_app(settings)
