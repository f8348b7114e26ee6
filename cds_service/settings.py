"""Settings from ``DN_CDS_*`` environment variables, validated once at start-up (fail fast)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs

from cds_service.trust import IssuerTrust, TrustConfigError, parse_trusted_issuers

PREFIX = "DN_CDS_"


class SettingsError(ValueError):
    """A setting has an invalid value; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Service configuration. Build it with :meth:`from_env`, or directly in tests."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_base_url: str = ""
    data_dir: Path = field(default_factory=lambda: Path(platformdirs.user_data_dir("dn-cds")))
    log_level: str = "INFO"
    workers: int = 2
    max_body_bytes: int = 5 * 1024 * 1024
    local_order_codes: frozenset[tuple[str, str]] = frozenset()
    timezone: str = "UTC"
    database_url: str = field(default="", repr=False)  # may carry a password
    pseudonym_key: str = field(default="", repr=False)
    audit_retention_days: int = 2190  # six years, the usual retention for clinical decision records
    fhir_server_allowlist: tuple[str, ...] = ()
    fhir_time_budget_seconds: float = 2.0
    fhir_connect_timeout_seconds: float = 1.0
    fhir_read_timeout_seconds: float = 2.0
    fhir_max_pages: int = 5
    fhir_max_response_bytes: int = 10 * 1024 * 1024
    fhir_max_call_bytes: int = 20 * 1024 * 1024
    fhir_private_networks: tuple[str, ...] = ()
    max_resources_per_key: int = 5000
    policy_file: Path | None = None
    auth: str = "required"  # "required" | "off" (local development only; loudly logged)
    trusted_issuers: tuple[IssuerTrust, ...] = ()  # empty: trust only the local key in data_dir (demo)
    cors_origins: tuple[str, ...] = ()
    jwks_fetch_deadline_seconds: float = 5.0
    max_string_chars: int = 262_144
    max_array_items: int = 10_000
    handout_contact: str = ""  # the clinic's name and phone number, printed on the patient handout
    metrics_port: int = 0  # 0: no metrics listener; else the gunicorn master serves /metrics on this port
    readiness_timeout_seconds: float = 1.0

    @property
    def zone(self) -> tzinfo:
        """The time zone that decides "today" for date rules (gestational age, recency)."""
        return time_zone(self.timezone)

    @property
    def base_url(self) -> str:
        """The public base URL without a trailing slash (derived from host and port when unset)."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        host = "127.0.0.1" if self.host in {"0.0.0.0", "::"} else self.host  # noqa: S104
        return f"http://{bracketed(host)}:{self.port}"

    @property
    def bind(self) -> str:
        """The gunicorn bind address, ``host:port`` (IPv6 hosts in brackets)."""
        return f"{bracketed(self.host)}:{self.port}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``DN_CDS_*`` variables; unset ones keep their defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        if (host := env.get(PREFIX + "HOST")) is not None:
            values["host"] = host.strip() or "127.0.0.1"
        if (port := env.get(PREFIX + "PORT")) is not None:
            values["port"] = _integer("PORT", port, 1, 65535)
        if (base := env.get(PREFIX + "PUBLIC_BASE_URL")) is not None and base.strip():
            values["public_base_url"] = _absolute_url("PUBLIC_BASE_URL", base.strip())
        if (data_dir := env.get(PREFIX + "DATA_DIR")) is not None and data_dir.strip():
            values["data_dir"] = Path(data_dir).expanduser()
        if (level := env.get(PREFIX + "LOG_LEVEL")) is not None:
            if level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
                raise SettingsError(f"{PREFIX}LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
            values["log_level"] = level.upper()
        if (workers := env.get(PREFIX + "WORKERS")) is not None:
            values["workers"] = _integer("WORKERS", workers, 1, 64)
        if (limit := env.get(PREFIX + "MAX_BODY_BYTES")) is not None:
            values["max_body_bytes"] = _integer("MAX_BODY_BYTES", limit, 1024, 100 * 1024 * 1024)
        if (codes := env.get(PREFIX + "LOCAL_ORDER_CODES")) is not None:
            values["local_order_codes"] = _system_codes("LOCAL_ORDER_CODES", codes)
        if (zone := env.get(PREFIX + "TIMEZONE")) is not None and zone.strip():
            time_zone(zone.strip())  # fail fast on an unknown zone
            values["timezone"] = zone.strip()
        if (url := env.get(PREFIX + "DATABASE_URL")) is not None and url.strip():
            values["database_url"] = _database_url("DATABASE_URL", url.strip())
        if (key := env.get(PREFIX + "PSEUDONYM_KEY")) is not None and key.strip():
            if len(key.strip()) < 32:
                raise SettingsError(
                    f"{PREFIX}PSEUDONYM_KEY must have at least 32 characters"
                    " (e.g. python3 -c 'import secrets; print(secrets.token_hex(32))')"
                )
            values["pseudonym_key"] = key.strip()
        if (days := env.get(PREFIX + "AUDIT_RETENTION_DAYS")) is not None:
            values["audit_retention_days"] = _integer("AUDIT_RETENTION_DAYS", days, 1, 36500)
        if str(values.get("database_url", "")).startswith("postgres") and "pseudonym_key" not in values:
            raise SettingsError(
                f"{PREFIX}PSEUDONYM_KEY must be set with {PREFIX}DATABASE_URL: every instance sharing the"
                " database must pseudonymise patient ids with the same key"
            )
        if (allowlist := env.get(PREFIX + "FHIR_SERVER_ALLOWLIST")) is not None:
            values["fhir_server_allowlist"] = fhir_server_allowlist(allowlist)
        for name, low, high in _FHIR_SECONDS:
            if (seconds := env.get(PREFIX + name)) is not None:
                values[name.lower()] = _seconds(name, seconds, low, high)
        if (pages := env.get(PREFIX + "FHIR_MAX_PAGES")) is not None:
            values["fhir_max_pages"] = _integer("FHIR_MAX_PAGES", pages, 1, 100)
        if (size := env.get(PREFIX + "FHIR_MAX_RESPONSE_BYTES")) is not None:
            values["fhir_max_response_bytes"] = _integer(
                "FHIR_MAX_RESPONSE_BYTES", size, 1024, 512 * 1024 * 1024
            )
        if (contact := env.get(PREFIX + "HANDOUT_CONTACT")) is not None and contact.strip():
            values["handout_contact"] = _one_line("HANDOUT_CONTACT", contact, 200)
        if (total := env.get(PREFIX + "FHIR_MAX_CALL_BYTES")) is not None:
            values["fhir_max_call_bytes"] = _integer(
                "FHIR_MAX_CALL_BYTES", total, 1024, 2 * 1024 * 1024 * 1024
            )
        if (networks := env.get(PREFIX + "FHIR_PRIVATE_NETWORKS")) is not None:
            values["fhir_private_networks"] = _networks("FHIR_PRIVATE_NETWORKS", networks)
        if (count := env.get(PREFIX + "MAX_RESOURCES_PER_KEY")) is not None:
            values["max_resources_per_key"] = _integer("MAX_RESOURCES_PER_KEY", count, 10, 1_000_000)
        if (policy := env.get(PREFIX + "POLICY_FILE")) is not None and policy.strip():
            values["policy_file"] = _existing_file("POLICY_FILE", policy.strip())
        values.update(_security_values(env))
        values.update(_operations_values(env))
        return cls(**values)  # type: ignore[arg-type]


def _one_line(name: str, value: str, limit: int) -> str:
    """``value`` as one line of text (inner whitespace collapsed), at most ``limit`` characters."""
    text = " ".join(value.split())
    if len(text) > limit:
        raise SettingsError(f"{PREFIX}{name} must be at most {limit} characters")
    return text


def bracketed(host: str) -> str:
    """An IPv6 literal in brackets, as URLs and bind addresses need it; other hosts unchanged."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def time_zone(name: str) -> tzinfo:
    """The IANA time zone ``name`` ("UTC" needs no tz database); :class:`SettingsError` if unknown."""
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise SettingsError(
            f"{PREFIX}TIMEZONE must be an IANA time zone name such as Europe/Berlin, got {name!r}"
            " (is the tz database installed? pip install tzdata)"
        ) from None


