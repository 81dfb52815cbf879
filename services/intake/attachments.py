"""Screenshots and files: type decided by content (magic bytes), never by the name or the
declared type; size-limited; stored by their sha256."""

from __future__ import annotations

import hashlib

MAX_BYTES = 10 * 1024 * 1024
MAX_FILES = 10

_SIGNATURES: list[tuple[bytes, int, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
]


def sniff(content: bytes) -> str | None:
    """The content type of `content`, or None when it is not one we accept."""
    for magic, offset, ctype in _SIGNATURES:
        if content[offset : offset + len(magic)] == magic:
            return ctype
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    if content and b"\x00" not in content[:4096]:
        try:
            content[:4096].decode("utf-8")
        except UnicodeDecodeError:
            # a multi-byte character cut at the boundary is still text
            try:
                content[:4090].decode("utf-8")
            except UnicodeDecodeError:
                return None
        return "text/plain"
    return None


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
