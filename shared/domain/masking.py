"""Confidential data typed into tickets, masked before any event is written. Pure.

`mask(text)` returns the text with:
- payment card numbers (13-19 digits, any spacing or dashes, Luhn-valid) reduced to their last
  four digits: `4111 1111 1111 1111` -> `**** **** **** 1111`;
- security codes (3-4 digits) right after a card-code word (CVV, CVC, CID, código de seguridad,
  security code);
- passwords after a password word (contraseña, clave, password, passwd, pwd, PIN);
- API keys and tokens: well-known shapes (sk_live_..., AKIA..., ghp_..., xoxb-..., JWTs,
  `Bearer ...`) and any long secret-looking value after key/token/secret words;
and the kinds it found, so the person can be told. Order numbers, tracking codes and phone
numbers are left alone: they fail the Luhn check, are too short, or carry letters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HIDDEN = "[oculto]"

# 13-19 digits, single spaces or dashes between groups, not glued to other digits or letters.
_CARD = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")
_CARD_CODE = re.compile(
    r"(?P<label>\b(?:cvv2?|cvc2?|cid|c[óo]digo\s+de\s+seguridad|security\s+code|card\s+code)\b\s*(?:es|is|:|=|#)?\s*)"
    r"(?P<code>\d{3,4})\b",
    re.IGNORECASE,
)
_PASSWORD = re.compile(
    r"(?P<label>\b(?:contrase[ñn]a|clave|password|passwd|pwd|passcode|pin)\b"
    r"(?:\s+(?:es|is|era|was|nueva|new|actual|current))*\s*(?::|=|->)?\s*)"
    r"(?P<secret>[\"'«]?[^\s\"'»]{4,}[\"'»]?)",
    re.IGNORECASE,
)
_KEYWORD_SECRET = re.compile(
    r"(?P<label>\b(?:api[_ -]?key|apikey|access[_ -]?key|secret(?:[_ -]?key)?|token|auth[_ -]?token)\b"
    r"\s*(?:es|is|:|=)?\s*)(?P<secret>[A-Za-z0-9_\-./+=]{16,})",
    re.IGNORECASE,
)
_KNOWN_TOKENS = re.compile(
    r"\b(?:"
    r"(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
    r"|AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{30,}"  # GitHub
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|AIza[0-9A-Za-z_\-]{35}"  # Google API key
    r"|eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"  # a JWT
    r")\b"
)
_BEARER = re.compile(r"(?P<label>\bBearer\s+)(?P<secret>[A-Za-z0-9_\-.~+/=]{16,})")
# Words that make a secret-looking value a password, not an ordinary word ("la clave del problema").
_NOT_SECRETS = frozenset({"del", "de", "the", "of", "para", "for", "que", "that", "está", "esta", "is", "es"})


@dataclass(frozen=True)
class Masked:
    text: str
    kinds: tuple[str, ...]


def luhn_ok(digits: str) -> bool:
    total, double = 0, False
    for ch in reversed(digits):
        d = ord(ch) - 48
        if double:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
        double = not double
    return total % 10 == 0


def card_like(digits: str) -> bool:
    """A length the issuer (by its first digits) uses: keeps IMEIs (15 digits, Luhn too) out."""
    n, two, four = len(digits), int(digits[:2]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)  # Visa
    if two in (34, 37):
        return n == 15  # American Express
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16  # Mastercard
    if two in (36, 38) or 300 <= int(digits[:3]) <= 305:
        return 14 <= n <= 19  # Diners
    if 3528 <= four <= 3589 or two in (50, 62) or 56 <= two <= 69:
        return 16 <= n <= 19  # JCB, UnionPay, Discover, Maestro
    return False


def _card(match: re.Match[str]) -> str | None:
    raw = match.group(0)
    digits = re.sub(r"\D", "", raw)
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1 or not card_like(digits) or not luhn_ok(digits):
        return None
    keep = len(digits) - 4
    out, seen = [], 0
    for ch in raw:
        if ch.isdigit():
            out.append("*" if seen < keep else ch)
            seen += 1
        else:
            out.append(ch)
    return "".join(out)


def mask(text: str) -> Masked:
    kinds: list[str] = []

    def note(kind: str) -> None:
        if kind not in kinds:
            kinds.append(kind)

    def card(m: re.Match[str]) -> str:
        hidden = _card(m)
        if hidden is None:
            return m.group(0)
        note("card_number")
        return hidden

    def code(m: re.Match[str]) -> str:
        note("card_code")
        return m.group("label") + "***"

    def password(m: re.Match[str]) -> str:
        secret = m.group("secret").strip("\"'«»")
        if secret.lower() in _NOT_SECRETS or secret == HIDDEN:
            return m.group(0)
        said = re.search(r"[:=]|->|\b(?:es|is|era|was)\b", m.group("label"), re.IGNORECASE)
        if not said and not re.search(r"[\d\W_]", secret):
            return m.group(0)  # "the password reset link": a word follows, not a password
        note("password")
        return m.group("label") + HIDDEN

    def token(m: re.Match[str]) -> str:
        note("token")
        return HIDDEN

    def labelled_token(m: re.Match[str]) -> str:
        if m.group("secret") == HIDDEN:
            return m.group(0)
        note("token")
        return m.group("label") + HIDDEN

    out = _CARD.sub(card, text)
    out = _CARD_CODE.sub(code, out)
    out = _KNOWN_TOKENS.sub(token, out)
    out = _BEARER.sub(labelled_token, out)
    out = _KEYWORD_SECRET.sub(labelled_token, out)
    out = _PASSWORD.sub(password, out)
    return Masked(out, tuple(kinds))
