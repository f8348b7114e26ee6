"""The local CDS client identity: a key pair under ``DN_CDS_DATA_DIR`` that ``demo`` and ``check`` sign with.

With no ``DN_CDS_TRUSTED_ISSUERS`` set, the service trusts this one issuer (:data:`LOCAL_ISSUER`) and
nothing else, so the default setup works end to end while still requiring a signed token on every call:
only a process that can read the private key file (mode 0600, in the service's own data directory) can
call. Production sets ``DN_CDS_TRUSTED_ISSUERS`` to its EHRs, which replaces this default (see SECURITY.md).

The key is an EC P-384 key (ES384, which CDS Hooks recommends); its ``kid`` is the RFC 7638 thumbprint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from cds_service.settings import Settings
from cds_service.trust import IssuerTrust

log = logging.getLogger("dn_cds.security")

LOCAL_ISSUER = "urn:dn-cds:local-client"
PRIVATE_KEY_FILE = "local-client-key.pem"
JWKS_FILE = "local-client-jwks.json"
TOKEN_LIFETIME = timedelta(minutes=5)


def ensure_local_key(data_dir: Path) -> ec.EllipticCurvePrivateKey:
    """The local private key, created on first use (file mode 0600; safe when processes race)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / PRIVATE_KEY_FILE
    if not path.exists():
        pem = ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        descriptor, temporary = tempfile.mkstemp(dir=data_dir, prefix=".key-")  # created 0600
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(pem)
            try:
                os.link(temporary, path)  # atomic, and never replaces a key another process wrote first
                log.warning(
                    "created the local client key %s (issuer %s) for dn-cds demo/check",
                    path,
                    LOCAL_ISSUER,
                    extra={"event": "local-key-created"},
                )
            except FileExistsError:
                pass
        finally:
            os.unlink(temporary)
    if path.stat().st_mode & 0o077:
        log.warning("%s is readable by other users; chmod 600 it", path, extra={"event": "key-mode"})
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an EC private key")
    return key


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """The public JWK of ``key`` with ``kid`` (RFC 7638 thumbprint), ``alg`` ES384 and ``use`` sig."""
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return {**members, "kid": kid, "alg": "ES384", "use": "sig"}


def local_issuer_trust(data_dir: Path) -> IssuerTrust:
    """Create the key if needed, (re)write its public JWK Set, and trust it as :data:`LOCAL_ISSUER`."""
    jwks = json.dumps({"keys": [public_jwk(ensure_local_key(data_dir))]}, indent=2)
    path = data_dir / JWKS_FILE
    if not path.exists() or path.read_text(encoding="utf-8") != jwks:
        descriptor, temporary = tempfile.mkstemp(dir=data_dir, prefix=".jwks-")
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(jwks)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    return IssuerTrust(issuer=LOCAL_ISSUER, jwks_file=path)


def audience(url: str) -> str:
    """The ``aud`` for a call to ``url``: the endpoint URL without query, fragment or trailing slash."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def sign_service_request(
    url: str,
    *,
    data_dir: Path | None = None,
    tenant: str | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, str]:
    """HTTP headers authenticating one CDS Hooks call to ``url`` as the local client.

    ``url`` is the full endpoint URL (``{base}/cds-services``, ``{base}/cds-services/{id}`` or its
    ``/feedback``); it becomes ``aud``, so it must use the service's public base URL. A fresh ``jti`` makes
    each token single-use: sign every request anew. ``data_dir`` defaults to ``DN_CDS_DATA_DIR``'s value.
    """
    key = ensure_local_key(data_dir if data_dir is not None else Settings.from_env().data_dir)
    issued = now()
    claims: dict[str, Any] = {
        "iss": LOCAL_ISSUER,
        "aud": audience(url),
        "iat": int(issued.timestamp()),
        "exp": int((issued + TOKEN_LIFETIME).timestamp()),
        "jti": str(uuid.uuid4()),
    }
    if tenant is not None:
        claims["tenant"] = tenant
    token = jwt.encode(claims, key, algorithm="ES384", headers={"kid": public_jwk(key)["kid"], "typ": "JWT"})
    return {"Authorization": f"Bearer {token}"}
