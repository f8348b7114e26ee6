"""Test CDS clients: real EC P-384 and RSA-2048 key pairs, their JWK Set, and signed CDS Hooks JWTs."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds_service.trust import IssuerTrust

ISSUER = "https://ehr.test.example/"
BASE_URL = "http://127.0.0.1:8080"  # Settings().base_url: the audience prefix of the test app
EC_KID = "test-ec-p384"
RSA_KID = "test-rsa-2048"
EC_KEY = ec.generate_private_key(ec.SECP384R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: Any, kid: str, alg: str | None) -> dict[str, Any]:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update({"kid": kid, "use": "sig"})
    if alg:
        jwk["alg"] = alg
    return jwk


def jwk_set() -> dict[str, Any]:
    """The test issuer's JWKS: the EC key (alg ES384) and the RSA key (no alg: any RS*)."""
    return {"keys": [public_jwk(EC_KEY, EC_KID, "ES384"), public_jwk(RSA_KEY, RSA_KID, None)]}


def issuer_trust(**changes: Any) -> IssuerTrust:
    """The test issuer with its JWKS inline."""
    values: dict[str, Any] = {"issuer": ISSUER, "jwks_json": json.dumps(jwk_set())}
    values.update(changes)
    return IssuerTrust(**values)


def claims_for(aud: Any, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": aud,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def token(
    aud: Any,
    *,
    key: Any = None,
    alg: str = "ES384",
    kid: str | None = EC_KID,
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A JWT for ``aud`` signed by the test EC key (or ``key``); claims given as None are left out."""
    if key is None:
        key = RSA_KEY if alg.startswith("RS") else EC_KEY
        if alg.startswith("RS") and kid == EC_KID:
            kid = RSA_KID
    header: dict[str, Any] = {"typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    header.update(headers or {})
    return jwt.encode(claims_for(aud, **claims), key, algorithm=alg, headers=header)


def bearer(path: str, **options: Any) -> dict[str, str]:
    """An Authorization header for a call to ``path`` on the test app."""
    return {"Authorization": f"Bearer {token(BASE_URL + path, **options)}"}
