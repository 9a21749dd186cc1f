"""A magistrate's clerk, with no account, reads the centre's key fingerprint and downloads the key."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_clerk_reads_the_fingerprint_and_downloads_the_key_without_an_account(new_context, csp_watch):
    context = new_context()
    csp_watch(context)
    page = context.new_page()
    response = page.goto("/.well-known/csu-export-key")
    assert response.status == 200 and page.url.endswith("/.well-known/csu-export-key")  # no login page
    page.get_by_role("heading", name="Clé de signature des extractions").wait_for()
    shown = page.locator("#export-key-fingerprint").inner_text()
    assert [len(line.split()) for line in shown.splitlines()] == [8, 8]  # two lines of eight groups

    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger la clé publique").click()
    assert download.value.suggested_filename == "hub-public-key.pem"
    key = serialization.load_pem_public_key(Path(download.value.path()).read_bytes())
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert "".join(shown.split()).lower() == hashlib.sha256(der).hexdigest()

    # Nothing cut off: every block of the page is as wide as what it holds.
    cut = page.evaluate("""() => [...document.querySelectorAll('main pre, main .fingerprint, main p')]
        .filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent.slice(0, 40))""")
    assert cut == []
    assert csp_watch.violations(page) == []
