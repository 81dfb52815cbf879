"""`mesa`: operator commands (typer)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from shared.demo import DEMO_FILE
from shared.settings import Settings
from shared.topics import ensure_topics, topic_specs

app = typer.Typer(help="Mesa: operator commands.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
catalogue_app = typer.Typer(help="The event catalogue as JSON Schema and AsyncAPI.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(demo_app, name="demo")
console = Console()


@topics_app.command("create")
def topics_create() -> None:
    """Create every topic Mesa needs (idempotent)."""
    settings = Settings()
    created = asyncio.run(ensure_topics(settings))
    for spec in topic_specs(settings):
        mark = "created" if spec.name in created else "exists"
        console.print(f"  {spec.name:<28} {spec.partitions:>3} partitions  {mark}")


@demo_app.command("load")
def demo_load(
    file: Annotated[Path, typer.Option(help="roster and tickets")] = DEMO_FILE,
    intake_url: Annotated[str, typer.Option(envvar="MESA_INTAKE_URL")] = "http://127.0.0.1:8081",
    routing_url: Annotated[str, typer.Option(envvar="MESA_ROUTING_URL")] = "http://127.0.0.1:8082",
    query_url: Annotated[str, typer.Option(envvar="MESA_PUBLIC_URL")] = "http://127.0.0.1:8080",
) -> None:
    """Register the demo roster and open the demo tickets through the public APIs (idempotent)."""
    from shared.auth import Authenticator
    from shared.demo import load, sign_in_users

    data = json.loads(file.read_text())
    auth = Authenticator(Settings())
    result = asyncio.run(load(data, intake_url, routing_url, query_url, auth.issue("service", "demo")))
    table = Table(title="Tickets de demostración")
    for col in ("id", "asunto", "prioridad", "estado", "responsable"):
        table.add_column(col)
    for row in result:
        table.add_row(*(str(row.get(k, "")) for k in ("id", "subject", "priority", "status", "owner")))
    console.print(table)
    users = Table(title=f"Entrar / sign in: {query_url}/login (o un token: mesa token --role ROL --sub ID)")
    for col in ("rol", "id (--sub)", "nombre"):
        users.add_column(col)
    for u in sign_in_users(data):
        users.add_row(u["role"], u["sub"], u["name"])
    console.print(users)


@app.command("token")
def token(
    role: Annotated[str, typer.Option(help="requester, agent, supervisor, auditor, admin or service")],
    sub: Annotated[str, typer.Option(help="who: the requester's email, the agent's id, ...")],
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    hours: Annotated[float, typer.Option(help="valid for this long")] = 8.0,
) -> None:
    """Print a development token (HS256, MESA_JWT_SECRET) as the last line."""
    from shared.auth import ROLES, Authenticator

    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}", param_hint="--role")
    print(Authenticator(Settings()).issue(role, sub, name=name, ttl_s=int(hours * 3600)))


@catalogue_app.command("export")
def catalogue_export(
    out: Annotated[Path, typer.Option(help="target folder")] = Path("docs/catalogue"),
) -> None:
    """Write events/<type>.v<n>.json, requests/<type>.json and asyncapi.json."""
    from shared.events.schema import write_catalogue

    files = write_catalogue(out)
    console.print(f"{len(files)} files written to {out}")


if __name__ == "__main__":
    app()
