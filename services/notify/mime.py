"""A mail's bytes, written directly: headers, then the text and HTML parts in base64.

The standard library's `EmailMessage` parses every header it is given and walks a generator to
write the result: under a sale-day load that was about 1.7 ms of notify's CPU per mail, most of
what sending cost. A notification always has the same shape, so it is written as one string.
Any header with a line break or another control character is refused (`ValueError`, as
`EmailMessage` does), so nothing a customer typed can add a header; words outside ASCII become
RFC 2047 encoded words. `tests/unit/notify/test_mime.py` reads every message back with the
standard parser.
"""

from __future__ import annotations

import base64
import re
import secrets
from email.header import Header

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_LONGEST_PLAIN = 900  # RFC 5322 allows 998 per line; longer values are folded by Header


def header(name: str, value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError(f"{name}: a header may not contain line breaks or control characters")
    if value.isascii() and len(value) <= _LONGEST_PLAIN:
        return f"{name}: {value}\r\n"
    return f"{name}: {Header(value, 'utf-8', header_name=name).encode(linesep=chr(13) + chr(10))}\r\n"


def _part(kind: str, text: str) -> str:
    encoded = base64.encodebytes(text.encode()).decode().replace("\n", "\r\n")
    return f'Content-Type: text/{kind}; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}'


def alternative(headers: list[tuple[str, str]], text: str, html: str) -> bytes:
    """The whole message: `headers` in order, then a multipart/alternative of `text` and `html`."""
    boundary = "=_mesa_" + secrets.token_hex(12)  # "_" is not in base64's alphabet: never in a part
    head = "".join(header(name, value) for name, value in headers)
    return (
        f'{head}MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\n{_part('plain', text)}--{boundary}\r\n{_part('html', html)}--{boundary}--\r\n"
    ).encode("ascii")
