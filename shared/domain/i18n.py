"""Words people read, in Spanish by default and English on request: the one way Mesa translates.

A text is a `Say` (its Spanish and its English); a book of them is a `Texts` keyed by code. The
API's error messages (`MESSAGES`, `t(code, lang, **params)`), the pages' words, the timeline and
the mails are all books of `Say`. `pick_language("en-GB,en;q=0.8")` reads an Accept-Language
header.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

Lang = Literal["es", "en"]
SUPPORTED: tuple[Lang, ...] = ("es", "en")


@dataclass(frozen=True)
class Say:
    """One text in both languages (`str.format` fields, or a jinja template for a mail)."""

    es: str
    en: str

    def pick(self, lang: str) -> str:
        """The text in `lang` (Spanish for anything but English)."""
        return self.en if lang == "en" else self.es

    def __call__(self, lang: str, **params: object) -> str:
        return self.pick(lang).format(**params)


class Texts(Mapping[str, Say]):
    """A book of texts by code; an unknown code reads as itself (never an error page)."""

    def __init__(self, entries: Mapping[str, Say | tuple[str, str] | Mapping[str, str]]) -> None:
        self._entries = {code: _say(v) for code, v in entries.items()}

    def __getitem__(self, code: str) -> Say:
        return self._entries[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def say(self, code: str | None, lang: str, **params: object) -> str:
        if code is None:
            return ""
        found = self._entries.get(code)
        return code if found is None else found(lang, **params)


def _say(value: Say | tuple[str, str] | Mapping[str, str]) -> Say:
    if isinstance(value, Say):
        return value
    if isinstance(value, tuple):
        return Say(*value)
    return Say(value["es"], value["en"])


MESSAGES = Texts(
    {
        "not_found": {
            "es": "El ticket {ticket_id} no existe.",
            "en": "Ticket {ticket_id} does not exist.",
        },
        "version_conflict": {
            "es": "El ticket cambió mientras lo editabas (versión esperada {expected}, actual {actual}). "
            "Vuelve a cargarlo e inténtalo de nuevo.",
            "en": "The ticket changed meanwhile (expected version {expected}, current {actual}). Reload it and try again.",
        },
        "not_allowed_in_status": {
            "es": "No se puede «{command}» un ticket en estado «{status}».",
            "en": "Cannot '{command}' a ticket whose status is '{status}'.",
        },
        "not_requester": {
            "es": "Solo quien abrió el ticket puede «{command}».",
            "en": "Only the person who opened the ticket may '{command}'.",
        },
        "agents_only": {
            "es": "Solo un agente de soporte puede «{command}».",
            "en": "Only a support agent may '{command}'.",
        },
        "no_owner": {
            "es": "El ticket aún no tiene responsable asignado.",
            "en": "The ticket has no owner yet.",
        },
        "no_pending_question": {
            "es": "No hay ninguna solicitud de información pendiente; usa «comment» para añadir detalles.",
            "en": "There is no pending request for information; use 'comment' to add details.",
        },
        "feedback_given": {
            "es": "Ya registraste tu valoración de este ticket.",
            "en": "You have already rated this ticket.",
        },
        "top_level": {
            "es": "El ticket ya está en el nivel más alto de soporte ({level}).",
            "en": "The ticket is already at the highest support level ({level}).",
        },
        "erased": {
            "es": "Los datos personales de este ticket se borraron a petición de quien lo abrió; ya no admite cambios.",
            "en": "This ticket's personal data was erased at its requester's request; it takes no more changes.",
        },
        "erasure_unknown": {
            "es": "No hay datos de «{requester}» que borrar (no abrió tickets o ya se borraron).",
            "en": "There is no data of '{requester}' to erase (no tickets, or already erased).",
        },
        "closed_use_reopen": {
            "es": "El ticket está cerrado; reábrelo para continuar.",
            "en": "The ticket is closed; reopen it to continue.",
        },
        "missing_scope": {
            "es": "El token de este sistema no incluye el permiso «{scope}».",
            "en": "This system's token does not grant '{scope}'.",
        },
        "cross_origin": {
            "es": "Solicitud rechazada: llega con la sesión del navegador desde otra página. Usa las páginas de Mesa o un token «Authorization: Bearer».",
            "en": "Request refused: it carries the browser session from another page. Use Mesa's pages or an 'Authorization: Bearer' token.",
        },
        "attachment_not_yours": {
            "es": "Un adjunto tiene que subirse con esta misma solicitud, o ser uno que el ticket ya muestra.",
            "en": "An attachment must be uploaded with this same request, or be one the ticket already shows.",
        },
        "idempotency_key_reused": {
            "es": "Esta Idempotency-Key ya se usó con otra solicitud: usa una clave nueva para una solicitud distinta.",
            "en": "This Idempotency-Key was already used with a different request: use a new key for a new request.",
        },
        "unauthenticated": {
            "es": "Hace falta identificarse con un token válido: envía «Authorization: Bearer <token>».",
            "en": "Sign-in required with a valid token: send 'Authorization: Bearer <token>'.",
        },
        "forbidden_role": {
            "es": "Tu rol «{role}» no permite esta operación (hace falta: {allowed}).",
            "en": "Your role '{role}' may not do this (needs: {allowed}).",
        },
        "read_only": {
            "es": "El rol «{role}» solo puede consultar; no puede cambiar tickets.",
            "en": "The '{role}' role may only read; it cannot change tickets.",
        },
        "requester_mismatch": {
            "es": "Solo puedes abrir tickets a tu nombre ({sub}).",
            "en": "You may only open tickets in your own name ({sub}).",
        },
        "too_large": {
            "es": "La solicitud es demasiado grande (máximo {limit_mb} MB).",
            "en": "The request is too large (at most {limit_mb} MB).",
        },
        "internal": {
            "es": "Algo falló de nuestro lado; no se ha perdido nada. Inténtalo de nuevo en un momento.",
            "en": "Something failed on our side; nothing was lost. Please try again in a moment.",
        },
        "view_behind": {
            "es": "El ticket {ticket_id} aún no muestra la versión {version} (muestra la {seen}); "
            "se está actualizando. Inténtalo de nuevo en un momento.",
            "en": "Ticket {ticket_id} does not show version {version} yet (it shows {seen}); "
            "it is being updated. Try again in a moment.",
        },
        "overloaded": {
            "es": "Estamos recibiendo muchas solicitudes a la vez. No se ha guardado nada: inténtalo de nuevo en {seconds} s.",
            "en": "We are receiving many requests at once. Nothing was saved: try again in {seconds} s.",
        },
        "write_rate_limited": {
            "es": "Demasiadas acciones seguidas. Espera {seconds} s e inténtalo de nuevo.",
            "en": "Too many actions in a row. Wait {seconds} s and try again.",
        },
        "rate_limited": {
            "es": "Has abierto muchos tickets seguidos. Espera {seconds} s e inténtalo de nuevo.",
            "en": "You opened many tickets in a row. Wait {seconds} s and try again.",
        },
        "no_files_here": {
            "es": "La orden «{command}» no admite archivos; pueden enviarse con: {valid}.",
            "en": "Command '{command}' takes no files; files go with: {valid}.",
        },
        "attachment_not_found": {
            "es": "Ese archivo no está en este ticket.",
            "en": "That file is not on this ticket.",
        },
        "nothing_changes": {
            "es": "No hay nada que cambiar: el ticket ya está así.",
            "en": "Nothing to change: the ticket is like that already.",
        },
        "macro_broken": {
            "es": "La macro no se puede aplicar: {reason}",
            "en": "The macro cannot be applied: {reason}",
        },
        "macro_unknown": {
            "es": "No hay una macro «{macro}» que puedas usar.",
            "en": "There is no macro '{macro}' you may use.",
        },
        "too_many_tags": {
            "es": "Un ticket lleva como mucho {limit} etiquetas.",
            "en": "A ticket carries at most {limit} tags.",
        },
        "same_ticket": {
            "es": "Un ticket no se puede enlazar ni fusionar consigo mismo.",
            "en": "A ticket cannot be linked or merged with itself.",
        },
        "merge_other_requester": {
            "es": "Solo se fusionan tickets del mismo cliente: {other} es de otra persona.",
            "en": "Only tickets of the same customer are merged: {other} is someone else's.",
        },
        "merge_into_closed": {
            "es": "{other} está cerrado: fusiona en un ticket abierto.",
            "en": "{other} is closed: merge into an open ticket.",
        },
        "review_exists": {
            "es": "La auditoría {review} ya está abierta.",
            "en": "Audit {review} is open already.",
        },
        "review_unknown": {
            "es": "No hay ninguna auditoría {review}.",
            "en": "There is no audit {review}.",
        },
        "finding_unknown": {
            "es": "No hay ningún hallazgo {finding}.",
            "en": "There is no finding {finding}.",
        },
        "action_unknown": {
            "es": "No hay ninguna acción de mejora {action}.",
            "en": "There is no improvement action {action}.",
        },
        "action_owner_unknown": {
            "es": "«{owner}» no es nadie del equipo: una acción necesita un responsable del equipo.",
            "en": "'{owner}' is not on the team: an action needs an owner from the team.",
        },
        "action_unchanged": {
            "es": "La acción {action} ya está en ese estado; añade una nota para dejar constancia del avance.",
            "en": "Action {action} is in that state already; add a note to record progress.",
        },
        "due_in_past": {
            "es": "La fecha límite {due} ya ha pasado.",
            "en": "The due date {due} has passed already.",
        },
        "unknown_command": {
            "es": "Orden desconocida «{command}». Órdenes válidas: {valid}.",
            "en": "Unknown command '{command}'. Valid commands: {valid}.",
        },
        "invalid_request": {
            "es": "Solicitud no válida: {detail}",
            "en": "Invalid request: {detail}",
        },
        "attachment_too_large": {
            "es": "El archivo «{filename}» supera el máximo de {limit_mb} MB.",
            "en": "File '{filename}' is larger than the {limit_mb} MB limit.",
        },
        "attachment_type": {
            "es": "El archivo «{filename}» no es de un tipo admitido (PNG, JPEG, WebP, PDF, texto o registro .log).",
            "en": "File '{filename}' is not of a supported type (PNG, JPEG, WebP, PDF, text or .log).",
        },
    }
)


def t(code: str, lang: str = "es", **params: object) -> str:
    return MESSAGES.say(code, lang, **params)


def pick_language(accept_language: str | None, default: str = "es") -> str:
    """The first supported language in an Accept-Language header (quality order), else default."""
    if not accept_language:
        return default
    choices: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")):
        lang, _, q = part.strip().partition(";q=")
        try:
            quality = float(q) if q else 1.0
        except ValueError:
            quality = 0.0
        choices.append((-quality, i, lang.strip().lower()[:2]))
    for _, _, lang in sorted(choices):
        if lang in SUPPORTED:
            return lang
    return default
