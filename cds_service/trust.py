"""Which CDS clients (JWT issuers) the service trusts, and where their keys come from (pure parsing).

``DN_CDS_TRUSTED_ISSUERS`` is a JSON object, issuer -> how to find its keys::

    {
      "https://ehr.example.org": {
        "jwks_url": "https://ehr.example.org/.well-known/jwks.json",
        "jku": ["https://ehr.example.org/jwks/"],
        "tenants": ["2ddd6c3a-8e9a-44c6-a305-52111ad302a2"]
      },
      "https://other-ehr.example.com": {"jwks_file": "/etc/dn-cds/other-ehr-jwks.json"}
    }

Per issuer, at most one of ``jwks_url`` (fetched, cached, refetched on rotation), ``jwks_file`` (a JWK Set
exchanged out of band) or ``jwks`` (the JWK Set inline); ``jku`` lists URL prefixes a token's ``jku`` header
may point into (no other ``jku`` is ever fetched); ``tenants`` (optional) lists the ``tenant`` claims
accepted. An issuer needs a key source: a JWK Set, a ``jku`` prefix, or both. ``fhir_servers`` (optional)
lists the FHIR bases this issuer's calls may name as ``fhirServer``, and ``tenant_fhir_servers`` (optional,
tenant -> list) those of one tenant; without them ``DN_CDS_FHIR_SERVER_ALLOWLIST`` applies.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_KEYS = frozenset({"jwks_url", "jwks_file", "jwks", "jku", "tenants", "fhir_servers", "tenant_fhir_servers"})
MAX_ISSUERS = 100


class TrustConfigError(ValueError):
    """The trust configuration is invalid; the message says where."""


@dataclass(frozen=True, slots=True)
class IssuerTrust:
    """One trusted issuer (``iss``) and how its signing keys are found."""

    issuer: str
    jwks_url: str | None = None
    jwks_file: Path | None = None
    jwks_json: str | None = None  # an inline JWK Set, kept as JSON text so the dataclass stays hashable
    jku_prefixes: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()
    fhir_servers: tuple[str, ...] | None = None  # None: DN_CDS_FHIR_SERVER_ALLOWLIST applies
    tenant_fhir_servers: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (tenant, its FHIR bases)

    def fhir_allowlist(self, tenant: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
        """The FHIR bases this issuer's calls (for ``tenant``) may name as ``fhirServer``: the tenant's own
        list, else the issuer's, else ``default`` (the global ``DN_CDS_FHIR_SERVER_ALLOWLIST``)."""
        for name, servers in self.tenant_fhir_servers:
            if name == tenant:
                return servers
        return default if self.fhir_servers is None else self.fhir_servers

    def jku_allowed(self, jku: str) -> bool:
        """True when ``jku`` is the configured ``jwks_url`` or lies under one of the allowed prefixes."""
        if self.jwks_url is not None and jku == self.jwks_url:
            return True
        return any(url_under_prefix(jku, prefix) for prefix in self.jku_prefixes)


def url_under_prefix(url: str, prefix: str) -> bool:
    """``url`` has the prefix's scheme, host and port exactly, and its path starts at a segment boundary.

    A plain string prefix test would let ``https://ehr.example.org.evil.net/`` pass for
    ``https://ehr.example.org``; this one does not. Paths are compared after :func:`normalised_path`, and a
    path it refuses (dot segments in any spelling, encoded slashes...) is never under any prefix; so is a
    URL with a query, a fragment or credentials.
    """
    try:
        target, allowed = urlsplit(url), urlsplit(prefix)
        target_port, allowed_port = target.port, allowed.port
    except ValueError:
        return False
    if target.query or target.fragment or target.username or target.password or "#" in url:
        return False
    if (target.scheme.lower(), (target.hostname or ""), target_port) != (
        allowed.scheme.lower(),
        (allowed.hostname or ""),
        allowed_port,
    ):
        return False
    path, base = normalised_path(target.path), normalised_path(allowed.path or "/")
    if path is None or base is None:
        return False
    return path_under(path, base)


def path_under(path: str, base: str) -> bool:
    """``path`` is ``base`` or lies under it at a segment boundary (both normalised)."""
    base = base.rstrip("/")
    return path.rstrip("/") == base or path.startswith(base + "/")


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_ALLOWED_PATH_CHARS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*")


