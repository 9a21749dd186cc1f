"""The cameras' ONVIF passwords, encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256).

The key is a file outside the database (``HUB_PTZ_KEY_PATH``, mode 0600, made on first use,
like the hub's signing key): a copy of the database alone does not give the passwords.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class CredentialUnreadable(ValueError):
    """The stored password was encrypted under another key (or altered)."""


def _key_file(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(descriptor, Fernet.generate_key())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        try:
            os.link(candidate, path)  # two processes at once: the first one linked wins
        except FileExistsError:
            pass
        finally:
            candidate.unlink(missing_ok=True)
    return path.read_bytes().strip()


@lru_cache(maxsize=4)
def _fernet(path: str) -> Fernet:
    return Fernet(_key_file(Path(path)))


def encrypt(secret: str) -> str:
    if not secret:
        return ""
    return _fernet(str(settings.HUB_PTZ_KEY_PATH)).encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet(str(settings.HUB_PTZ_KEY_PATH)).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise CredentialUnreadable("the camera's password cannot be decrypted with this key") from exc
