"""What the pages say, in Spanish (default) and English (shared.domain.i18n: one way to translate)."""

from __future__ import annotations

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


def text(key: str, lang: str) -> str:
    for book in (TEXTS, STATUS, CATEGORY):
        if key in book:
            return book.say(key, lang)
    return key


def label(book: Texts, key: str | None, lang: str) -> str:
    return book.say(key, lang)