def normalised_path(path: str) -> str | None:
    """The URL path as a server will resolve it, or ``None`` when it is unsafe to compare at all.

    Percent-encoded unreserved characters are decoded (RFC 3986 6.2.2.2: ``%2e`` is ``.``, ``%41`` is
    ``A``), other escapes upper-cased. Refused (``None``): a dot segment ``.`` or ``..`` in any spelling
    (plain, percent-encoded, or with ``;`` parameters such as ``..;`` that some servers strip), since
    servers and HTTP libraries resolve them (RFC 3986 remove_dot_segments) after the check; an encoded
    ``/``, backslash, ``%`` (double encoding) or control character; a malformed escape; and any character
    outside RFC 3986's path characters (backslashes, spaces, non-ASCII such as fullwidth dots, which some
    servers fold into ``.``).
    """
    if not _ALLOWED_PATH_CHARS.fullmatch(path) or "%" in _PERCENT.sub("", path):
        return None

    def decode(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    decoded = _PERCENT.sub(decode, path)
    if any(code in decoded for code in ("%2F", "%5C", "%25", "%7F")) or re.search("%[01][0-9A-F]", decoded):
        return None
    if any(segment.split(";", 1)[0] in {".", ".."} for segment in decoded.split("/")):
        return None
    return decoded


def is_loopback_host(host: str | None) -> bool:
    """True for localhost and loopback IP literals (127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_key_url(url: str, where: str) -> str:
    """An https URL (http only for loopback, which tests and local setups use), without credentials."""
    parts = urlsplit(url)
    if not parts.netloc or parts.username or parts.password or parts.fragment:
        raise TrustConfigError(
            f"{where} must be an absolute URL without credentials or fragment, got {url!r}"
        )
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname)):
        return url
    raise TrustConfigError(f"{where} must be an https URL (http only on loopback), got {url!r}")


def parse_trusted_issuers(raw: str) -> tuple[IssuerTrust, ...]:
    """Parse the ``DN_CDS_TRUSTED_ISSUERS`` JSON text; :class:`TrustConfigError` says what is wrong."""
    try:
        document = json.loads(raw)
    except ValueError:
        raise TrustConfigError(
            "must be a JSON object (issuer -> {jwks_url | jwks_file | jwks, jku, tenants})"
        ) from None
    if not isinstance(document, dict) or not document:
        raise TrustConfigError("must be a non-empty JSON object (issuer -> settings)")
    if len(document) > MAX_ISSUERS:
        raise TrustConfigError(f"names more than {MAX_ISSUERS} issuers")
    return tuple(_issuer(issuer, entry) for issuer, entry in document.items())


def _issuer(issuer: str, entry: Any) -> IssuerTrust:
    where = f"issuer {issuer!r}"
    if not issuer.strip():
        raise TrustConfigError("an issuer name is empty")
    if not isinstance(entry, dict):
        raise TrustConfigError(f"{where}: the value must be an object")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise TrustConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_KEYS)}")
    sources = [name for name in ("jwks_url", "jwks_file", "jwks") if entry.get(name) is not None]
    if len(sources) > 1:
        raise TrustConfigError(f"{where}: give only one of jwks_url, jwks_file, jwks")
    jwks_url = _optional_string(entry, "jwks_url", where)
    if jwks_url is not None:
        check_key_url(jwks_url, f"{where}: jwks_url")
    jwks_file = _optional_string(entry, "jwks_file", where)
    jwks_json: str | None = None
    if entry.get("jwks") is not None:
        if not isinstance(entry["jwks"], dict) or not isinstance(entry["jwks"].get("keys"), list):
            raise TrustConfigError(f"{where}: jwks must be a JWK Set object with a 'keys' array")
        jwks_json = json.dumps(entry["jwks"], sort_keys=True)
    prefixes = _string_list(entry, "jku", where)
    for prefix in prefixes:
        check_key_url(prefix, f"{where}: jku prefix")
    if not sources and not prefixes:
        raise TrustConfigError(f"{where}: needs jwks_url, jwks_file, jwks or a jku prefix")
    fhir_servers = None
    if entry.get("fhir_servers") is not None:
        fhir_servers = tuple(check_fhir_base(url, f"{where}: fhir_servers") for url in _urls(entry, where))
    return IssuerTrust(
        issuer=issuer,
        jwks_url=jwks_url,
        jwks_file=Path(jwks_file).expanduser() if jwks_file else None,
        jwks_json=jwks_json,
        jku_prefixes=prefixes,
        tenants=_string_list(entry, "tenants", where),
        fhir_servers=fhir_servers,
        tenant_fhir_servers=_tenant_fhir_servers(entry.get("tenant_fhir_servers"), where),
    )


def _urls(entry: Mapping[str, Any], where: str) -> tuple[str, ...]:
    value = entry.get("fhir_servers")
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise TrustConfigError(f"{where}: fhir_servers must be a list of FHIR base URLs")
    return tuple(item.strip() for item in value)


def _tenant_fhir_servers(value: Any, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise TrustConfigError(f"{where}: tenant_fhir_servers must be an object, tenant -> [FHIR base URLs]")
    found: list[tuple[str, tuple[str, ...]]] = []
    for tenant, servers in value.items():
        if not isinstance(servers, list) or not all(
            isinstance(item, str) and item.strip() for item in servers
        ):
            raise TrustConfigError(
                f"{where}: tenant_fhir_servers[{tenant!r}] must be a list of FHIR base URLs"
            )
        checked = tuple(
            check_fhir_base(item.strip(), f"{where}: tenant_fhir_servers[{tenant!r}]") for item in servers
        )
        found.append((tenant, checked))
    return tuple(found)


def check_fhir_base(url: str, where: str) -> str:
    """A FHIR base URL for an allowlist: https (http only on loopback), no credentials, query or fragment, a
    path that :func:`normalised_path` accepts. Returned without a trailing slash."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise TrustConfigError(f"{where}: {url!r} is not an absolute http(s) URL")
    if parts.username or parts.password or parts.query or parts.fragment or "#" in url:
        raise TrustConfigError(f"{where}: {url!r} must be a plain base URL (no credentials, query, fragment)")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise TrustConfigError(f"{where}: {url!r} must use https (http only on a loopback host)")
    if normalised_path(parts.path) is None:
        raise TrustConfigError(f"{where}: {url!r} has a path with dot segments or encoded slashes")
    return url.rstrip("/")


def _optional_string(entry: Mapping[str, Any], name: str, where: str) -> str | None:
    value = entry.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise TrustConfigError(f"{where}: {name} must be a non-empty string")
    return value.strip()


def _string_list(entry: Mapping[str, Any], name: str, where: str) -> tuple[str, ...]:
    value = entry.get(name)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise TrustConfigError(f"{where}: {name} must be a list of non-empty strings")
    return tuple(item.strip() for item in value)
