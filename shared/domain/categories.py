"""A ticket's category guessed from what the customer wrote (keywords in Spanish and English,
accents folded): intake files a ticket with no category under it, and the knowledge base puts
that category's articles first among its suggestions."""

from __future__ import annotations

import re
import unicodedata

from shared.domain.events.vocabulary import Category

# Words (accents folded, lower case) that point at a category, in Spanish and English.
KEYWORDS: dict[Category, tuple[str, ...]] = {
    Category.order_status: (
        "pedido",
        "envio",
        "entrega",
        "paquete",
        "seguimiento",
        "rastreo",
        "llego",
        "devolucion",
        "order",
        "shipping",
        "shipment",
        "delivery",
        "package",
        "tracking",
        "parcel",
        "return",
    ),
    Category.payment: (
        "pago",
        "cobro",
        "cobrado",
        "tarjeta",
        "factura",
        "reembolso",
        "cargo",
        "transferencia",
        "payment",
        "charge",
        "charged",
        "card",
        "invoice",
        "refund",
        "billing",
        "paypal",
    ),
    Category.account: (
        "cuenta",
        "contrasena",
        "usuario",
        "sesion",
        "registro",
        "correo",
        "bloqueada",
        "perfil",
        "account",
        "password",
        "login",
        "username",
        "signin",
        "locked",
        "profile",
        "2fa",
    ),
    Category.hardware: (
        "impresora",
        "pantalla",
        "teclado",
        "raton",
        "portatil",
        "monitor",
        "disco",
        "enciende",
        "bateria",
        "cargador",
        "printer",
        "screen",
        "keyboard",
        "mouse",
        "laptop",
        "battery",
        "charger",
        "hardware",
        "device",
        "dispositivo",
    ),
    Category.software: (
        "aplicacion",
        "programa",
        "error",
        "actualizacion",
        "instalar",
        "app",
        "navegador",
        "falla",
        "software",
        "application",
        "update",
        "install",
        "crash",
        "bug",
        "browser",
        "version",
    ),
    Category.network: (
        "red",
        "internet",
        "wifi",
        "conexion",
        "vpn",
        "router",
        "lenta",
        "senal",
        "caido",
        "network",
        "connection",
        "connectivity",
        "slow",
        "dns",
        "offline",
        "timeout",
        "latency",
    ),
}
_WORD = re.compile(r"[a-z0-9]+")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def guess_category(text: str) -> Category:
    """The category whose keywords appear most often; `other` when none (ties: first listed)."""
    words = _WORD.findall(_fold(text))
    best, best_score = Category.other, 0
    for category, keys in KEYWORDS.items():
        keyset = set(keys)
        score = sum(1 for w in words if w in keyset)
        if score > best_score:
            best, best_score = category, score
    return best
