"""What the pages say, in Spanish (default) and English, and how a timeline entry reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TEXTS: dict[str, tuple[str, str]] = {
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
    "none_yet": ("sin asignar todavía", "not assigned yet"),
    "no_tickets": ("No hay tickets.", "No tickets."),
    "description": ("Descripción", "Description"),
    "order_id": ("Número de pedido", "Order number"),
    "order_help": ("Solo si el problema es con un pedido.", "Only if the problem is about an order."),
    "impact_q": ("¿A cuánta gente o actividad afecta?", "How much does it affect?"),
    "impact_low": ("Solo a mí, puedo seguir trabajando", "Only me, I can carry on"),
    "impact_medium": ("A mí o a mi equipo, con dificultad", "Me or my team, with difficulty"),
    "impact_high": ("A muchos clientes o a toda la tienda", "Many customers or the whole shop"),
    "urgency_q": ("¿Cuánto corre prisa?", "How urgent is it?"),
    "urgency_low": ("Puede esperar unos días", "It can wait a few days"),
    "urgency_medium": ("Lo necesito hoy o mañana", "I need it today or tomorrow"),
    "urgency_high": ("Está parado ahora mismo", "It is blocked right now"),
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
    "views": ("lecturas", "views"),
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
    "compliance": ("Cumplimiento del SLA", "SLA compliance"),
    "reopen_rate": ("Tasa de reapertura", "Reopen rate"),
    "backlog": ("Pendientes y su antigüedad", "Backlog and its age"),
    "oldest": ("El más antiguo", "Oldest"),
    "frt_by_priority": ("Primera respuesta en plazo por prioridad, %", "First response within target by priority, %"),
    "team": ("Equipo", "Team"),
    "against_targets": ("frente a los objetivos", "against targets"),
    "target": ("objetivo", "target"),
    "escalations": ("Escalados y sus motivos", "Escalations and their reasons"),
}

STATUS: dict[str, tuple[str, str]] = {
    "new": ("nuevo", "new"),
    "assigned": ("asignado", "assigned"),
    "in_progress": ("en curso", "in progress"),
    "waiting_on_customer": ("esperando tu respuesta", "waiting for you"),
    "resolved": ("resuelto", "resolved"),
    "closed": ("cerrado", "closed"),
}
CATEGORY: dict[str, tuple[str, str]] = {
    "order_status": ("estado de pedido o producto", "order or product status"),
    "payment": ("pagos y facturas", "payments and invoices"),
    "account": ("cuenta y acceso", "account and sign-in"),
    "hardware": ("hardware", "hardware"),
    "software": ("software", "software"),
    "network": ("red y conexión", "network and connection"),
    "other": ("otro", "other"),
}
LEVEL: dict[str, tuple[str, str]] = {"low": ("bajo", "low"), "medium": ("medio", "medium"), "high": ("alto", "high")}


def text(key: str, lang: str) -> str:
    pair = TEXTS.get(key) or STATUS.get(key) or CATEGORY.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]


def label(table: Mapping[str, tuple[str, str]], key: str | None, lang: str) -> str:
    if key is None:
        return ""
    pair = table.get(key)
    return key if pair is None else (pair[1] if lang == "en" else pair[0])


def describe(event: Mapping[str, Any], lang: str, names: Mapping[str, str]) -> tuple[str, str]:
    """(headline, body) of a timeline entry. Bodies are plain text: the template escapes them."""
    d, en = event["data"], lang == "en"

    def who(agent: str | None) -> str:
        return names.get(agent or "", agent or "")

    match event["type"]:
        case "ticket.opened":
            return ("Ticket opened" if en else "Ticket abierto"), d.get("description", "")
        case "ticket.categorized":
            cat = label(CATEGORY, d.get("category"), lang)
            head = (
                f"Category {cat}, priority {d.get('priority')}"
                if en
                else f"Categoría {cat}, prioridad {d.get('priority')}"
            )
            return head, d.get("reason", "")
        case "ticket.assigned":
            name = who(d.get("agent_id"))
            return (f"Assigned to {name}" if en else f"Asignado a {name}"), d.get("reason", "")
        case "ticket.queued":
            return ("Waiting for an available agent" if en else "En espera de un agente disponible"), d.get(
                "reason", ""
            )
        case "ticket.unassigned":
            return ("Owner released" if en else "Responsable liberado"), d.get("reason", "")
        case "ticket.commented":
            author = who(d.get("author")) if d.get("author_role") == "agent" else d.get("author", "")
            return (f"{author} wrote" if en else f"{author} escribió"), d.get("body", "")
        case "ticket.info_requested":
            name = who(d.get("agent_id"))
            return (f"{name} asked for information" if en else f"{name} pidió información"), d.get("question", "")
        case "ticket.customer_replied":
            return ("Customer answered" if en else "Respuesta del cliente"), d.get("body", "")
        case "ticket.sla_targets_set":
            return ("Response targets set" if en else "Objetivos de respuesta fijados"), ""
        case "ticket.sla_warning":
            return (f"SLA warning: {d.get('target')}" if en else f"Aviso de SLA: {d.get('target')}"), ""
        case "ticket.sla_breached":
            return (f"SLA breached: {d.get('target')}" if en else f"SLA incumplido: {d.get('target')}"), ""
        case "ticket.escalated":
            head = f"Escalated to level {d.get('to_level')}" if en else f"Escalado al nivel {d.get('to_level')}"
            return head, (d.get("reason_en") or d.get("reason", "")) if en else d.get("reason", "")
        case "ticket.resolved":
            return (f"Resolved by {who(d.get('agent_id'))}" if en else f"Resuelto por {who(d.get('agent_id'))}"), d.get(
                "summary", ""
            )
        case "ticket.resolution_confirmed":
            return ("Customer confirmed the solution" if en else "El cliente confirmó la solución"), ""
        case "ticket.resolution_rejected":
            return ("Customer says it is not solved" if en else "El cliente indica que no está resuelto"), d.get(
                "reason", ""
            )
        case "ticket.reopened":
            return ("Reopened" if en else "Reabierto"), d.get("reason", "")
        case "ticket.closed":
            return ("Closed" if en else "Cerrado"), d.get("reason", "")
        case "ticket.feedback_given":
            stars = "★" * int(d.get("rating", 0))
            return (f"Rating {stars}" if en else f"Valoración {stars}"), d.get("comment", "")
        case "notification.sent":
            return (f"Message sent: {d.get('template', '')}" if en else f"Mensaje enviado: {d.get('template', '')}"), ""
    return event["type"], ""
