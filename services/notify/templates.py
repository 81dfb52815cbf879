"""The words of every message, in Spanish and English (jinja2, no HTML: plain text mail)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, StrictUndefined, Template
from markupsafe import escape

from shared.domain.i18n import Say

_env = Environment(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True)


@dataclass(frozen=True)
class Mail:
    subject: Say
    body: Say


# template -> its subject and body (jinja) in both languages
TEMPLATES: dict[str, Mail] = {
    "received": Mail(
        subject=Say(
            "[{{ ticket_id }}] Hemos recibido tu solicitud: {{ subject }}",
            "[{{ ticket_id }}] We received your request: {{ subject }}",
        ),
        body=Say(
            "Hola:\n\nHemos registrado tu ticket {{ ticket_id }} «{{ subject }}» con prioridad {{ priority }}.\n\nNuestro compromiso contigo:\n  - Primera respuesta antes de: {{ first_response_due }}\n  - Resolución prevista antes de: {{ resolution_due }}\n\nPuedes consultar el estado en cualquier momento: {{ url }}\n\nEquipo de soporte\n",
            "Hello,\n\nWe have logged your ticket {{ ticket_id }} '{{ subject }}' with priority {{ priority }}.\n\nOur commitment to you:\n  - First response by: {{ first_response_due }}\n  - Resolution expected by: {{ resolution_due }}\n\nYou can check its status at any time: {{ url }}\n\nThe support team\n",
        ),
    ),
    "assigned": Mail(
        subject=Say(
            "[{{ ticket_id }}] Ticket asignado: {{ subject }}", "[{{ ticket_id }}] Ticket assigned: {{ subject }}"
        ),
        body=Say(
            "Hola {{ agent_name }}:\n\nTe hemos asignado el ticket {{ ticket_id }} «{{ subject }}».\nMotivo: {{ reason }}\n\n{{ url }}\n",
            "Hello {{ agent_name }},\n\nTicket {{ ticket_id }} '{{ subject }}' is now yours.\nWhy: {{ reason }}\n\n{{ url }}\n",
        ),
    ),
    "customer_replied": Mail(
        subject=Say(
            "[{{ ticket_id }}] El cliente ha respondido: {{ subject }}",
            "[{{ ticket_id }}] The customer answered: {{ subject }}",
        ),
        body=Say(
            "Hola {{ agent_name }}:\n\nEl cliente ha respondido en el ticket {{ ticket_id }} «{{ subject }}»:\n\n"
            "{{ body }}\n\n{{ url }}\n",
            "Hello {{ agent_name }},\n\nThe customer answered on ticket {{ ticket_id }} '{{ subject }}':\n\n"
            "{{ body }}\n\n{{ url }}\n",
        ),
    ),
    "reopened_owner": Mail(
        subject=Say(
            "[{{ ticket_id }}] El cliente ha reabierto el ticket: {{ subject }}",
            "[{{ ticket_id }}] The customer reopened the ticket: {{ subject }}",
        ),
        body=Say(
            "Hola {{ agent_name }}:\n\nEl cliente ha reabierto el ticket {{ ticket_id }} «{{ subject }}».\n"
            "Motivo: {{ reason }}\n\n{{ url }}\n",
            "Hello {{ agent_name }},\n\nThe customer reopened ticket {{ ticket_id }} '{{ subject }}'.\n"
            "Why: {{ reason }}\n\n{{ url }}\n",
        ),
    ),
    "info_requested": Mail(
        subject=Say("[{{ ticket_id }}] Necesitamos más información", "[{{ ticket_id }}] We need more information"),
        body=Say(
            "Hola:\n\nPara avanzar con tu ticket {{ ticket_id }} «{{ subject }}» necesitamos que nos respondas:\n\n{{ question }}\n\nResponde desde {{ url }}\n",
            "Hello,\n\nTo move your ticket {{ ticket_id }} '{{ subject }}' forward, please answer:\n\n{{ question }}\n\nReply at {{ url }}\n",
        ),
    ),
    "update": Mail(
        subject=Say("[{{ ticket_id }}] Novedades sobre tu ticket", "[{{ ticket_id }}] An update on your ticket"),
        body=Say(
            "Hola:\n\nHay una actualización en tu ticket {{ ticket_id }} «{{ subject }}»:\n\n{{ body }}\n\n{{ url }}\n",
            "Hello,\n\nThere is an update on your ticket {{ ticket_id }} '{{ subject }}':\n\n{{ body }}\n\n{{ url }}\n",
        ),
    ),
    "reminder": Mail(
        subject=Say(
            "[{{ ticket_id }}] Seguimos esperando tu respuesta",
            "[{{ ticket_id }}] We are still waiting for your answer",
        ),
        body=Say(
            "Hola:\n\nTu ticket {{ ticket_id }} «{{ subject }}» está a la espera de la información que te pedimos. Sin ella no podemos avanzar; si no recibimos respuesta, lo daremos por resuelto más adelante.\n\nResponde desde {{ url }}\n",
            "Hello,\n\nYour ticket {{ ticket_id }} '{{ subject }}' is waiting for the information we asked for. We cannot move forward without it; if we hear nothing, we will mark it resolved later on.\n\nReply at {{ url }}\n",
        ),
    ),
    "status_update": Mail(
        subject=Say(
            "[{{ ticket_id }}] Seguimos con tu ticket", "[{{ ticket_id }}] Your ticket is still being worked on"
        ),
        body=Say(
            "Hola:\n\nTu ticket {{ ticket_id }} «{{ subject }}» sigue abierto y en manos de nuestro equipo. Te escribiremos en cuanto haya novedades.\n\nEstado en todo momento: {{ url }}\n",
            "Hello,\n\nYour ticket {{ ticket_id }} '{{ subject }}' is still open and in our team's hands. We will write as soon as there is news.\n\nIts status at any time: {{ url }}\n",
        ),
    ),
    "sla_warning": Mail(
        subject=Say(
            "[{{ ticket_id }}] Aviso de SLA: {{ target }} vence pronto",
            "[{{ ticket_id }}] SLA warning: {{ target }} due soon",
        ),
        body=Say(
            "El objetivo «{{ target }}» del ticket {{ ticket_id }} «{{ subject }}» vence el {{ due }}.\n\n{{ url }}\n",
            "The '{{ target }}' target of ticket {{ ticket_id }} '{{ subject }}' is due {{ due }}.\n\n{{ url }}\n",
        ),
    ),
    "sla_breached": Mail(
        subject=Say("[{{ ticket_id }}] SLA incumplido: {{ target }}", "[{{ ticket_id }}] SLA breached: {{ target }}"),
        body=Say(
            "El objetivo «{{ target }}» del ticket {{ ticket_id }} «{{ subject }}» venció el {{ due }} sin cumplirse.\nResponsable: {{ owner }}.\n\n{{ url }}\n",
            "The '{{ target }}' target of ticket {{ ticket_id }} '{{ subject }}' was due {{ due }} and was missed.\nOwner: {{ owner }}.\n\n{{ url }}\n",
        ),
    ),
    "delivery_failed": Mail(
        subject=Say(
            "[{{ ticket_id }}] No pudimos enviar un correo al cliente",
            "[{{ ticket_id }}] We could not send a mail to the customer",
        ),
        body=Say(
            "El correo «{{ mail }}» del ticket {{ ticket_id }} «{{ subject }}» no se ha podido entregar al cliente tras varios intentos.\n\nEl cliente no lo sabe: contacta con él por otra vía o revisa su dirección.\n\n{{ url }}\n",
            "The '{{ mail }}' mail of ticket {{ ticket_id }} '{{ subject }}' could not be delivered to the customer after several attempts.\n\nThey do not know: reach them another way or check their address.\n\n{{ url }}\n",
        ),
    ),
    "escalated": Mail(
        subject=Say(
            "[{{ ticket_id }}] Escalado al nivel {{ to_level }}", "[{{ ticket_id }}] Escalated to level {{ to_level }}"
        ),
        body=Say(
            "El ticket {{ ticket_id }} «{{ subject }}» pasa del nivel {{ from_level }} al {{ to_level }}.\n\nMotivo: {{ reason }}\n\n{{ url }}\n",
            "Ticket {{ ticket_id }} '{{ subject }}' moves from level {{ from_level }} to {{ to_level }}.\n\nWhy: {{ reason }}\n\n{{ url }}\n",
        ),
    ),
    "resolved": Mail(
        subject=Say(
            "[{{ ticket_id }}] Tu ticket está resuelto: ¿nos lo confirmas?",
            "[{{ ticket_id }}] Your ticket is resolved: can you confirm?",
        ),
        body=Say(
            "Hola:\n\nHemos resuelto tu ticket {{ ticket_id }} «{{ subject }}»:\n\n{{ summary }}\n\n¿Quedó solucionado? Confírmalo o dinos qué falta: {{ url }}#resolucion\nValora la atención de 1 a 5: {{ url }}#form-feedback\n\nPara la próxima vez, nuestra base de conocimiento: {{ kb_url }}\n",
            "Hello,\n\nWe have resolved your ticket {{ ticket_id }} '{{ subject }}':\n\n{{ summary }}\n\nIs it solved? Confirm it or tell us what is missing: {{ url }}#resolucion\nRate our help from 1 to 5: {{ url }}#form-feedback\n\nFor next time, our knowledge base: {{ kb_url }}\n",
        ),
    ),
    "closed": Mail(
        subject=Say("[{{ ticket_id }}] Ticket cerrado", "[{{ ticket_id }}] Ticket closed"),
        body=Say(
            "Hola:\n\nHemos cerrado tu ticket {{ ticket_id }} «{{ subject }}». ¡Gracias por tu paciencia!\nSi el problema vuelve, puedes reabrirlo desde {{ url }}\n",
            "Hello,\n\nWe have closed your ticket {{ ticket_id }} '{{ subject }}'. Thank you for your patience!\nIf the problem comes back, you can reopen it at {{ url }}\n",
        ),
    ),
    "escalated_requester": Mail(
        subject=Say(
            "[{{ ticket_id }}] Tu ticket pasa a un equipo especialista",
            "[{{ ticket_id }}] Your ticket goes to a specialist team",
        ),
        body=Say(
            "Hola:\n\nHemos pasado tu ticket {{ ticket_id }} «{{ subject }}» al nivel {{ to_level }} de soporte porque {{ why }}. Te escribiremos en cuanto tengamos novedades.\n\nPuedes ver cómo va en cualquier momento: {{ url }}\n",
            "Hello,\n\nWe have passed your ticket {{ ticket_id }} '{{ subject }}' to support level {{ to_level }} because {{ why }}. We will write as soon as there is news.\n\nYou can see how it stands at any time: {{ url }}\n",
        ),
    ),
    "queued": Mail(
        subject=Say(
            "[{{ ticket_id }}] Tu ticket está en cola: lo atenderemos en cuanto haya alguien libre",
            "[{{ ticket_id }}] Your ticket is in the queue: we will take it as soon as someone is free",
        ),
        body=Say(
            "Hola:\n\nAhora mismo todas las personas que atienden {{ category }} (nivel {{ level }} de soporte) están ocupadas con otros tickets. Tu ticket {{ ticket_id }} «{{ subject }}» está en cola y lo tomará la primera que quede libre; no tienes que hacer nada.\n\nLos plazos que te dimos siguen contando. Puedes ver cómo va en cualquier momento: {{ url }}\n",
            "Hello,\n\nRight now everyone who handles {{ category }} (support level {{ level }}) is busy with other tickets. Your ticket {{ ticket_id }} '{{ subject }}' is in the queue and the first one to be free will take it; there is nothing you need to do.\n\nThe times we promised still count. You can see how it stands at any time: {{ url }}\n",
        ),
    ),
    "low_rating": Mail(
        subject=Say(
            "[{{ ticket_id }}] Valoración baja ({{ rating }}/5): revisar con el cliente",
            "[{{ ticket_id }}] Low rating ({{ rating }}/5): follow up with the customer",
        ),
        body=Say(
            "El cliente valoró con {{ rating }}/5 el ticket {{ ticket_id }} «{{ subject }}» (responsable: {{ owner }}).\n\nSu comentario: {{ comment }}\n\nRevísalo y, si no quedó resuelto, habla con el cliente o reábrelo: {{ url }}\n",
            "The customer rated ticket {{ ticket_id }} '{{ subject }}' {{ rating }}/5 (owner: {{ owner }}).\n\nTheir comment: {{ comment }}\n\nLook into it and, if it was not solved, talk to the customer or reopen it: {{ url }}\n",
        ),
    ),
    "merged": Mail(
        subject=Say(
            "[{{ ticket_id }}] Seguimos tu consulta en {{ into }}",
            "[{{ ticket_id }}] We follow your request up in {{ into }}",
        ),
        body=Say(
            "Hola:\n\nTu ticket {{ ticket_id }} «{{ subject }}» trata lo mismo que {{ into }}, así que lo hemos unido a él: seguimos la conversación allí, con todo lo que nos contaste en los dos.\n\n{{ into_url }}\n",
            "Hello,\n\nYour ticket {{ ticket_id }} '{{ subject }}' is about the same thing as {{ into }}, so we have merged it into that one: the conversation goes on there, with all you told us in both.\n\n{{ into_url }}\n",
        ),
    ),
    "digest": Mail(
        subject=Say(
            "Tu cola de hoy ({{ day }}): {{ count }} tickets abiertos",
            "Your queue today ({{ day }}): {{ count }} open tickets",
        ),
        body=Say(
            "Hola {{ agent_name }}:\n\nEstos son tus tickets abiertos, el que vence antes primero:\n\n{{ items }}\n\nTu cola: {{ url }}\n",
            "Hello {{ agent_name }},\n\nThese are your open tickets, the one due first at the top:\n\n{{ items }}\n\nYour queue: {{ url }}\n",
        ),
    ),
    "audit_review": Mail(
        subject=Say(
            "Auditoría {{ review_id }}: {{ sample_size }} tickets para revisar",
            "Audit {{ review_id }}: {{ sample_size }} tickets to review",
        ),
        body=Say(
            "Hola:\n\nToca la auditoría periódica del soporte ({{ period }}).\n\nCifras del periodo:\n{{ figures }}\n\n"
            "Tickets de la muestra (elegidos al azar entre los cerrados; cada lectura queda registrada):\n{{ items }}\n\n"
            "Anotad lo que encontréis y las acciones de mejora, con responsable y fecha, aquí: {{ url }}\n",
            "Hello,\n\nThe periodic support audit is due ({{ period }}).\n\nThe period's figures:\n{{ figures }}\n\n"
            "Tickets in the sample (drawn at random among those closed; every read is recorded):\n{{ items }}\n\n"
            "Record what you find and the improvement actions, with an owner and a date, here: {{ url }}\n",
        ),
    ),
    "action_assigned": Mail(
        subject=Say(
            "Acción de mejora para ti, antes del {{ due }}",
            "An improvement action for you, due {{ due }}",
        ),
        body=Say(
            "Hola {{ owner_name }}:\n\n{{ by }} te ha encargado una acción de mejora del soporte, para antes del {{ due }}:\n\n"
            "{{ what }}\n\nSíguela y marca su avance aquí: {{ url }}\n",
            "Hello {{ owner_name }},\n\n{{ by }} has given you an improvement action for our support, due {{ due }}:\n\n"
            "{{ what }}\n\nFollow it and record its progress here: {{ url }}\n",
        ),
    ),
}


def render(template: str, language: str, **params: Any) -> tuple[str, str]:
    mail = TEMPLATES[template]
    subject, body = mail.subject.pick(language), mail.body.pick(language)
    return _compiled(subject).render(**params), _compiled(body).render(**params)


@cache
def _compiled(source: str) -> Template:
    """Each text compiled once (a few dozen in all): compiling on every mail was a sixth of
    notify's CPU under load."""
    return _env.from_string(source)


def to_html(subject: str, body: str) -> str:
    """The HTML part of a message: the same words, escaped, paragraph by paragraph. Written
    directly, each piece through markupsafe's escape (what autoescaping templates use): as a
    template it cost a twentieth of notify's CPU per mail."""
    paragraphs = "".join(
        "<p>" + "<br>".join(escape(line) for line in para.split("\n")) + "</p>" for para in body.strip().split("\n\n")
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{escape(subject)}</title></head>'
        f'<body style="font-family: sans-serif; max-width: 40em">{paragraphs}</body></html>'
    )
