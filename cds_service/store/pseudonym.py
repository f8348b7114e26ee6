"""Pseudonymous patient ids: HMAC-SHA256 of the patient id under a secret key.

The same patient always gets the same pseudonym (so the audit can be followed per patient), and without the
key nobody can test a guessed patient id against it. The key is ``DN_CDS_PSEUDONYM_KEY``; when it is unset the
embedded default generates a random key once into ``pseudonym.key`` (mode 0600) in the data directory. Several
instances sharing one PostgreSQL database must share one key, so it is required there.

This is the only pseudonym of a patient id: the audit's ``patient_pseudonym`` column and the request log's
``patient`` field are the same value, so a log line can be matched with its audit row (and nothing else can).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

KEY_FILE_NAME = "pseudonym.key"


class Pseudonymizer:
    """Maps patient ids to stable, keyed pseudonyms."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the pseudonym key must have at least 16 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "Pseudonymizer(<key hidden>)"

    def pseudonym(self, patient_id: str) -> str:
        """The hex HMAC-SHA256 of ``patient_id``."""
        return hmac.new(self._key, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()


def key_from_file(data_dir: Path) -> bytes:
    """The key in ``data_dir/pseudonym.key``, created (random, 32 bytes, mode 0600) on first use.

    Creation is exclusive (``O_EXCL``): when two processes race, one writes the key and both read it.
    """
    path = data_dir / KEY_FILE_NAME
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w", encoding="ascii") as key_file:
            key_file.write(secrets.token_hex(32) + "\n")
            key_file.flush()
            os.fsync(key_file.fileno())
    for _ in range(50):  # a racing creator may not have written its key yet
        text = path.read_text(encoding="ascii").strip()
        if text:
            return text.encode("ascii")
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty; delete it to generate a new pseudonym key")