def _integer(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{PREFIX}{name} must be between {low} and {high}, got {value}")
    return value


def _absolute_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SettingsError(f"{PREFIX}{name} must be an absolute http(s) URL, got {raw!r}")
    return raw


def _database_url(name: str, raw: str) -> str:
    """A SQLAlchemy URL for PostgreSQL or SQLite; errors never repeat the URL (it may hold a password)."""
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    if scheme.split("+")[0] not in {"postgresql", "postgres", "sqlite"}:
        raise SettingsError(
            f"{PREFIX}{name} must be a postgresql://user:password@host/database (or sqlite:///path) URL"
        )
    return raw


def _existing_file(name: str, raw: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_file():
        raise SettingsError(f"{PREFIX}{name} must name an existing file, got {raw!r}")
    return path


def _system_codes(name: str, raw: str) -> frozenset[tuple[str, str]]:
    """``"http://example.org/codes|DN1,urn:oid:1.2.3|X9"`` -> {(system, code), ...}."""
    pairs: set[tuple[str, str]] = set()
    for item in filter(None, (part.strip() for part in raw.split(","))):
        system, separator, code = item.rpartition("|")
        if not separator or not system or not code:
            raise SettingsError(f"{PREFIX}{name}: each entry must be 'system|code', got {item!r}")
        pairs.add((system, code))
    return frozenset(pairs)


_FHIR_SECONDS = (
    ("FHIR_TIME_BUDGET_SECONDS", 0.1, 20.0),  # below gunicorn's 30 s worker timeout
    ("FHIR_CONNECT_TIMEOUT_SECONDS", 0.05, 30.0),
    ("FHIR_READ_TIMEOUT_SECONDS", 0.05, 60.0),
)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def fhir_server_allowlist(raw: str) -> tuple[str, ...]:
    """Comma-separated FHIR base URL prefixes: https, or http only on a loopback host (local test servers)."""
    entries: list[str] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        parts = urlsplit(item)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise SettingsError(f"{PREFIX}FHIR_SERVER_ALLOWLIST: {item!r} is not an absolute http(s) URL")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise SettingsError(
                f"{PREFIX}FHIR_SERVER_ALLOWLIST: {item!r} must be a plain base URL (no credentials, query)"
            )
        if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
            raise SettingsError(
                f"{PREFIX}FHIR_SERVER_ALLOWLIST: {item!r} must use https (http only for 127.0.0.1/localhost)"
            )
        entries.append(item.rstrip("/"))
    return tuple(entries)


def _networks(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated networks in CIDR notation (``10.20.0.0/16,fd00::/8``)."""
    found: list[str] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        try:
            found.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise SettingsError(f"{PREFIX}{name}: {item!r} is not a network such as 10.20.0.0/16") from None
    return tuple(found)


def _seconds(name: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be a number of seconds, got {raw!r}") from None
    if not low <= value <= high:  # also refuses NaN
        raise SettingsError(f"{PREFIX}{name} must be between {low} and {high}, got {raw!r}")
    return value


def _security_values(env: Mapping[str, str]) -> dict[str, object]:
    """Authentication, CORS and input-limit settings."""
    values: dict[str, object] = {}
    if (auth := env.get(PREFIX + "AUTH")) is not None and auth.strip():
        if auth.strip().lower() not in {"required", "off"}:
            raise SettingsError(f"{PREFIX}AUTH must be 'required' or 'off', got {auth!r}")
        values["auth"] = auth.strip().lower()
    if (issuers := env.get(PREFIX + "TRUSTED_ISSUERS")) is not None and issuers.strip():
        try:
            values["trusted_issuers"] = parse_trusted_issuers(issuers)
        except TrustConfigError as error:
            raise SettingsError(f"{PREFIX}TRUSTED_ISSUERS: {error}") from None
    if (deadline := env.get(PREFIX + "JWKS_FETCH_DEADLINE_SECONDS")) is not None:
        values["jwks_fetch_deadline_seconds"] = _seconds("JWKS_FETCH_DEADLINE_SECONDS", deadline, 0.1, 20.0)
    if (origins := env.get(PREFIX + "CORS_ORIGINS")) is not None:
        values["cors_origins"] = _origins("CORS_ORIGINS", origins)
    if (chars := env.get(PREFIX + "MAX_STRING_CHARS")) is not None:
        values["max_string_chars"] = _integer("MAX_STRING_CHARS", chars, 1024, 100 * 1024 * 1024)
    if (items := env.get(PREFIX + "MAX_ARRAY_ITEMS")) is not None:
        values["max_array_items"] = _integer("MAX_ARRAY_ITEMS", items, 10, 10_000_000)
    return values


def _operations_values(env: Mapping[str, str]) -> dict[str, object]:
    """Metrics and readiness settings."""
    values: dict[str, object] = {}
    if (port := env.get(PREFIX + "METRICS_PORT")) is not None and port.strip():
        values["metrics_port"] = _integer("METRICS_PORT", port.strip(), 0, 65535)
        if values["metrics_port"] and values["metrics_port"] == _integer(
            "PORT", env.get(PREFIX + "PORT", "8080"), 1, 65535
        ):
            raise SettingsError(
                f"{PREFIX}METRICS_PORT must differ from {PREFIX}PORT: metrics have their own port"
            )
    if (seconds := env.get(PREFIX + "READINESS_TIMEOUT_SECONDS")) is not None:
        values["readiness_timeout_seconds"] = _seconds("READINESS_TIMEOUT_SECONDS", seconds, 0.05, 30.0)
    return values


def _origins(name: str, raw: str) -> tuple[str, ...]:
    """``"https://ehr.example.org,http://localhost:3000"`` -> origins (scheme://host[:port]) or ``*``."""
    origins: list[str] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        if item == "*":
            origins.append(item)
            continue
        parts = urlsplit(item)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path not in {"", "/"}:
            raise SettingsError(
                f"{PREFIX}{name}: each entry must be an origin such as https://ehr.example.org, got {item!r}"
            )
        if parts.query or parts.fragment or parts.username or parts.password:
            raise SettingsError(f"{PREFIX}{name}: an origin has no query, fragment or credentials: {item!r}")
        origins.append(f"{parts.scheme}://{parts.netloc}".lower())
    return tuple(origins)
