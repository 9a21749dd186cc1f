"""The centre's public signing key, published where whoever checks an extraction can read it:
``/.well-known/csu-export-key`` (a page, in French, for a magistrate's clerk),
``/.well-known/csu-export-key.pem`` (the key) and ``/.well-known/csu-export-key.json``.

Public, no sign-in: a public key and its fingerprint are not secrets, and the people who
check an extraction have no account on the hub. The fingerprint must still reach them by a
second channel (the hand-over letter), since whoever could alter an export in transit could
also stand between them and this page.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from partners.anchor import anchor_public_key
from partners.signing import fingerprint, grouped, public_pem
from recordings.manifest import PUBLIC_KEY, hub_public_key

KEY_URL = "/.well-known/csu-export-key"


def published_keys() -> dict[str, object]:
    """The extractions' key (PEM, fingerprint) and, if it exists yet, the journal's anchoring key."""
    pem, export_fingerprint = hub_public_key()
    anchor = anchor_public_key()
    return {
        "algorithm": "Ed25519",
        "fingerprint_sha256": export_fingerprint,
        "fingerprint_of": "SHA-256 of the public key, DER (SubjectPublicKeyInfo)",
        "public_key_pem": pem.decode(),
        "audit_anchor_key": None if anchor is None else {
            "fingerprint_sha256": fingerprint(anchor), "public_key_pem": public_pem(anchor).decode()},
    }


def _two_lines(fingerprint_hex: str) -> list[str]:
    """64 hex digits as two lines of eight groups of four: read aloud, compared by eye."""
    return [grouped(fingerprint_hex[:32]), grouped(fingerprint_hex[32:])]


@require_GET
def export_key_page(request: HttpRequest) -> HttpResponse:
    keys = published_keys()
    anchor = keys["audit_anchor_key"]
    return render(request, "recordings/export_key.html", {
        "keys": keys, "key_file": PUBLIC_KEY,
        "fingerprint_lines": _two_lines(str(keys["fingerprint_sha256"])),
        "anchor_lines": _two_lines(anchor["fingerprint_sha256"]) if isinstance(anchor, dict) else None})


@require_GET
def export_key_pem(request: HttpRequest) -> HttpResponse:
    pem, _ = hub_public_key()
    response = HttpResponse(pem, content_type="application/x-pem-file")
    response["Content-Disposition"] = f'attachment; filename="{PUBLIC_KEY}"'
    return response


@require_GET
def export_key_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse(published_keys())
