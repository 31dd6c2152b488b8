"""gzip bodies and files: decompressed as they arrive, never past the size limit (no gzip bomb)."""

from __future__ import annotations

import zlib

from service.errors import InvalidDatasetError, PayloadTooLargeError, UnsupportedMediaTypeError

GZIP_MAGIC = b"\x1f\x8b"
GZIP_TYPES = ("application/gzip", "application/x-gzip")
# Output of one decompress call: a 64 KiB chunk of zeros inflates to 64 MiB; in pieces, memory
# stays bounded by the limit and the event loop gets its turns between them.
PIECE_BYTES = 1 << 20
# wbits for zlib: 16 + 15 reads the gzip format only (header, CRC and length checked).
_GZIP_WBITS = 16 + zlib.MAX_WBITS


def content_coding(header: str | None) -> str | None:
    """``gzip`` for a gzip Content-Encoding, None for none (or identity); 415 for any other coding."""
    codings = [c.strip().lower() for c in (header or "").split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return None
    if codings == ["gzip"] or codings == ["x-gzip"]:
        return "gzip"
    raise UnsupportedMediaTypeError(
        f"Content-Encoding {', '.join(codings)} is not accepted; send gzip or an uncompressed body."
    )


class GzipStream:
    """Feed compressed chunks, get the decompressed bytes; more than ``limit`` of them is a 413.

    Concatenated gzip members (what ``cat a.gz b.gz`` makes) read as one stream, as gunzip reads them.
    """

    def __init__(self, limit: int, what: str = "body") -> None:
        self.limit = limit
        self.what = what
        self.size = 0
        self._inflater = zlib.decompressobj(_GZIP_WBITS)
        self._started = False

    def feed(self, data: bytes) -> list[bytes]:
        """The decompressed pieces of ``data`` (each at most :data:`PIECE_BYTES`)."""
        pieces: list[bytes] = []
        while data:
            self._started = True
            try:
                piece = self._inflater.decompress(data, min(PIECE_BYTES, self.limit + 1 - self.size))
            except zlib.error:
                raise InvalidDatasetError(f"the {self.what} is not valid gzip data") from None
            self.size += len(piece)
            if self.size > self.limit:
                raise PayloadTooLargeError(
                    f"The decompressed {self.what} exceeds the limit of {self.limit} bytes.", limit=self.limit
                )
            if piece:
                pieces.append(piece)
            if self._inflater.eof:
                data = self._inflater.unused_data  # the next member, if any
                if data:
                    self._inflater = zlib.decompressobj(_GZIP_WBITS)
            else:
                data = self._inflater.unconsumed_tail
        return pieces

    def finish(self) -> None:
        """Raise unless the stream ended where a gzip member ends (a cut-off upload)."""
        if not self._started or not self._inflater.eof:
            raise InvalidDatasetError(f"the {self.what} is not complete gzip data (cut off?)")


def gunzip(data: bytes, limit: int, what: str = "file") -> bytes:
    """The decompressed ``data``, at most ``limit`` bytes of it (413 beyond, 422 when not gzip)."""
    stream = GzipStream(limit, what)
    pieces = stream.feed(data)
    stream.finish()
    return b"".join(pieces)


def is_gzip_file(content_type: str | None, filename: str | None, data: bytes) -> bool:
    """A multipart file that is gzip: by its name (``.gz``), its content type, or its first bytes."""
    kind = (content_type or "").split(";")[0].strip().lower()
    return (filename or "").lower().endswith(".gz") or kind in GZIP_TYPES or data.startswith(GZIP_MAGIC)
