"""Screenshots and files: type decided by content (magic bytes), never by the name or the
declared type; an allow-list (PNG, JPEG, WebP, PDF, plain text and logs); size-limited; image
metadata (EXIF with its GPS position, XMP, text chunks) stripped; stored by the sha256 of what
is kept."""

from __future__ import annotations

import hashlib
import struct

MAX_BYTES = 10 * 1024 * 1024
MAX_FILES = 10

_SIGNATURES: list[tuple[bytes, int, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
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


def strip_metadata(content: bytes, ctype: str) -> bytes:
    """The image without its metadata (where a photo says where it was taken); other types as
    they are. A file whose structure cannot be followed is returned unchanged only if it has no
    metadata markers at all; otherwise ValueError (refused rather than stored with them)."""
    if ctype == "image/jpeg":
        return _strip_jpeg(content)
    if ctype == "image/png":
        return _strip_png(content)
    if ctype == "image/webp":
        return _strip_webp(content)
    return content


# APP1 (Exif, XMP), APP12, APP13 (Photoshop/IPTC), COM: everything that is not picture data
_JPEG_DROP = {0xE1, 0xEC, 0xED, 0xFE}


def _strip_jpeg(data: bytes) -> bytes:
    out = bytearray(data[:2])
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError("JPEG segment expected")
        marker = data[i + 1]
        if marker == 0xDA:  # start of scan: the rest is picture data
            out += data[i:]
            return bytes(out)
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:
            out += data[i : i + 2]
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        segment = data[i : i + 2 + length]
        if marker not in _JPEG_DROP:
            out += segment
        i += 2 + length
    out += data[i:]
    return bytes(out)


_PNG_DROP = {b"eXIf", b"tEXt", b"iTXt", b"zTXt", b"tIME"}


def _strip_png(data: bytes) -> bytes:
    out = bytearray(data[:8])
    i = 8
    while i + 8 <= len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind = data[i + 4 : i + 8]
        end = i + 12 + length
        if end > len(data):
            raise ValueError("PNG chunk runs past the end")
        if kind not in _PNG_DROP:
            out += data[i:end]
        i = end
        if kind == b"IEND":
            break
    return bytes(out)


def _strip_webp(data: bytes) -> bytes:
    chunks = bytearray()
    i = 12
    while i + 8 <= len(data):
        kind = data[i : i + 4]
        (length,) = struct.unpack("<I", data[i + 4 : i + 8])
        end = i + 8 + length + (length & 1)
        if end > len(data) + 1:
            raise ValueError("WebP chunk runs past the end")
        chunk = bytearray(data[i:end])
        if kind == b"VP8X" and len(chunk) > 8:
            chunk[8] &= ~0x0C & 0xFF  # no EXIF (0x08) or XMP (0x04) any more
        if kind not in (b"EXIF", b"XMP "):
            chunks += chunk
        i = end
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + bytes(chunks)
