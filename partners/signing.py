"""Ed25519 keys kept in files, outside the database: the extractions' signing key and the
access journal's anchoring key. Someone who holds the database (even its superuser) cannot
sign with them, provided the files are readable by the hub's account alone.

A key's fingerprint is the SHA-256 of its public key in DER (SubjectPublicKeyInfo), in hex:
the same bytes whatever the PEM's line endings, and what
``openssl pkey -pubin -in key.pem -outform DER | sha256sum`` prints.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class KeyProblem(ValueError):
    """A key file or a fingerprint that cannot be used (the message says why)."""


def ed25519_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``path``, generated (mode 0600) on first use.

    Two processes starting at once both end up with the same key: each writes its own
    candidate, and only the first one linked into place is kept.
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        candidate = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(descriptor, pem)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass
        finally:
            candidate.unlink(missing_ok=True)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise KeyProblem(f"{path} is not an Ed25519 key")
    return loaded


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_pem(pem: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from its PEM (a private key's PEM gives its public half)."""
    try:
        if b"PRIVATE KEY" in pem:
            private = serialization.load_pem_private_key(pem, password=None)
            if not isinstance(private, Ed25519PrivateKey):
                raise KeyProblem("not an Ed25519 key")
            return private.public_key()
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise KeyProblem(f"not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyProblem("not an Ed25519 key")
    return key


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the public key's DER encoding, 64 lowercase hex digits."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def pem_fingerprint(pem: bytes) -> str:
    return fingerprint(load_public_pem(pem))


_SEPARATORS = re.compile(r"[\s:\-]")


def normalised_fingerprint(text: str) -> str:
    """A fingerprint as people copy it (upper case, grouped with spaces or colons) → 64 hex digits."""
    value = _SEPARATORS.sub("", text).lower()
    if value.startswith("sha256"):
        value = value[len("sha256"):]
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise KeyProblem("a fingerprint is 64 hexadecimal digits (SHA-256); "
                        f"got {len(value)} characters")
    return value


def grouped(fingerprint_hex: str, size: int = 4) -> str:
    """``a1b2c3d4…`` → ``A1B2 C3D4 …``: easier to read aloud and to compare by eye."""
    upper = fingerprint_hex.upper()
    return " ".join(upper[i:i + size] for i in range(0, len(upper), size))
