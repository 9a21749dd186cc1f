"""What an extraction carries besides its videos: the manifest, its Ed25519 signature by the
centre's key and that public key, and how anyone checks them offline
(``python manage.py verify_export <dir>``, :func:`verify_export`).

The extraction (``recordings.export``) writes them; the retention sweep reads the manifest to
know an export's files; the public pages publish the key (``recordings.keys``).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from partners import signing
from recordings.recorder import file_sha256

MANIFEST, SIGNATURE, PUBLIC_KEY = "manifest.json", "manifest.sig", "hub-public-key.pem"
FORMAT = "csu-hub-export/1"


def signing_key() -> Ed25519PrivateKey:
    """The hub's Ed25519 key (``HUB_SIGNING_KEY_PATH``), generated (mode 0600) on first use."""
    return signing.ed25519_key(Path(settings.HUB_SIGNING_KEY_PATH))


def public_pem(key: Ed25519PublicKey) -> bytes:
    return signing.public_pem(key)


def key_fingerprint(pem: bytes) -> str:
    """The SHA-256 fingerprint (64 hex digits) of a PEM public key: what the centre publishes
    at ``/.well-known/csu-export-key`` and ``verify_export --fingerprint`` compares with."""
    return signing.pem_fingerprint(pem)


def hub_public_key() -> tuple[bytes, str]:
    """The hub's public key (PEM) and its fingerprint."""
    pem = public_pem(signing_key().public_key())
    return pem, key_fingerprint(pem)

# The line burned into a masked extraction's pictures and into a snapshot (name, local time).
OVERLAY_FORMAT = "{name} {time:%Y-%m-%d %H:%M:%S %z}"


def manifest_write(directory: Path, manifest: dict) -> None:
    """Write ``manifest.json``, its signature by the centre's key and that public key in ``directory``."""
    key = signing_key()
    body = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False).encode()
    (directory / MANIFEST).write_bytes(body)
    (directory / SIGNATURE).write_text(base64.b64encode(key.sign(body)).decode() + "\n")
    (directory / PUBLIC_KEY).write_bytes(public_pem(key.public_key()))


def verify_export(directory: Path, *, public_key_pem: bytes | None = None,
                  fingerprint: str | None = None) -> list[str]:
    """What is wrong with an export directory (empty: files and signature check out). Offline.

    The key that vouches for the export comes from outside it: ``public_key_pem`` (the
    centre's key, obtained from the centre) or ``fingerprint`` (the centre's published
    fingerprint, which the key shipped in the directory must have). The shipped key alone
    proves nothing: whoever altered the files could have re-signed them with a key of their own.
    """
    from cryptography.exceptions import InvalidSignature

    if public_key_pem is None and fingerprint is None:
        raise ValueError("verify_export needs the centre's public key or its fingerprint")
    expected = signing.normalised_fingerprint(fingerprint) if fingerprint is not None else None
    problems: list[str] = []
    manifest_path, sig_path = directory / MANIFEST, directory / SIGNATURE
    for path in (manifest_path, sig_path):
        if not path.is_file():
            problems.append(f"{path.name}: missing")
    if problems:
        return problems
    if public_key_pem is None:
        if not (directory / PUBLIC_KEY).is_file():
            return [f"{PUBLIC_KEY}: missing (give the centre's public key with --public-key)"]
        public_key_pem = (directory / PUBLIC_KEY).read_bytes()
    try:
        public_key = signing.load_public_pem(public_key_pem)
    except signing.KeyProblem as exc:
        return [f"public key: {exc}"]
    actual = signing.fingerprint(public_key)
    if expected is not None and actual != expected:
        return [f"public key: its fingerprint is {actual}, not the centre's {expected} "
                f"(the export was not signed by the centre's key, or was re-signed)"]
    body = manifest_path.read_bytes()
    try:
        public_key.verify(base64.b64decode(sig_path.read_text().strip()), body)
    except (InvalidSignature, ValueError):
        return [f"{MANIFEST}: the signature does not match (the manifest or its signature was altered, "
                f"or it was signed by another key)"]
    manifest = json.loads(body)
    for entry in manifest.get("cameras", []):
        file = entry.get("file")
        if not file:
            continue
        path = directory / file["name"]
        if not path.is_file():
            problems.append(f"{file['name']}: missing")
        elif path.stat().st_size != file["size"]:
            problems.append(f"{file['name']}: size {path.stat().st_size}, the manifest says {file['size']}")
        elif file_sha256(path) != file["sha256"]:
            problems.append(f"{file['name']}: SHA-256 does not match the manifest (the file was altered)")
    return problems
