"""Attachments: type by content, allow-list, image metadata (the GPS position of a photo) removed."""

from __future__ import annotations

import struct
import zlib

import pytest

from services.intake.attachments import sniff, strip_metadata

GPS = b"GPSLatitude 40.4168 N GPSLongitude 3.7038 W"


def jpeg_with_exif() -> bytes:
    def segment(marker: int, payload: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload

    return (
        b"\xff\xd8"
        + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + segment(0xE1, b"Exif\x00\x00" + GPS)
        + segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>" + GPS + b"</x:xmpmeta>")
        + segment(0xFE, b"comentario con " + GPS)
        + segment(0xDB, b"\x00" + bytes(64))
        + segment(0xDA, b"\x00\x01\x01\x00\x00\x3f\x00")
        + b"\x12\x34\xff\x00\x56"  # entropy-coded data
        + b"\xff\xd9"
    )


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_exif() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"eXIf", b"MM\x00*" + GPS)
        + png_chunk(b"tEXt", b"Location\x00" + GPS)
        + png_chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00\x00"))
        + png_chunk(b"IEND", b"")
    )


def webp_with_exif() -> bytes:
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes([0x08 | 0x04, 0, 0, 0]) + bytes(6)
    exif = b"EXIF" + struct.pack("<I", len(GPS)) + GPS + (b"\x00" if len(GPS) & 1 else b"")
    image = b"VP8L" + struct.pack("<I", 6) + b"\x2f\x00\x00\x00\x00\x00"
    body = b"WEBP" + vp8x + exif + image
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(
    ("content", "ctype"),
    [(jpeg_with_exif(), "image/jpeg"), (png_with_exif(), "image/png"), (webp_with_exif(), "image/webp")],
)
def test_photos_lose_their_metadata_and_keep_their_picture(content: bytes, ctype: str) -> None:
    assert sniff(content) == ctype
    assert GPS in content
    clean = strip_metadata(content, ctype)
    assert GPS not in clean and b"Exif" not in clean and b"eXIf" not in clean
    assert sniff(clean) == ctype
    assert strip_metadata(clean, ctype) == clean  # nothing left to remove


def test_the_picture_data_is_untouched() -> None:
    jpeg = strip_metadata(jpeg_with_exif(), "image/jpeg")
    assert jpeg.endswith(b"\x12\x34\xff\x00\x56\xff\xd9") and b"JFIF" in jpeg
    png = strip_metadata(png_with_exif(), "image/png")
    assert b"IDAT" in png and png.endswith(png_chunk(b"IEND", b""))
    webp = strip_metadata(webp_with_exif(), "image/webp")
    assert struct.unpack("<I", webp[4:8])[0] == len(webp) - 8  # the RIFF size follows
    assert webp[20] & 0x0C == 0  # VP8X no longer announces EXIF or XMP


def test_only_allowed_types_by_content_whatever_the_name() -> None:
    assert sniff(b"GIF89a" + bytes(10)) is None
    assert sniff(b"MZ\x90\x00" + bytes(100)) is None  # a Windows program
    assert sniff(b"%PDF-1.7\n...") == "application/pdf"
    assert sniff("2026-11-26 ERROR conexión rechazada\n".encode()) == "text/plain"
    assert sniff(b"\x00\x01\x02") is None


def test_a_broken_image_structure_is_refused_not_stored() -> None:
    broken = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 10_000) + b"eXIf" + GPS
    with pytest.raises(ValueError):
        strip_metadata(broken, "image/png")
