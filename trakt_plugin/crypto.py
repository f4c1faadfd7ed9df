"""Encryption of secrets at rest, and password hashing.

The key comes from ``TRAKT_PLUGIN_SECRET_KEY`` (any string of 32+ characters, stretched with
HKDF-SHA256) or, when that is unset, from a random key file in the data dir (mode 0600).
Ciphertexts are Fernet tokens (AES-128-CBC + HMAC-SHA256), so tampering is detected.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_FILE_NAME = "secret.key"
# Distinct HKDF "info" labels so the storage key and the session-cookie key never coincide.
_ENCRYPTION_INFO = b"trakt-plugin secrets at rest v1"
_SESSION_INFO = b"trakt-plugin dashboard sessions v1"

# scrypt cost: ~16 MiB and ~50 ms per hash on the 2-core box; slow enough for offline guessing.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


class SecretDecryptError(Exception):
    """A stored secret could not be decrypted (wrong key or tampered data)."""


def _derive(material: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)


def load_key_material(secret_key: str | None, data_dir: Path) -> bytes:
    """Key material from the setting, else from (a newly created) key file in the data dir."""
    if secret_key:
        return secret_key.encode("utf-8")
    path = data_dir / KEY_FILE_NAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    os.chmod(path, 0o600)
    return path.read_bytes()


class SecretBox:
    """Encrypts and decrypts short strings (tokens, client secret)."""

    def __init__(self, material: bytes) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(material, _ENCRYPTION_INFO)))
        self.session_secret = _derive(material, _SESSION_INFO).hex()

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError):
            raise SecretDecryptError("stored secret cannot be decrypted with this key") from None


def generate_token() -> str:
    """32 random bytes, URL-safe (API and webhook tokens)."""
    return secrets.token_urlsafe(32)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p)
        )
    except ValueError:
        return False
    return hmac.compare_digest(candidate.hex(), digest)


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the real one."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
