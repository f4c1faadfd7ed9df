"""Encryption of secrets at rest, and password hashing.

The key comes from ``TRAKT_PLUGIN_SECRET_KEY`` (any string of 32+ characters, stretched with
HKDF-SHA256) or, when that is unset, from a random key file in the data dir (mode 0600).
Ciphertexts are Fernet tokens (AES-128-CBC + HMAC-SHA256), so tampering is detected.

The key file holds exactly :data:`KEY_BYTES` random bytes. Anything else (empty, truncated, too
long) stops startup with one line naming the file (SPEC §11): an empty file would be a key every
install shares, and a damaged one cannot read what the old key encrypted. A new key file is
written to a private temporary file, fsynced, then hard-linked into place, which never replaces an
existing key: two processes starting at once end up with the one key that was linked first.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .config import ConfigError

KEY_FILE_NAME = "secret.key"
# A generated key file holds exactly this many random bytes; any other length is damage.
KEY_BYTES = 32
# Hard links are refused by some file systems (FAT, some network mounts): create the file
# exclusively in place there instead.
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS})
# HKDF "info" label of the key that encrypts secrets at rest.
_ENCRYPTION_INFO = b"trakt-plugin secrets at rest v1"

# scrypt cost: ~16 MiB and ~50 ms per hash on the 2-core box; slow enough for offline guessing.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


class SecretDecryptError(Exception):
    """A stored secret could not be decrypted (wrong key or tampered data)."""


def _derive(material: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)


def load_key_material(secret_key: str | None, data_dir: Path) -> bytes:
    """Key material from the setting, else from (a newly created) key file in the data dir.

    Raises :class:`ConfigError` naming the file when it cannot be created or read, or does not
    hold exactly :data:`KEY_BYTES` bytes.
    """
    if secret_key:
        return secret_key.encode("utf-8")
    path = data_dir / KEY_FILE_NAME
    try:
        if not os.path.lexists(path):
            _create_key_file(path)
        os.chmod(path, 0o600)
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            material = handle.read(KEY_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"key file {path}: cannot be created or read ({reason})") from None
    if len(material) != KEY_BYTES:
        found = "is empty" if size == 0 else f"is {size} bytes long"
        raise ConfigError(
            f"key file {path} {found}; a key file holds exactly {KEY_BYTES} bytes. Restore it "
            "from a backup, or move it away to start with a new key (secrets stored with the "
            "old key are then lost)"
        )
    return material


def _create_key_file(path: Path) -> None:
    """Write a new random key to ``path`` atomically and durably; never replace one."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file exclusively with mode 0600, in the same directory (same file
    # system), so linking it into place is atomic.
    fd, temporary = tempfile.mkstemp(prefix=f".{KEY_FILE_NAME}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(KEY_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process created the key first: everyone uses that one
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            _create_in_place(path)
    finally:
        os.unlink(temporary)
    _fsync_directory(directory)


def _create_in_place(path: Path) -> None:
    """The fallback without hard links: exclusive create, write, fsync."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(KEY_BYTES))
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_directory(directory: Path) -> None:
    """Make the new directory entry durable (POSIX; a no-op where directories cannot be opened)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:
        return  # Windows: directories cannot be opened, and NTFS journals the entry itself
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise  # EINVAL: this file system does not sync directories
    finally:
        os.close(fd)


class SecretBox:
    """Encrypts and decrypts short strings (tokens, client secret)."""

    def __init__(self, material: bytes) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(material, _ENCRYPTION_INFO)))

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
