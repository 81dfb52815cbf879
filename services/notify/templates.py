"""The words of every message, in Spanish and English (jinja2, no HTML: plain text mail)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, StrictUndefined

_env = Environment(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True)

# template -> language -> (subject, body)
TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "received": {
        "es": (
            "[{{ ticket_id }}] Hemos recibido tu solicitud: {{ subject }}",
            "Hola:\n\nHemos registrado tu ticket {{ ticket_id }} «{{ subject }}» con prioridad {{ priority }}.\n\n"
            "Nuestro compromiso contigo:\n"
            "  - Primera respuesta antes de: {{ first_response_due }}\n"
            "  - Resolución prevista antes de: {{ resolution_due }}\n\n"
            "Puedes consultar el estado en cualquier momento: {{ url }}\n\n"
            "Equipo de soporte\n",
        ),
        "en": (
            "[{{ ticket_id }}] We received your request: {{ subject }}",
            "Hello,\n\nWe have logged your ticket {{ ticket_id }} '{{ subject }}' with priority {{ priority }}.\n\n"
            "Our commitment to you:\n"
            "  - First response by: {{ first_response_due }}\n"
            "  - Resolution expected by: {{ resolution_due }}\n\n"
            "You can check its status at any time: {{ url }}\n\n"
            "The support team\n",
        ),
    },
    "assigned": {
        "es": (
            "[{{ ticket_id }}] Ticket asignado: {{ subject }}",
            "Hola {{ agent_name }}:\n\nTe hemos asignado el ticket {{ ticket_id }} «{{ subject }}».\n"
            "Motivo: {{ reason }}\n\n{{ url }}\n",
        ),
        "en": (
            "[{{ ticket_id }}] Ticket assigned: {{ subject }}",
            "Hello {{ agent_name }},\n\nTicket {{ ticket_id }} '{{ subject }}' is now yours.\n"
            "Why: {{ reason }}\n\n{{ url }}\n",
        ),
    },
    "info_requested": {
        "es": (
            "[{{ ticket_id }}] Necesitamos más información",
            "Hola:\n\nPara avanzar con tu ticket {{ ticket_id }} «{{ subject }}» necesitamos que nos respondas:\n\n"
            "{{ question }}\n\nResponde desde {{ url }}\n",
        ),
        "en": (
            "[{{ ticket_id }}] We need more information",
            "Hello,\n\nTo move your ticket {{ ticket_id }} '{{ subject }}' forward, please answer:\n\n"
            "{{ question }}\n\nReply at {{ url }}\n",
        ),
    },
    "update": {
        "es": (
            "[{{ ticket_id }}] Novedades sobre tu ticket",
            "Hola:\n\nHay una actualización en tu ticket {{ ticket_id }} «{{ subject }}»:\n\n{{ body }}\n\n{{ url }}\n",
        ),
        "en": (
            "[{{ ticket_id }}] An update on your ticket",
            "Hello,\n\nThere is an update on your ticket {{ ticket_id }} '{{ subject }}':\n\n{{ body }}\n\n{{ url }}\n",
        ),
    },
    "reminder": {
        "es": (
            "[{{ ticket_id }}] Seguimos esperando tu respuesta",
            "Hola:\n\nTu ticket {{ ticket_id }} «{{ subject }}» está a la espera de la información que te pedimos. "
            "Sin ella no podemos avanzar; si no recibimos respuesta, lo daremos por resuelto más adelante.\n\n"
            "Responde desde {{ url }}\n",
        ),
        "en": (
            "[{{ ticket_id }}] We are still waiting for your answer",
            "Hello,\n\nYour ticket {{ ticket_id }} '{{ subject }}' is waiting for the information we asked for. "
            "We cannot move forward without it; if we hear nothing, we will mark it resolved later on.\n\n"
            "Reply at {{ url }}\n",
        ),
    },
    "status_update": {
        "es": (
            "[{{ ticket_id }}] Seguimos con tu ticket",
            "Hola:\n\nTu ticket {{ ticket_id }} «{{ subject }}» sigue abierto y en manos de nuestro equipo. "
            "Te escribiremos en cuanto haya novedades.\n\nEstado en todo momento: {{ url }}\n",
        ),
        "en": (
            "[{{ ticket_id }}] Your ticket is still being worked on",
            "Hello,\n\nYour ticket {{ ticket_id }} '{{ subject }}' is still open and in our team's hands. "
            "We will write as soon as there is news.\n\nIts status at any time: {{ url }}\n",
        ),
    },
    "sla_warning": {
        "es": (
            "[{{ ticket_id }}] Aviso de SLA: {{ target }} vence pronto",
            "El objetivo «{{ target }}» del ticket {{ ticket_id }} «{{ subject }}» vence el {{ due }}.\n\n{{ url }}\n",
        ),
        "en": (
            "[{{ ticket_id }}] SLA warning: {{ target }} due soon",
            "The '{{ target }}' target of ticket {{ ticket_id }} '{{ subject }}' is due {{ due }}.\n\n{{ url }}\n",
        ),
    },
    "sla_breached": {
        "es": (
            "[{{ ticket_id }}] SLA incumplido: {{ target }}",
            "El objetivo «{{ target }}» del ticket {{ ticket_id }} «{{ subject }}» venció el {{ due }} sin cumplirse.\n"
            "Responsable: {{ owner }}.\n\n{{ url }}\n",
        ),
        "en": (
            "[{{ ticket_id }}] SLA breached: {{ target }}",
            "The '{{ target }}' target of ticket {{ ticket_id }} '{{ subject }}' was due {{ due }} and was missed.\n"
            "Owner: {{ owner }}.\n\n{{ url }}\n",
        ),
    },
    "delivery_failed": {
        "es": (
            "[{{ ticket_id }}] No pudimos enviar un correo al cliente",
            "El correo «{{ mail }}» del ticket {{ ticket_id }} «{{ subject }}» no se ha podido entregar al"
            " cliente tras varios intentos.\n\nEl cliente no lo sabe: contacta con él por otra vía o revisa su"
            " dirección.\n\n{{ url }}\n",
        ),
        "en": (
            "[{{ ticket_id }}] We could not send a mail to the customer",
            "The '{{ mail }}' mail of ticket {{ ticket_id }} '{{ subject }}' could not be delivered to the"
            " customer after several attempts.\n\nThey do not know: reach them another way or check their"
            " address.\n\n{{ url }}\n",
        ),
    },
    "escalated": {
        "es": (
            "[{{ ticket_id }}] Escalado al nivel {{ to_level }}",
            "El ticket {{ ticket_id }} «{{ subject }}» pasa del nivel {{ from_level }} al {{ to_level }}.\n\n"
            "Motivo: {{ reason }}\n\n{{ url }}\n",
        ),
        "en": (
            "[{{ ticket_id }}] Escalated to level {{ to_level }}",
            "Ticket {{ ticket_id }} '{{ subject }}' moves from level {{ from_level }} to {{ to_level }}.\n\n"
            "Why: {{ reason }}\n\n{{ url }}\n",
        ),
    },
    "resolved": {
        "es": (
            "[{{ ticket_id }}] Tu ticket está resuelto: ¿nos lo confirmas?",
            "Hola:\n\nHemos resuelto tu ticket {{ ticket_id }} «{{ subject }}»:\n\n{{ summary }}\n\n"
            "¿Quedó solucionado? Confírmalo o dinos qué falta: {{ url }}#resolucion\n"
            "Valora la atención de 1 a 5: {{ url }}#form-feedback\n\n"
            "Para la próxima vez, nuestra base de conocimiento: {{ kb_url }}\n",
        ),
        "en": (
            "[{{ ticket_id }}] Your ticket is resolved: can you confirm?",
            "Hello,\n\nWe have resolved your ticket {{ ticket_id }} '{{ subject }}':\n\n{{ summary }}\n\n"
            "Is it solved? Confirm it or tell us what is missing: {{ url }}#resolucion\n"
            "Rate our help from 1 to 5: {{ url }}#form-feedback\n\n"
            "For next time, our knowledge base: {{ kb_url }}\n",
        ),
    },
    "closed": {
        "es": (
            "[{{ ticket_id }}] Ticket cerrado",
            "Hola:\n\nHemos cerrado tu ticket {{ ticket_id }} «{{ subject }}». ¡Gracias por tu paciencia!\n"
            "Si el problema vuelve, puedes reabrirlo desde {{ url }}\n",
        ),
        "en": (
            "[{{ ticket_id }}] Ticket closed",
            "Hello,\n\nWe have closed your ticket {{ ticket_id }} '{{ subject }}'. Thank you for your patience!\n"
            "If the problem comes back, you can reopen it at {{ url }}\n",
        ),
    },
    "digest": {
        "es": (
            "Tu cola de hoy ({{ day }}): {{ count }} tickets abiertos",
            "Hola {{ agent_name }}:\n\nEstos son tus tickets abiertos, el que vence antes primero:\n\n"
            "{{ items }}\n\nTu cola: {{ url }}\n",
        ),
        "en": (
            "Your queue today ({{ day }}): {{ count }} open tickets",
            "Hello {{ agent_name }},\n\nThese are your open tickets, the one due first at the top:\n\n"
            "{{ items }}\n\nYour queue: {{ url }}\n",
        ),
    },
}


def render(template: str, language: str, **params: Any) -> tuple[str, str]:
    texts = TEMPLATES[template]
    subject, body = texts.get(language, texts["es"])
    return _env.from_string(subject).render(**params), _env.from_string(body).render(**params)


_html = Environment(undefined=StrictUndefined, autoescape=True, trim_blocks=True, lstrip_blocks=True)
_PAGE = _html.from_string(
    '<!doctype html><html><head><meta charset="utf-8"><title>{{ subject }}</title></head>'
    '<body style="font-family: sans-serif; max-width: 40em">'
    "{% for para in paragraphs %}<p>{% for line in para %}{{ line }}{% if not loop.last %}<br>{% endif %}"
    "{% endfor %}</p>{% endfor %}</body></html>"
)


def to_html(subject: str, body: str) -> str:
    """The HTML part of a message: the same words, escaped, paragraph by paragraph."""
    paragraphs = [p.split("\n") for p in body.strip().split("\n\n")]
    return _PAGE.render(subject=subject, paragraphs=paragraphs)
