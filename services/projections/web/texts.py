"""What the pages say, in Spanish (default) and English (shared.domain.i18n: one way to translate)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.domain.i18n import Texts

TEXTS = Texts(
    {
        # (es, en)
        "app": ("Mesa · Soporte", "Mesa · Support"),
        "skip": ("Saltar al contenido", "Skip to content"),
        "sign_in": ("Entrar", "Sign in"),
        "sign_out": ("Salir", "Sign out"),
        "token": ("Token de acceso (JWT)", "Access token (JWT)"),
        "token_help": (
            "Pega el token que te dio tu proveedor de identidad o «mesa token».",
            "Paste the token from your identity provider or from 'mesa token'.",
        ),
        "demo_users": ("Usuarios de demostración", "Demo users"),
        "bad_token": ("El token no es válido o ha caducado.", "The token is not valid or has expired."),
        "portal": ("Mis tickets", "My tickets"),
        "new_ticket": ("Abrir un ticket", "Open a ticket"),
        "console": ("Mi cola", "My queue"),
        "all_open": ("Tickets abiertos", "Open tickets"),
        "dashboard": ("Panel de supervisión", "Supervisor dashboard"),
        "kb": ("Base de conocimiento", "Knowledge base"),
        "language": ("English", "Español"),
        "id": ("Número", "Number"),
        "subject": ("Asunto", "Subject"),
        "status": ("Estado", "Status"),
        "priority": ("Prioridad", "Priority"),
        "category": ("Categoría", "Category"),
        "owner": ("Responsable", "Owner"),
        "level": ("Nivel", "Level"),
        "requester": ("Solicitante", "Requester"),
        "last_update": ("Última actualización", "Last update"),
        "targets": ("Objetivos", "Targets"),
        "first_response": ("Primera respuesta", "First response"),
        "resolution": ("Resolución", "Resolution"),
        "due": ("antes de", "due"),
        "met": ("cumplido", "met"),
        "breached": ("incumplido", "breached"),
        "at_risk": ("en riesgo", "at risk"),
        "on_track": ("en plazo", "on track"),
        "paused": ("en pausa (esperando tu respuesta)", "paused (waiting for your answer)"),
        "load_sorted": ("Las personas más cargadas primero.", "The busiest people first."),
        "occupancy": ("Ocupación", "Occupancy"),
        "all_agents": ("Ver las {n} personas", "See all {n} people"),
        "no_data": ("sin datos", "no data"),
        "remove_file": ("Quitar", "Remove"),
        "views_one": ("1 vista", "1 view"),
        "views_many": ("{n} vistas", "{n} views"),
        "thanks_vote": ("¡Gracias por tu opinión!", "Thank you for your feedback!"),
        "low_ratings": ("Valoraciones bajas por revisar (30 días)", "Low ratings to follow up (30 days)"),
        "none_to_review": ("Ninguna.", "None."),
        "sorry_low_rating": (
            "Sentimos que no haya ido bien. Un supervisor revisará tu caso; si el problema sigue,"
            " puedes reabrir el ticket.",
            "We are sorry it did not go well. A supervisor will look into it; if the problem goes on,"
            " you can reopen the ticket.",
        ),
        "closed_confirmed": ("Cerrados con la confirmación del cliente", "Closed with the customer's confirmation"),
        "closed_unconfirmed": ("Cerrados solos, sin confirmación del cliente", "Closed by themselves, unconfirmed"),
        "paused_staff": ("en pausa (esperando al cliente)", "paused (waiting on the customer)"),
        "none_yet": ("sin asignar todavía", "not assigned yet"),
        "in_queue": (
            "en cola, nivel {level}: lo tomará el primero que quede libre",
            "in the queue, level {level}: the first one free takes it",
        ),
        "no_tickets": ("No hay tickets.", "No tickets."),
        "description": ("Descripción", "Description"),
        "order_id": ("Número de pedido", "Order number"),
        "order_help": ("Solo si el problema es con un pedido.", "Only if the problem is about an order."),
        "impact_q": ("¿A qué afecta?", "What does it affect?"),
        "impact_low": (
            "Es una duda o una molestia: ningún pedido ni pago se ve afectado",
            "A question or a nuisance: no order or payment is affected",
        ),
        "impact_medium": (
            "Afecta a un pedido, una entrega o una devolución",
            "It affects an order, a delivery or a return",
        ),
        "impact_high": (
            "No puedo pagar, o hay dinero de por medio (un cobro doble, un reembolso)",
            "I cannot pay, or money is at stake (a double charge, a refund)",
        ),
        "urgency_q": ("¿Cuánto corre prisa?", "How urgent is it?"),
        "urgency_low": ("Puede esperar unos días", "It can wait a few days"),
        "urgency_medium": (
            "En uno o dos días (se acerca una entrega o una fecha)",
            "Within a day or two (a delivery or a date is near)",
        ),
        "urgency_high": (
            "Ahora mismo: no puedo terminar una compra, o el pedido sale hoy",
            "Right now: I cannot finish a purchase, or the order ships today",
        ),
        "category_auto": ("No lo sé (que lo decida Mesa)", "I don't know (let Mesa decide)"),
        "screenshots": ("Capturas de pantalla", "Screenshots"),
        "screenshots_help": (
            "Arrastra aquí o elige archivos: PNG, JPEG, WebP, PDF, texto o .log; hasta 5 archivos de 10 MB."
            " Quitamos los datos de ubicación de las fotos.",
            "Drop here or choose files: PNG, JPEG, WebP, PDF, text or .log; up to 5 files of 10 MB."
            " We remove location data from photos.",
        ),
        "send": ("Enviar", "Send"),
        "suggested": ("¿Te sirve alguno de estos artículos?", "Does one of these articles help?"),
        "solved_it": ("Esto lo resolvió", "This solved it"),
        "glad": (
            "¡Nos alegra! No hace falta abrir el ticket.",
            "Glad it helped! No need to open the ticket.",
        ),
        "timeline": ("Historial", "Timeline"),
        "attachments": ("Adjuntos", "Attachments"),
        "add_comment": ("Añadir un comentario", "Add a comment"),
        "answer": ("Responder a la pregunta", "Answer the question"),
        "pending_q": ("El agente necesita más información:", "The agent needs more information:"),
        "confirm": ("Sí, está resuelto", "Yes, it is solved"),
        "reject": ("No está resuelto", "It is not solved"),
        "reason": ("Motivo", "Reason"),
        "resolved_q": ("¿Se resolvió tu problema?", "Was your problem solved?"),
        "feedback": ("Tu valoración", "Your rating"),
        "feedback_help": ("De 1 (muy mal) a 5 (excelente)", "From 1 (very poor) to 5 (excellent)"),
        "comment": ("Comentario", "Comment"),
        "thanks_feedback": ("Gracias por tu valoración", "Thank you for your rating"),
        "reply_public": ("Responder al cliente", "Reply to the customer"),
        "internal": ("Nota interna (el cliente no la ve)", "Internal note (not shown to the customer)"),
        "internal_badge": ("interna", "internal"),
        "follows_ticket": ("Continúa el ticket cerrado", "Goes on from the closed ticket"),
        "request_info": ("Pedir información", "Request information"),
        "question": ("Pregunta", "Question"),
        "resolve": ("Resolver", "Resolve"),
        "summary": ("Resumen de la solución", "Solution summary"),
        "escalate": ("Escalar", "Escalate"),
        "categorize": ("Cambiar categoría o prioridad", "Change category or priority"),
        "reassign": ("Reasignar", "Reassign"),
        "agent": ("Agente", "Agent"),
        "impact": ("Impacto", "Impact"),
        "urgency": ("Urgencia", "Urgency"),
        "unchanged": ("(sin cambios)", "(unchanged)"),
        "reopen": ("Reabrir", "Reopen"),
        "live": ("Se actualiza solo", "Updates live"),
        "filters": ("Filtros", "Filters"),
        "apply": ("Aplicar", "Apply"),
        "merged_from": ("Fusionado aquí:", "Merged here:"),
        "merged_into_note": (
            "Este ticket se fusionó; la conversación sigue en",
            "This ticket was merged; the conversation goes on in",
        ),
        "around": ("Alrededor de este ticket", "Around this ticket"),
        "related": ("Tickets relacionados", "Related tickets"),
        "unlink": ("desenlazar", "unlink"),
        "requester_tickets": ("Otros tickets de este cliente", "This customer's other tickets"),
        "others_here": ("También lo tiene abierto", "Also open by"),
        "compose_mode": ("Tipo de mensaje", "Kind of message"),
        "internal_note": ("Nota interna", "Internal note"),
        "says_public": (
            "El cliente verá este mensaje y le llegará por correo.",
            "The customer will see this message and get it by mail.",
        ),
        "says_internal": (
            "Nota interna: solo la ve el equipo, nunca el cliente.",
            "Internal note: only the team sees it, never the customer.",
        ),
        "message": ("Mensaje", "Message"),
        "insert_article": ("Insertar un artículo de la base de conocimiento", "Insert a knowledge-base article"),
        "send_and_wait": ("Enviar y esperar al cliente", "Send and wait for the customer"),
        "send_and_resolve": ("Enviar y resolver", "Send and resolve"),
        "more_actions": ("Más acciones", "More actions"),
        "add_tags": ("Añadir etiquetas", "Add tags"),
        "remove_tags": ("Quitar etiquetas", "Remove tags"),
        "save_tags": ("Guardar etiquetas", "Save tags"),
        "full": ("al completo", "full"),
        "over_capacity": (
            "{name} ya tiene {load} de {capacity} de carga: está al completo. ¿Se lo asignas igualmente?",
            "{name} already carries {load} of {capacity}: they are full. Assign it anyway?",
        ),
        "over_capacity_ok": ("Sí, asignar por encima de su capacidad", "Yes, assign beyond their capacity"),
        "link_to": ("Enlazar con el ticket", "Link to ticket"),
        "link": ("Enlazar", "Link"),
        "merge_into": ("Fusionar este ticket en", "Merge this ticket into"),
        "merge_help": (
            "Se cierra como duplicado; el cliente recibe un aviso y la conversación sigue en el otro ticket"
            " (del mismo cliente).",
            "It is closed as a duplicate; the customer is told and the conversation goes on in the other ticket"
            " (the same customer's).",
        ),
        "merge": ("Fusionar", "Merge"),
        "done_opened": (
            "Hemos recibido tu ticket. Aquí verás en cuánto tiempo te responderemos (te llega también por correo)"
            " y cada paso que demos.",
            "We have received your ticket. Here you will see how soon we will answer (it also reaches you by mail)"
            " and every step we take.",
        ),
        "done_comment": ("Respuesta enviada al cliente.", "Reply sent to the customer."),
        "done_note": (
            "Nota interna guardada (el cliente no la ve).",
            "Internal note saved (the customer does not see it).",
        ),
        "done_request-info": (
            "Pregunta enviada: el ticket espera al cliente.",
            "Question sent: the ticket waits for the customer.",
        ),
        "done_resolve": (
            "Ticket resuelto: el cliente puede confirmarlo.",
            "Ticket resolved: the customer can confirm it.",
        ),
        "done_reply": ("Respuesta enviada.", "Answer sent."),
        "done_confirm": ("¡Gracias! Ticket cerrado.", "Thank you! Ticket closed."),
        "done_reject": ("Hemos vuelto a abrir el trabajo en tu ticket.", "We are back at work on your ticket."),
        "done_reopen": ("Ticket reabierto.", "Ticket reopened."),
        "done_close": ("Ticket cerrado.", "Ticket closed."),
        "done_feedback": ("Gracias por tu valoración.", "Thank you for your rating."),
        "done_escalate": ("Ticket escalado al nivel siguiente.", "Ticket escalated to the next level."),
        "done_categorize": ("Categoría y prioridad cambiadas.", "Category and priority changed."),
        "done_assign": ("Reasignación pedida: se verá en un momento.", "Reassignment asked: it shows in a moment."),
        "done_tags": ("Etiquetas guardadas.", "Tags saved."),
        "done_link": ("Enlaces guardados.", "Links saved."),
        "done_apply-macro": ("Macro aplicada.", "Macro applied."),
        "done_fields": ("Campos guardados.", "Fields saved."),
        "macro": ("Macro", "Macro"),
        "macros": ("Macros", "Macros"),
        "macros_saved": ("Macros guardadas.", "Macros saved."),
        "name": ("Nombre", "Name"),
        "kind": ("Tipo", "Kind"),
        "text": ("Texto", "Text"),
        "shared": ("compartida", "shared"),
        "remove": ("borrar", "remove"),
        "no_macros": ("Aún no hay macros.", "No macros yet."),
        "new_or_change_macro": (
            "Nueva macro (o cambiar una, con su identificador)",
            "New macro (or change one, by its id)",
        ),
        "macro_help": (
            "El texto admite {{requester.name}}, {{ticket.id}}, {{ticket.order_id}} y {{agent.name}}.",
            "The text takes {{requester.name}}, {{ticket.id}}, {{ticket.order_id}} and {{agent.name}}.",
        ),
        "macro_id": ("Identificador (minúsculas, números y _)", "Id (lower case, digits and _)"),
        "shared_macro": ("Compartida con todo el equipo", "Shared with the whole team"),
        "macro_actions": ("Además, al aplicarla", "Also, when applied"),
        "as_internal_note": ("El texto va como nota interna", "The text goes as an internal note"),
        "save": ("Guardar", "Save"),
        "mine": ("mía", "mine"),
        "apply_macro": ("Aplicar macro", "Apply macro"),
        "fields": ("Campos", "Fields"),
        "save_fields": ("Guardar campos", "Save fields"),
        "done_merge": ("Ticket fusionado: el cliente ha sido avisado.", "Ticket merged: the customer has been told."),
        "search_help": ("palabras, nº de pedido o de ticket", "words, order or ticket number"),
        "any_open": ("(abiertos)", "(open)"),
        "tag_list": ("Etiquetas", "Tags"),
        "count_tickets": ("{n} tickets", "{n} tickets"),
        "choose": ("Elegir", "Choose"),
        "last_activity": ("Última actividad", "Last activity"),
        "bulk": ("Con los elegidos", "With the chosen ones"),
        "action": ("Acción", "Action"),
        "bulk_assign": ("Asignar a (agente)", "Assign to (agent)"),
        "bulk_tag": ("Añadir etiquetas", "Add tags"),
        "bulk_close": ("Cerrar (los resueltos)", "Close (the resolved ones)"),
        "bulk_merge": ("Fusionar en (ticket)", "Merge into (ticket)"),
        "bulk_value": ("Agente, etiquetas o ticket", "Agent, tags or ticket"),
        "apply_to_chosen": ("Aplicar a los elegidos", "Apply to the chosen ones"),
        "bulk_done": ("Hecho en", "Done on"),
        "bulk_refused": ("no se pudo en", "refused on"),
        "pages": ("Páginas", "Pages"),
        "first_page": ("« Primera página", "« First page"),
        "next_page": ("Siguiente página »", "Next page »"),
        "any": ("(todos)", "(any)"),
        "scope": ("Qué tickets", "Which tickets"),
        "scope_mine": ("Míos", "Mine"),
        "scope_team": ("De mi equipo", "My teams'"),
        "scope_unassigned": ("Sin asignar", "Unassigned"),
        "scope_all": ("Todos", "All"),
        "next_due": ("Próximo vencimiento", "Next due"),
        "by_status": ("Abiertos por estado", "Open by status"),
        "by_priority": ("Abiertos por prioridad", "Open by priority"),
        "by_category": ("Abiertos por categoría", "Open by category"),
        "by_level": ("Abiertos por nivel", "Open by level"),
        "risk_now": ("SLA en riesgo ahora", "SLA at risk now"),
        "breached_now": ("SLA incumplido ahora", "SLA breached now"),
        "load": ("Carga por agente", "Load per agent"),
        "capacity": ("Capacidad", "Capacity"),
        "load_units": ("Carga (P1=3, P2=2, P3/P4=1)", "Load (P1=3, P2=2, P3/P4=1)"),
        "escalations_today": ("Escalados hoy", "Escalations today"),
        "volume_30": ("Tickets abiertos por día (30 días)", "Tickets opened per day (30 days)"),
        "frt_30": (
            "Primera respuesta dentro del objetivo, % por día",
            "First response within target, % per day",
        ),
        "res_30": ("Resolución dentro del objetivo, % por día", "Resolution within target, % per day"),
        "medians": ("Tiempos (mediana, p90)", "Times (median, p90)"),
        "hours": ("horas", "hours"),
        "search": ("Buscar", "Search"),
        "search_kb": ("Buscar en la base de conocimiento", "Search the knowledge base"),
        "helpful_q": ("¿Te resultó útil?", "Was this helpful?"),
        "yes": ("Sí", "Yes"),
        "no": ("No", "No"),
        "new_article": ("Nuevo artículo", "New article"),
        "title": ("Título", "Title"),
        "body_md": ("Texto (Markdown)", "Text (Markdown)"),
        "tags": ("Etiquetas (separadas por comas)", "Tags (comma-separated)"),
        "publish": ("Publicar", "Publish"),
        "no_articles": ("No hay artículos que coincidan.", "No matching articles."),
        "forbidden": ("No tienes permiso para ver esta página.", "You may not see this page."),
        "not_found": ("No existe o no tienes acceso.", "It does not exist or you have no access."),
        "dev_mail": ("Correo de desarrollo", "Development mailbox"),
        "to": ("Para", "To"),
        "date": ("Fecha", "Date"),
        "report": ("Informe del proceso de soporte", "Support process report"),
        "sample": ("Muestra para auditoría", "Audit sample"),
        "period": ("Periodo", "Period"),
        "from": ("Desde", "From"),
        "to_date": ("Hasta", "To"),
        # clause 12: audits and improvement actions
        "audits": ("Auditorías y mejora", "Audits and improvement"),
        "audit": ("Auditoría", "Audit"),
        "audits_help": (
            "Cada mes se abre sola la auditoría del mes anterior: sus cifras y una muestra de tickets cerrados, "
            "enviadas a supervisión y auditoría. Anotad lo encontrado y las acciones de mejora, y seguidlas aquí.",
            "Each month the previous month's audit opens by itself: its figures and a sample of closed tickets, "
            "mailed to supervisors and auditors. Record what you find and the improvement actions, "
            "and follow them here.",
        ),
        "reviews": ("Auditorías", "Audits"),
        "no_reviews": ("Todavía no hay ninguna auditoría.", "No audit yet."),
        "opened_on": ("Abierta", "Opened"),
        "by_schedule": ("según el calendario", "by the schedule"),
        "by_hand": ("a mano", "by hand"),
        "sample_size": ("Muestra", "Sample"),
        "open_review_now": ("Abrir una auditoría ahora", "Open an audit now"),
        "open_review_help": (
            "Para un periodo fuera del calendario: sus cifras y una muestra se toman al abrirla.",
            "For a period off the schedule: its figures and a sample are taken when it opens.",
        ),
        "open_review": ("Abrir la auditoría", "Open the audit"),
        "audit_period_invalid": (
            "El periodo no es válido: dos fechas, la segunda no antes que la primera, como mucho un año.",
            "The period is not valid: two dates, the second not before the first, a year at most.",
        ),
        "improvement_actions": ("Acciones de mejora", "Improvement actions"),
        "my_actions": ("Mis acciones de mejora", "My improvement actions"),
        "no_actions": ("No hay acciones de mejora.", "No improvement actions."),
        "action_open": ("pendiente", "open"),
        "action_in_progress": ("en curso", "in progress"),
        "action_done": ("hecha", "done"),
        "action_dropped": ("descartada", "dropped"),
        "action_overdue": ("vencida", "overdue"),
        "new_status": ("Nuevo estado", "New status"),
        "note": ("Nota", "Note"),
        "saved": ("Guardado.", "Saved."),
        "effect": ("Efecto en las cifras", "Effect on the figures"),
        "before_planned": ("30 días antes de planificarla", "30 days before it was planned"),
        "after_done": ("Desde que se hizo", "Since it was done"),
        "figures": ("Cifras del periodo", "The period's figures"),
        "figure": ("Cifra", "Figure"),
        "this_period": ("Este periodo", "This period"),
        "profile": ("Mi perfil", "My profile"),
        "profile_help": (
            "Cómo quieres ver Mesa en cualquier dispositivo en el que entres.",
            "How you want to see Mesa on any device you sign in on.",
        ),
        "timezone": ("Zona horaria de las fechas", "Time zone of dates and times"),
        "tz_browser": ("La de mi navegador ({zone})", "My browser's ({zone})"),
        "tz_common": ("Las más usadas", "The most used"),
        "tz_all": ("Todas", "All"),
        "tz_now": ("Ahora mismo: {now}", "Right now: {now}"),
        "lang_choice": ("Idioma", "Language"),
        "lang_browser": ("El de mi navegador", "My browser's"),
        "profile_saved": (
            "Guardado: las fechas y textos se muestran así desde ahora.",
            "Saved: dates and texts show this way from now on.",
        ),
        "profile_invalid": (
            "No conocemos esa zona horaria o ese idioma: elige uno de la lista.",
            "We do not know that time zone or language: choose one from the list.",
        ),
        "role_requester": ("cliente", "customer"),
        "role_agent": ("agente", "agent"),
        "role_supervisor": ("supervisión", "supervisor"),
        "role_auditor": ("auditoría", "auditor"),
        "role_admin": ("administración", "admin"),
        "role_service": ("servicio", "service"),
        "availability_online": ("disponible", "available"),
        "availability_away": ("ausente", "away"),
        "availability_offline": ("desconectado", "offline"),
        "masked_note": (
            "Hemos ocultado datos confidenciales de lo que escribiste (un número de tarjeta, una contraseña...): "
            "nunca los necesitamos, no los envíes por aquí.",
            "We hid confidential data in what you wrote (a card number, a password...): "
            "we never need them, do not send them here.",
        ),
        "value": ("Valor", "Value"),
        "fig_tickets": ("Tickets abiertos en el periodo", "Tickets opened in the period"),
        "fig_first_response": ("Primera respuesta a tiempo", "First response on time"),
        "fig_resolution": ("Resolución a tiempo", "Resolution on time"),
        "fig_csat": ("Satisfacción (media de 5)", "Satisfaction (average of 5)"),
        "fig_low_ratings": ("Valoraciones de 1 o 2", "Ratings of 1 or 2"),
        "fig_escalations": ("Escalados", "Escalations"),
        "fig_reopened": ("Reaperturas", "Reopened"),
        "whole_report": ("El informe completo del periodo", "The period's whole report"),
        "sample_help": (
            "Elegidos al azar entre los tickets cerrados en el periodo "
            "(semilla {seed}: la misma muestra para quien la saque). "
            "Abrir uno queda registrado en el registro de accesos.",
            "Drawn at random among the tickets closed in the period (seed {seed}: the same sample whoever draws it). "
            "Opening one is recorded in the access log.",
        ),
        "sample_empty": ("Ningún ticket se cerró en el periodo.", "No ticket was closed in the period."),
        "findings": ("Hallazgos", "Findings"),
        "finding": ("Hallazgo", "Finding"),
        "no_findings": ("Todavía no hay hallazgos.", "No findings yet."),
        "record_finding": ("Anotar un hallazgo", "Record a finding"),
        "finding_text": ("Qué habéis encontrado", "What you found"),
        "tickets_concerned": (
            "Tickets afectados (números, separados por espacios)",
            "Tickets concerned (numbers, space-separated)",
        ),
        "plan_action": ("Planificar una acción de mejora", "Plan an improvement action"),
        "action_what": ("Qué hay que cambiar", "What is to change"),
        "due_date": ("Fecha límite", "Due date"),
        "me": ("Yo", "Me"),
        "compliance": ("Cumplimiento del SLA", "SLA compliance"),
        "reopen_rate": ("Tasa de reapertura", "Reopen rate"),
        "backlog": ("Pendientes y su antigüedad", "Backlog and its age"),
        "oldest": ("El más antiguo", "Oldest"),
        "frt_by_priority": (
            "Primera respuesta en plazo por prioridad, %",
            "First response within target by priority, %",
        ),
        "team": ("Equipo", "Team"),
        "against_targets": ("frente a los objetivos", "against targets"),
        "target": ("objetivo", "target"),
        "escalations": ("Escalados y sus motivos", "Escalations and their reasons"),
    }
)

STATUS = Texts(
    {
        "new": ("nuevo", "new"),
        "assigned": ("asignado", "assigned"),
        "in_progress": ("en curso", "in progress"),
        "waiting_on_customer": ("esperando tu respuesta", "waiting for you"),
        "resolved": ("resuelto", "resolved"),
        "closed": ("cerrado", "closed"),
        "merged": ("fusionado", "merged"),
    }
)
# The same statuses in the team's words: a ticket waits on the customer, not "for you".
STAFF_STATUS = Texts(
    {code: STATUS[code] for code in STATUS}
    | {"waiting_on_customer": ("esperando al cliente", "waiting on the customer")}
)
# Why a ticket was closed, in words (the event keeps the reason as it was given)
CLOSE_REASON = Texts(
    {
        "resolution confirmed": ("el cliente confirmó la solución", "the customer confirmed the solution"),
        "auto": (
            "cerrado solo, sin confirmación del cliente, pasado el plazo",
            "closed by itself, without the customer's confirmation, after the waiting time",
        ),
        "personal data erased": ("datos personales borrados", "personal data erased"),
        "closed": ("cerrado", "closed"),
    }
)
CATEGORY = Texts(
    {
        "order_status": ("estado de pedido o producto", "order or product status"),
        "payment": ("pagos y facturas", "payments and invoices"),
        "account": ("cuenta y acceso", "account and sign-in"),
        "hardware": ("hardware", "hardware"),
        "software": ("software", "software"),
        "network": ("red y conexión", "network and connection"),
        "other": ("otro", "other"),
    }
)
LEVEL = Texts({"low": ("bajo", "low"), "medium": ("medio", "medium"), "high": ("alto", "high")})


def text(key: str, lang: str, **params: object) -> str:
    for book in (TEXTS, STATUS, CATEGORY):
        if key in book:
            return book.say(key, lang, **params)
    return key


def owner_of(t: Mapping[str, Any], lang: str, name: str | None = None) -> str:
    """Who has the ticket: the owner's name, else its place in the queue, else nobody yet."""
    if t.get("owner"):
        return str(name or t.get("owner_name") or t["owner"])
    if t.get("queued_since") or t.get("queued_at"):
        return TEXTS.say("in_queue", lang, level=t.get("level") or 1)
    return TEXTS.say("none_yet", lang)


def label(book: Texts, key: str | None, lang: str) -> str:
    return book.say(key, lang)
