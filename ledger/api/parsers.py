"""A JSON parser that enforces the payload limit, before and after gzip.

The limit (`OPSHEALTH_MAX_PAYLOAD_BYTES`) is checked from Content-Length before the
body is read, on every path, by `common.middleware.BodyLimitMiddleware`; here while
reading and while decompressing, in bounded chunks: a gzip bomb (a few kB that inflate
to gigabytes) is refused after at most the limit's worth of memory. A document nested
deeper than `OPSHEALTH_MAX_JSON_DEPTH` is refused (400) before it is parsed: Python's
parser, and every later reader of the value, recurse once per level.

It is the API's JSON parser everywhere (`DEFAULT_PARSER_CLASSES`), not only for
ingestion.
"""

from __future__ import annotations

import json
import zlib

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser

from ledger.bounds import json_too_deep

CHUNK = 64 * 1024


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"

    def __init__(self, limit: int, what: str):
        super().__init__(f"Payload too large: the {what} exceeds the limit of {limit} bytes.")


def read_limited(stream, limit: int) -> bytes:
    data = bytearray()
    while chunk := stream.read(CHUNK):
        data += chunk
        if len(data) > limit:
            raise PayloadTooLarge(limit, "request body")
    return bytes(data)


def gunzip_limited(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    try:
        while data:
            out += inflater.decompress(data, CHUNK)
            if len(out) > limit:
                raise PayloadTooLarge(limit, "decompressed body")
            data = inflater.unconsumed_tail
        out += inflater.flush()
    except zlib.error as exc:
        raise ParseError("Body is not valid gzip.") from exc
    if len(out) > limit:
        raise PayloadTooLarge(limit, "decompressed body")
    return bytes(out)


class LimitedJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        meta = request.META if request is not None else {}
        limit = settings.OPSHEALTH_MAX_PAYLOAD_BYTES
        data = read_limited(stream, limit) if stream is not None else b""
        encoding = meta.get("HTTP_CONTENT_ENCODING", "").strip().lower()
        if encoding == "gzip":
            data = gunzip_limited(data, limit)
        elif encoding not in ("", "identity"):
            raise ParseError(f"Unsupported Content-Encoding {encoding!r}: use gzip or none.")
        # PostgreSQL stores neither NUL characters nor NaN/Infinity in text and jsonb:
        # refuse them here (400) rather than fail in the database (500).
        if b"\\u0000" in data:
            raise ParseError("NUL characters (\\u0000) are not accepted.")
        depth = settings.OPSHEALTH_MAX_JSON_DEPTH
        if json_too_deep(data, depth):
            raise ParseError(f"JSON nested deeper than {depth} levels is not accepted.")
        try:
            return json.loads(data, parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error: {exc}") from exc


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")
