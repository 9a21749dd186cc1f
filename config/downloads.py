"""Streamed answers (CSV exports, file downloads) that cannot take the hub down.

Under ASGI, Django consumes a synchronous stream by building the whole body in memory
first, and an exception raised while it does escapes the request: the response is
never closed, ``request_finished`` never fires, and the database connection the
request held never goes back to the pool (nor does Daphne, whose error path then
fails, answer anything). Twenty such requests emptied the pool and took the hub down.

So a streamed answer here:

- runs its first query in the view (:func:`primed`): a query that fails is an error
  answer, never a broken file. Parameters are checked before that, by the view;
- is sent in bounded batches pulled in the request's own thread (the database
  connection is per thread), so a large file never sits whole in memory and a client
  that leaves stops the work at the next batch;
- never lets an exception out once the first byte is sent: it is logged and a CSV
  ends with a line saying the file is incomplete. Django then closes the response
  as usual, which gives the connection back; a client that leaves is handled by
  Django the same way (``request_finished``).

Cells a spreadsheet would run as a formula (``= + - @``, and a leading tab or
carriage return) are written as text, with a leading apostrophe.
"""

from __future__ import annotations

import csv
import itertools
import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from asgiref.sync import sync_to_async
from django.http import FileResponse, StreamingHttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.errors import DomainError

log = logging.getLogger(__name__)

BATCH_BYTES = 64 * 1024
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def reject_nul_bytes(params: Mapping[str, Any], names: Iterable[str]) -> None:
    """A 400 naming the first of ``names`` whose value holds a NUL character, which no text
    column can store (PostgreSQL refuses it, half way through an export otherwise)."""
    for name in names:
        value = params.get(name)
        if isinstance(value, str) and "\x00" in value:
            raise DomainError(gettext_lazy("This value contains a NUL character."), field=name)


def primed(items: Iterable[Any]) -> Iterator[Any]:
    """``items`` with its first element already produced: the query behind it runs now, in
    the view, where a failure is still an error answer."""
    iterator = iter(items)
    head = list(itertools.islice(iterator, 1))
    return itertools.chain(head, iterator)


def neutralise(value: Any) -> Any:
    """A cell as text when a spreadsheet would read it as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def _guarded(chunks: Iterator[Any], *, what: str, tail: str | None) -> Iterator[Any]:
    try:
        yield from chunks
    except Exception:  # noqa: BLE001 - the stream is under way: end it, say so, keep the hub up
        log.exception("%s failed half way; the client gets an incomplete file", what)
        if tail is not None:
            yield tail


class _BatchedAsync:
    """Sends the (synchronous) stream in batches pulled in the request's thread, instead of
    Django's whole-body-in-memory fallback."""

    def _next_batch(self) -> bytes:
        parts: list[bytes] = []
        size = 0
        for part in self.streaming_content:  # type: ignore[attr-defined]
            parts.append(part)
            size += len(part)
            if size >= BATCH_BYTES:
                break
        return b"".join(parts)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        pull = sync_to_async(self._next_batch, thread_sensitive=True)
        while True:
            try:
                batch = await pull()
            except Exception:  # noqa: BLE001 - not a byte more, but no exception out of the stream
                log.exception("a streamed answer failed half way")
                return
            if not batch:
                return
            yield batch


class GuardedStreamingResponse(_BatchedAsync, StreamingHttpResponse):
    """A :class:`StreamingHttpResponse` sent in batches, whose failures end the stream."""


class GuardedFileResponse(_BatchedAsync, FileResponse):
    """A :class:`FileResponse` sent in batches (an extraction is gigabytes, never in memory)."""


def csv_download(*, columns: Sequence[str], rows: Iterable[Sequence[Any]],
                 filename: str) -> GuardedStreamingResponse:
    """A CSV file (UTF-8 with a BOM, for spreadsheets) of ``rows`` under ``columns``.

    ``rows`` is read lazily; its first row is produced now (see :func:`primed`).
    """
    writer = csv.writer(_Echo())
    body = primed(rows)

    def lines() -> Iterator[str]:
        yield "\ufeff" + writer.writerow(columns)  # BOM: spreadsheets open it as UTF-8
        for row in body:
            yield writer.writerow([neutralise(cell) for cell in row])

    tail = writer.writerow([_("Export interrupted by a server error: this file is incomplete.")])
    response = GuardedStreamingResponse(_guarded(lines(), what=f"CSV export {filename}", tail=tail),
                                        content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def file_download(path: Path, *, filename: str | None = None, content_type: str | None = None,
                  as_attachment: bool = True) -> GuardedFileResponse:
    """A file on disk, sent in batches; opened now (a missing file fails in the view)."""
    return handle_download(path.open("rb"), filename=filename or path.name, content_type=content_type,
                           as_attachment=as_attachment)


def handle_download(handle: IO[bytes], *, filename: str, content_type: str | None = None,
                    as_attachment: bool = True) -> GuardedFileResponse:
    """An open, seekable binary reader (a file, an object of a store read by ranges), sent in
    batches and closed after."""
    response = GuardedFileResponse(handle, as_attachment=as_attachment, filename=filename,
                                   content_type=content_type)
    # Headers (length, name, type) come from the reader; the body from a guarded reading of it.
    response.streaming_content = _guarded(iter(lambda: handle.read(response.block_size), b""),
                                          what=f"download of {filename}", tail=None)
    return response
