"""The centre's signing key, published at /.well-known/csu-export-key for whoever checks an
extraction (no account needed), and printed by ``make run``."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.management import call_command
from django.test import Client

from partners.signing import grouped
from recordings.manifest import PUBLIC_KEY, signing_key

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def keys(settings, tmp_path):
    settings.HUB_SIGNING_KEY_PATH = tmp_path / "keys" / "hub.pem"
    settings.HUB_AUDIT_ANCHOR_KEY_PATH = tmp_path / "keys" / "audit-anchor.pem"
    return tmp_path


def der_fingerprint(pem: bytes) -> str:
    """Computed here from the key itself, not with the hub's helper."""
    key = serialization.load_pem_public_key(pem)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def test_anyone_reads_the_key_and_its_fingerprint(keys, db):
    anonymous = Client()
    pem = anonymous.get("/.well-known/csu-export-key.pem")
    assert pem.status_code == 200 and pem["Content-Disposition"] == f'attachment; filename="{PUBLIC_KEY}"'
    # The key that signs the extractions (and is shipped in them).
    own = signing_key().public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    assert pem.content == own
    fingerprint = der_fingerprint(pem.content)

    published = anonymous.get("/.well-known/csu-export-key.json").json()
    assert published["fingerprint_sha256"] == fingerprint and published["public_key_pem"] == own.decode()
    assert published["algorithm"] == "Ed25519"

    page = anonymous.get("/.well-known/csu-export-key")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    html = page.content.decode()
    # Two lines of eight groups of four hex digits: read aloud, compared by eye.
    assert (f"<span>{grouped(fingerprint[:32])}</span><span>{grouped(fingerprint[32:])}</span>" in html
            and len(grouped(fingerprint[:32]).split()) == 8)
    assert "verify_export &lt;dossier&gt;" in html and f"--fingerprint {fingerprint}</pre>" in html
    assert "Clé de signature des extractions" in html


def test_the_documented_openssl_command_gives_the_published_fingerprint(keys, db, tmp_path):
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    pem = Client().get("/.well-known/csu-export-key.pem").content
    key_file = tmp_path / PUBLIC_KEY
    key_file.write_bytes(pem)
    der = subprocess.run([openssl, "pkey", "-pubin", "-in", str(key_file), "-outform", "DER"],
                         check=True, capture_output=True).stdout
    assert hashlib.sha256(der).hexdigest() == Client().get("/.well-known/csu-export-key.json").json()[
        "fingerprint_sha256"]


def test_make_run_prints_the_fingerprint_and_where_it_is_published(keys, db):
    out = StringIO()
    call_command("export_key", "--url", "http://127.0.0.1:8000/", stdout=out)
    pem = Client().get("/.well-known/csu-export-key.pem").content
    fingerprint = der_fingerprint(pem)
    printed = out.getvalue()
    assert grouped(fingerprint) in printed
    assert "published at http://127.0.0.1:8000/.well-known/csu-export-key" in printed
    assert f"verify_export <dir> --fingerprint {fingerprint}" in printed
    assert "Access journal's anchoring key" in printed
    assert 'python manage.py export_key --url "http://${HUB_BIND}:${HUB_PORT}/"' in (
        ROOT / "scripts/run.sh").read_text()
