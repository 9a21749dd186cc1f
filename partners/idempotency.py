"""``Idempotency-Key`` for writes that a flaky client may repeat (docs/architecture.md).

The same key with the same request (method, path, body) gets the stored answer
once more, without a second write; the same key with another request is refused
with 422. The write and the stored answer commit together, and concurrent
repeats of one key are serialised, so the effect happens exactly once.
"""

from __future__ import annotations

import functools
import hashlib
import json

from django.db import connection, transaction
from django.utils.translation import gettext as _
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from partners.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY = 200


def _lock(user_id: int, key: str) -> None:
    digest = hashlib.sha256(f"{user_id}:{key}".encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)",
                       [int.from_bytes(digest[:8], "big", signed=True)])


def idempotent(view_method):
    """Decorate an APIView write method; a no-op when the request carries no key."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view_method(self, request, *args, **kwargs)
        if not key.strip() or len(key) > MAX_KEY:
            return Response({"error": "invalid", "detail": {HEADER: [
                _("An idempotency key is 1 to %(max)d characters.") % {"max": MAX_KEY}]}}, status=400)
        request_hash = hashlib.sha256(
            b"\n".join([request.method.encode(), request.path.encode(), request.body])).hexdigest()
        with transaction.atomic():
            _lock(request.user.pk, key)
            record = IdempotencyRecord.objects.filter(user=request.user, key=key).first()
            if record is not None:
                if record.request_hash != request_hash:
                    return Response({"error": "idempotency_key_reused", "detail":
                                     _("This request was already sent with another content.")}, status=422)
                response = Response(record.response, status=record.status_code)
                response["Idempotent-Replayed"] = "true"
                return response
            response = view_method(self, request, *args, **kwargs)
            if 200 <= response.status_code < 300:
                IdempotencyRecord.objects.create(
                    user=request.user, key=key, request_hash=request_hash,
                    status_code=response.status_code,
                    response=json.loads(json.dumps(response.data, cls=JSONEncoder)))
            return response

    return wrapper
