"""Object-key validation: keys come from user input, so they must never escape the store root."""

from __future__ import annotations

from tessera.core.errors import InvalidArgument

MAX_KEY_BYTES = 1024  # S3's limit
META_SEGMENT = ".meta"  # the local backend's checksum sidecars
UPLOADS_SEGMENT = ".uploads"  # the S3 backend's temporary uploads
# First key segments the backends keep for themselves, so user keys never collide with them.
RESERVED_FIRST_SEGMENTS = (META_SEGMENT, UPLOADS_SEGMENT)


def validate_key(key: str, field: str = "key") -> str:
    """Return ``key`` unchanged if it is a safe relative object key, else raise :class:`InvalidArgument`.

    Rejected: empty keys, keys over 1024 UTF-8 bytes, absolute paths (``/etc/passwd``), any
    ``..`` or ``.`` segment, empty segments (``a//b``), backslashes, control characters
    (NUL included) and a first segment reserved by the backends (``.meta``, ``.uploads``).
    """
    if not isinstance(key, str) or not key:
        raise InvalidArgument.field(field, "must be a non-empty string")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidArgument.field(field, f"must be at most {MAX_KEY_BYTES} bytes")
    bad = next((c for c in key if ord(c) < 0x20 or ord(c) == 0x7F), None)
    if bad is not None:
        raise InvalidArgument.field(field, f"must not contain control character {bad!r}")
    if "\\" in key:
        raise InvalidArgument.field(field, "must not contain backslashes")
    if key.startswith("/"):
        raise InvalidArgument.field(field, "must be relative, not an absolute path")
    for segment in key.split("/"):
        if segment in ("..", "."):
            raise InvalidArgument.field(field, f"must not contain a {segment!r} segment")
        if segment == "":
            raise InvalidArgument.field(field, "must not contain empty segments ('//' or trailing '/')")
    if key.split("/", 1)[0] in RESERVED_FIRST_SEGMENTS:
        reserved = ", ".join(RESERVED_FIRST_SEGMENTS)
        raise InvalidArgument.field(field, f"must not start with a segment reserved by the stores ({reserved})")
    return key


def validate_prefix(prefix: str, field: str = "prefix") -> str:
    """A listing prefix: empty, or a key that may end with '/'."""
    if prefix == "":
        return prefix
    validate_key(prefix.rstrip("/") or "x", field)
    return prefix
