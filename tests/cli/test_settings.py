"""Settings.from_env: DN_CDS_* variables, parsed and checked once at start-up (architecture.md section 6)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cds_service import create_app
from cds_service.app import local_date, zone_clock
from cds_service.settings import Settings, SettingsError


def test_defaults_when_nothing_is_set() -> None:
    settings = Settings.from_env({})
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.public_base_url == ""
    assert settings.base_url == "http://127.0.0.1:8080"
    assert settings.workers == 2
    assert settings.log_level == "INFO"
    assert settings.max_body_bytes == 5 * 1024 * 1024
    assert settings.local_order_codes == frozenset()
    assert settings.timezone == "UTC"
    assert settings.zone is UTC
    assert settings.data_dir.is_absolute()
    assert "dn-cds" in settings.data_dir.parts
    assert settings == Settings(data_dir=settings.data_dir)


def test_an_explicit_mapping_ignores_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DN_CDS_PORT", "9443")
    monkeypatch.setenv("DN_CDS_HOST", "10.20.30.40")
    assert Settings.from_env({}).port == 8080
    assert Settings.from_env({}).host == "127.0.0.1"
    assert Settings.from_env().port == 9443


def test_unrelated_variables_are_ignored() -> None:
    settings = Settings.from_env({"PORT": "1234", "HOST": "0.0.0.0", "DN_CDS_UNKNOWN": "x"})  # noqa: S104
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)


def test_every_variable_is_parsed() -> None:
    settings = Settings.from_env(
        {
            "DN_CDS_HOST": "cds.internal.example.org",
            "DN_CDS_PORT": "8443",
            "DN_CDS_PUBLIC_BASE_URL": "https://cds.example.org/dry-needling/",
            "DN_CDS_WORKERS": "8",
            "DN_CDS_LOG_LEVEL": "debug",
            "DN_CDS_MAX_BODY_BYTES": "1048576",
            "DN_CDS_LOCAL_ORDER_CODES": (
                "http://ehr.example.org/fhir/CodeSystem/orderables|DN-LUMBAR,"
                " urn:oid:1.2.840.114350.1.13.1|77321"
            ),
            "DN_CDS_DATA_DIR": "/var/lib/dn-cds",
            "DN_CDS_TIMEZONE": " America/Chicago ",
        }
    )
    assert settings.host == "cds.internal.example.org"
    assert settings.port == 8443
    assert settings.public_base_url == "https://cds.example.org/dry-needling/"
    assert settings.base_url == "https://cds.example.org/dry-needling"
    assert settings.workers == 8
    assert settings.log_level == "DEBUG"
    assert settings.max_body_bytes == 1048576
    assert settings.local_order_codes == {
        ("http://ehr.example.org/fhir/CodeSystem/orderables", "DN-LUMBAR"),
        ("urn:oid:1.2.840.114350.1.13.1", "77321"),
    }
    assert settings.data_dir == Path("/var/lib/dn-cds")
    assert settings.timezone == "America/Chicago"
    assert settings.zone == ZoneInfo("America/Chicago")


@pytest.mark.parametrize(
    ("environ", "base_url"),
    [
        pytest.param({}, "http://127.0.0.1:8080", id="default"),
        pytest.param({"DN_CDS_HOST": "0.0.0.0"}, "http://127.0.0.1:8080", id="all-interfaces"),  # noqa: S104
        pytest.param(
            {"DN_CDS_HOST": "0.0.0.0", "DN_CDS_PORT": "9000"},  # noqa: S104
            "http://127.0.0.1:9000",
            id="all-interfaces-custom-port",
        ),
        pytest.param({"DN_CDS_HOST": "::"}, "http://127.0.0.1:8080", id="ipv6-all-interfaces"),
        pytest.param(
            {"DN_CDS_HOST": "cds.local", "DN_CDS_PORT": "80"}, "http://cds.local:80", id="named-host"
        ),
        pytest.param({"DN_CDS_HOST": "  "}, "http://127.0.0.1:8080", id="blank-host"),
        pytest.param(
            {"DN_CDS_PUBLIC_BASE_URL": "https://cds.example.org/"},
            "https://cds.example.org",
            id="public-trailing-slash",
        ),
        pytest.param(
            {"DN_CDS_PUBLIC_BASE_URL": "https://cds.example.org///"},
            "https://cds.example.org",
            id="public-many-slashes",
        ),
        pytest.param(
            {"DN_CDS_PUBLIC_BASE_URL": "  https://cds.example.org/dn  "},
            "https://cds.example.org/dn",
            id="public-padded",
        ),
        pytest.param(
            {"DN_CDS_PUBLIC_BASE_URL": "http://localhost:8080"},
            "http://localhost:8080",
            id="public-with-port",
        ),
        pytest.param(
            {"DN_CDS_PUBLIC_BASE_URL": "https://cds.example.org", "DN_CDS_HOST": "0.0.0.0"},  # noqa: S104
            "https://cds.example.org",
            id="public-wins-over-host",
        ),
        pytest.param(
            {"DN_CDS_PUBLIC_BASE_URL": "   ", "DN_CDS_PORT": "8081"},
            "http://127.0.0.1:8081",
            id="blank-public-ignored",
        ),
    ],
)
def test_base_url_derivation(environ: dict[str, str], base_url: str) -> None:
    assert Settings.from_env(environ).base_url == base_url


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PORT", "1", 1),
        ("PORT", "65535", 65535),
        ("PORT", " 8443 ", 8443),
        ("WORKERS", "1", 1),
        ("WORKERS", "64", 64),
        ("MAX_BODY_BYTES", "1024", 1024),
        ("LOG_LEVEL", "warning", "WARNING"),
        ("LOG_LEVEL", "Error", "ERROR"),
    ],
    ids=lambda value: str(value).strip(),
)
def test_values_at_the_edges_are_accepted(name: str, value: str, expected: object) -> None:
    settings = Settings.from_env({f"DN_CDS_{name}": value})
    assert getattr(settings, name.lower()) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("", frozenset(), id="empty"),
        pytest.param("http://ehr.example.org/cs|DN1", {("http://ehr.example.org/cs", "DN1")}, id="one"),
        pytest.param(
            "http://ehr.example.org/cs|DN1,", {("http://ehr.example.org/cs", "DN1")}, id="trailing-comma"
        ),
        pytest.param(
            "http://ehr.example.org/cs|DN1,http://ehr.example.org/cs|DN2",
            {("http://ehr.example.org/cs", "DN1"), ("http://ehr.example.org/cs", "DN2")},
            id="two",
        ),
        pytest.param("urn:system|with|bar|X9", {("urn:system|with|bar", "X9")}, id="last-bar-splits"),
    ],
)
def test_local_order_codes(value: str, expected: frozenset[tuple[str, str]]) -> None:
    assert Settings.from_env({"DN_CDS_LOCAL_ORDER_CODES": value}).local_order_codes == expected


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DN_CDS_PORT", "abc"),
        ("DN_CDS_PORT", "70000"),
        ("DN_CDS_PORT", "0"),
        ("DN_CDS_PORT", "-1"),
        ("DN_CDS_PORT", ""),
        ("DN_CDS_PORT", "8080.0"),
        ("DN_CDS_PUBLIC_BASE_URL", "ftp://x"),
        ("DN_CDS_PUBLIC_BASE_URL", "cds.example.org"),
        ("DN_CDS_PUBLIC_BASE_URL", "https://"),
        ("DN_CDS_WORKERS", "0"),
        ("DN_CDS_WORKERS", "many"),
        ("DN_CDS_WORKERS", "65"),
        ("DN_CDS_LOG_LEVEL", "verbose"),
        ("DN_CDS_MAX_BODY_BYTES", "512"),
        ("DN_CDS_MAX_BODY_BYTES", "5MB"),
        ("DN_CDS_LOCAL_ORDER_CODES", "DN-LUMBAR"),
        ("DN_CDS_LOCAL_ORDER_CODES", "http://ehr.example.org/cs|DN1,DN2"),
        ("DN_CDS_LOCAL_ORDER_CODES", "|DN1"),
        ("DN_CDS_LOCAL_ORDER_CODES", "http://ehr.example.org/cs|"),
        ("DN_CDS_TIMEZONE", "Mars/Olympus_Mons"),
        ("DN_CDS_TIMEZONE", "utc+2"),
        ("DN_CDS_TIMEZONE", "Europe"),
        ("DN_CDS_TIMEZONE", "../../etc/passwd"),
        ("DN_CDS_TIMEZONE", "/etc/localtime"),
        ("DN_CDS_TIMEZONE", "zone.tab"),
        ("DN_CDS_HANDOUT_CONTACT", "x" * 201),
    ],
    ids=lambda value: (value[:20] + "...") if len(value) > 40 else (value or "empty"),
)
def test_invalid_values_raise_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({variable: value})
    assert variable in str(raised.value)


def test_handout_contact_is_one_line() -> None:
    settings = Settings.from_env({"DN_CDS_HANDOUT_CONTACT": "  Riverside PT,\n 555-0100  "})
    assert settings.handout_contact == "Riverside PT, 555-0100"
    assert Settings.from_env({"DN_CDS_HANDOUT_CONTACT": "  "}).handout_contact == ""


def test_settings_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="DN_CDS_PORT"):
        Settings.from_env({"DN_CDS_PORT": "http"})


@pytest.mark.parametrize(
    ("host", "base_url", "bind"),
    [
        ("::1", "http://[::1]:8080", "[::1]:8080"),
        ("127.0.0.1", "http://127.0.0.1:8080", "127.0.0.1:8080"),
        ("0.0.0.0", "http://127.0.0.1:8080", "0.0.0.0:8080"),  # noqa: S104
    ],
)
def test_ipv6_hosts_are_bracketed(host: str, base_url: str, bind: str) -> None:
    settings = Settings.from_env({"DN_CDS_HOST": host})

    assert (settings.base_url, settings.bind) == (base_url, bind)


def test_blank_timezone_keeps_utc() -> None:
    assert Settings.from_env({"DN_CDS_TIMEZONE": "  "}).zone is UTC


# --- "today" in DN_CDS_TIMEZONE: fixed instants, never the wall clock --------------------------------------

# 10:30 UTC on 26 Nov 2026 is already 27 Nov at UTC+14 and still 25 Nov at UTC-11.
INSTANT = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("UTC", date(2026, 11, 26)),
        ("Pacific/Kiritimati", date(2026, 11, 27)),  # UTC+14
        ("Pacific/Pago_Pago", date(2026, 11, 25)),  # UTC-11
        ("Europe/Berlin", date(2026, 11, 26)),
    ],
)
def test_local_date_of_an_instant(zone: str, expected: date) -> None:
    assert local_date(INSTANT, Settings(timezone=zone).zone) == expected
    assert zone_clock(Settings(timezone=zone).zone, lambda: INSTANT)() == expected


def test_local_date_at_the_zone_midnight() -> None:
    berlin = ZoneInfo("Europe/Berlin")  # UTC+1 in winter

    assert local_date(datetime(2026, 11, 26, 22, 59, 59, tzinfo=UTC), berlin) == date(2026, 11, 26)
    assert local_date(datetime(2026, 11, 26, 23, 0, tzinfo=UTC), berlin) == date(2026, 11, 27)


def test_zone_clock_reads_the_instant_each_call() -> None:
    instants = iter([INSTANT, datetime(2026, 11, 27, 10, 30, tzinfo=UTC)])
    clock = zone_clock(ZoneInfo("Pacific/Kiritimati"), lambda: next(instants))

    assert (clock(), clock()) == (date(2026, 11, 27), date(2026, 11, 28))


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({"DN_CDS_TIMEZONE": "Pacific/Kiritimati"}, date(2026, 11, 27), id="kiritimati"),
        pytest.param({"DN_CDS_TIMEZONE": "Pacific/Pago_Pago"}, date(2026, 11, 25), id="pago-pago"),
        pytest.param({}, date(2026, 11, 26), id="default-utc"),
    ],
)
def test_create_app_default_clock_uses_dn_cds_timezone(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], expected: date
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)

    app = create_app(now=lambda: INSTANT)  # settings from the environment, as wsgi.py does

    assert app.extensions["dn_cds"].today() == expected


def test_an_explicit_today_wins_over_the_zone_clock() -> None:
    app = create_app(Settings(timezone="Pacific/Kiritimati"), today=lambda: date(2030, 1, 1))

    assert app.extensions["dn_cds"].today() == date(2030, 1, 1)
