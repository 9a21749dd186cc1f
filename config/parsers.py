"""The API's JSON parser: bounded nesting, no NUL character.

Python's JSON decoder recurses once per nested array or object, and so does every piece
of code that walks the result afterwards (serializers, GEOS, the JSON encoder): a body
100,000 levels deep used to end in a ``RecursionError`` and a 500. No document the hub
accepts is more than a few levels deep (a GeoJSON multipolygon is six), so a body deeper
than ``HUB_JSON_MAX_DEPTH`` is refused before it is decoded.

A NUL character (``\\u0000``) in a key or a string cannot be stored by PostgreSQL in a
text or ``jsonb`` column: it is refused here too, with the same 400 as a malformed body.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

from django.conf import settings
from django.utils.translation import gettext
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# The characters that open or close a level, and the strings (whose brackets do not count).
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether ``text`` nests arrays and objects more than ``limit`` levels deep, read without
    decoding it (no recursion: any length and depth)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False


def _has_nul(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, with a depth limit and no NUL character; its refusals in French."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read() if stream is not None else ""
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(gettext("The body is not valid %(encoding)s text.") % {"encoding": encoding}) \
                from exc
        limit = settings.HUB_JSON_MAX_DEPTH
        if json_depth_exceeds(text, limit):
            raise ParseError(gettext("The JSON body is nested more than %(limit)d levels deep.")
                             % {"limit": limit})
        try:
            data = json.loads(text, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError(gettext("The body is not valid JSON.")) from exc
        if _has_nul(data):
            raise ParseError(gettext("The body contains a NUL character, which cannot be stored."))
        return data


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON, and PostgreSQL's jsonb refuses them.
    raise ValueError(f"{name} is not JSON")
