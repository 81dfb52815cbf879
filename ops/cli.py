"""`mesa`: operator commands (typer)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from shared.platform.settings import DEMO_DATA, Settings
from shared.platform.topics import ensure_topics, topic_specs

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
    """Create every topic Mesa needs and the ACLs of every principal (idempotent; as `admin`)."""
    from shared.platform.acls import ensure_acls

    settings = Settings()
    created = asyncio.run(ensure_topics(settings))
    for spec in topic_specs(settings):
        mark = "created" if spec.name in created else "exists"
        console.print(f"  {spec.name:<28} {spec.partitions:>3} partitions  {mark}")
    console.print(f"  {asyncio.run(ensure_acls(settings))} ACLs in place (shared/platform/acls.py)")


@app.command("cluster")
def cluster_command() -> None:
    """The Kafka nodes that answer, how many partitions each leads, and every partition with
    fewer replicas in sync than it has (or no leader at all). Exit code 1 when there is one."""
    from collections import Counter

    from shared.platform.topics import cluster_state

    state = asyncio.run(cluster_state(Settings()))
    leads = Counter(p.leader for p in state.partitions)
    table = Table("node", "address", "leads", "role")
    for node, address in sorted(state.nodes.items()):
        table.add_row(str(node), address, str(leads[node]), "controller" if node == state.controller else "")
    console.print(table)
    trouble = [p for p in state.partitions if p.under_replicated or p.leader < 0]
    for p in trouble:
        leader = "no leader" if p.leader < 0 else f"leader {p.leader}"
        console.print(f"  {p.topic}[{p.partition}]: {leader}, in sync {list(p.isr)} of {list(p.replicas)}")
    console.print(
        f"  {len(state.partitions)} partitions, {len(trouble)} under-replicated or leaderless"
        if trouble
        else f"  {len(state.partitions)} partitions, every replica in sync"
    )
    raise typer.Exit(1 if trouble else 0)


signing_app = typer.Typer(help="Event signing: service keys, trusted keys, cut-over.", no_args_is_help=True)
app.add_typer(signing_app, name="signing")


@signing_app.command("init")
def signing_init() -> None:
    """Give each service an Ed25519 key if it has none, and trust them (idempotent)."""
    from shared.platform.signing import init_keys

    settings = Settings()
    made = init_keys(settings.signing_folder)
    console.print(f"  signing keys in {settings.signing_folder}" + (f" (new: {', '.join(made)})" if made else ""))


@signing_app.command("cutover")
def signing_cutover() -> None:
    """Record where signed history begins, for topics that have no cut-over yet: records before it
    may be unsigned (written before signing existed). Run once before the signing services start."""
    from shared.platform.signing import record_cutover
    from shared.platform.topics import end_offsets, signed_topics

    settings = Settings()
    ends = asyncio.run(end_offsets(settings, signed_topics(settings)))
    added = record_cutover(settings.signing_folder, ends)
    for topic, parts in added.items():
        console.print(f"  {topic}: unsigned history below {sum(parts.values()):,} records in {len(parts)} partitions")


@demo_app.command("load")
def demo_load(
    file: Annotated[Path, typer.Option(help="roster and tickets")] = DEMO_DATA,
    intake_url: Annotated[str, typer.Option(envvar="MESA_INTAKE_URL")] = "http://127.0.0.1:8081",
    routing_url: Annotated[str, typer.Option(envvar="MESA_ROUTING_URL")] = "http://127.0.0.1:8082",
    query_url: Annotated[str, typer.Option(envvar="MESA_PUBLIC_URL")] = "http://127.0.0.1:8080",
) -> None:
    """Register the demo roster and open the demo tickets through the public APIs (idempotent)."""
    from ops.demo import load
    from shared.platform.auth import Authenticator, dev_sign_ins

    data = json.loads(file.read_text())
    auth = Authenticator(Settings())
    demo = auth.issue("service", "demo", scopes=("tickets:open", "tickets:read", "roster:write"))
    result = asyncio.run(load(data, intake_url, routing_url, query_url, demo))
    table = Table(title="Tickets de demostración")
    for col in ("id", "asunto", "prioridad", "estado", "responsable"):
        table.add_column(col)
    for row in result:
        table.add_row(*(str(row.get(k, "")) for k in ("id", "subject", "priority", "status", "owner")))
    console.print(table)
    users = Table(title=f"Entrar / sign in: {query_url}/login (o un token: mesa token --role ROL --sub ID)")
    for col in ("rol", "id (--sub)", "nombre"):
        users.add_column(col)
    for u in dev_sign_ins(file):
        users.add_row(u["role"], u["sub"], u["name"])
    console.print(users)


@app.command("token")
def token(
    role: Annotated[str, typer.Option(help="requester, agent, supervisor, auditor, admin or service")],
    sub: Annotated[str, typer.Option(help="who: the requester's email, the agent's id, ...")],
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    hours: Annotated[float, typer.Option(help="valid for this long")] = 8.0,
    scope: Annotated[
        list[str] | None,
        typer.Option(help="a service's grants, one per --scope (none: it may do nothing)"),
    ] = None,
) -> None:
    """Print a development token (HS256, MESA_JWT_SECRET) as the last line."""
    from shared.domain.principal import ROLES, SCOPES
    from shared.platform.auth import Authenticator

    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}", param_hint="--role")
    unknown = set(scope or ()) - set(SCOPES)
    if unknown:
        raise typer.BadParameter(
            f"unknown {', '.join(sorted(unknown))}; one of {', '.join(SCOPES)}", param_hint="--scope"
        )
    print(Authenticator(Settings()).issue(role, sub, name=name, ttl_s=int(hours * 3600), scopes=scope or ()))


@catalogue_app.command("export")
def catalogue_export(
    out: Annotated[Path, typer.Option(help="target folder")] = Path("docs/catalogue"),
) -> None:
    """Write events/<type>.v<n>.json, requests/<type>.json and asyncapi.json."""
    from ops.catalogue import write_catalogue

    files = write_catalogue(out)
    console.print(f"{len(files)} files written to {out}")


def _when(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@app.command("replay")
def replay_command(
    service: Annotated[str, typer.Argument(help="projections, routing, sla or notify")],
    until: Annotated[
        str | None, typer.Option(help="ISO time: the state as of then (kept in <service>_at_<time>)")
    ] = None,
    verify: Annotated[bool, typer.Option(help="compare with the live state, row by row")] = False,
    swap: Annotated[bool, typer.Option(help="make the rebuilt state the live one, atomically")] = False,
    keep: Annotated[bool, typer.Option(help="keep the shadow schema afterwards")] = False,
    workers: Annotated[
        int, typer.Option(min=1, help="processes folding the log side by side (default: one per CPU core)")
    ] = os.cpu_count() or 1,
) -> None:
    """Rebuild a service's state from offset 0 into a shadow schema, while the live one serves."""
    from services.registry import REPLAYABLE

    if service not in REPLAYABLE:
        raise typer.BadParameter(f"one of {', '.join(REPLAYABLE)}", param_hint="SERVICE")
    if until and (verify or swap):
        raise typer.BadParameter("--until builds a past state: it cannot be verified against or swapped in")
    settings = Settings()
    at = _when(until)
    failed = asyncio.run(_replay(settings, service, at, verify, swap, keep or at is not None, workers))
    raise typer.Exit(1 if failed else 0)


async def _replay(
    settings: Settings, service: str, until: datetime | None, verify: bool, swap: bool, keep: bool, workers: int
) -> bool:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ops import replay
    from shared.platform.runtime import tune_gc

    tune_gc()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} ev/s"),
        TimeRemainingColumn(),
    )
    started = time.monotonic()
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"replay {service}", total=None, rate="-")

        def total(n: int) -> None:
            progress.update(task, total=n)

        def batch(n: int) -> None:
            done = progress.tasks[0].completed + n
            rate = done / max(time.monotonic() - started, 1e-6)
            progress.update(task, completed=done, rate=f"{rate:,.0f}")

        def phase(name: str) -> None:
            # the bar is full; what is left is not a count of records
            label = {replay.FINISHING: "finishing the folds", replay.INDEXING: "building the indexes"}[name]
            progress.update(task, description=f"replay {service}: {label}")

        shadow = await replay.rebuild(
            settings, service, until=until, on_total=total, on_batch=batch, on_phase=phase, workers=workers
        )
    elapsed = time.monotonic() - started
    console.print(
        f"{shadow.read:,} records folded into schema [bold]{shadow.schema}[/] in {elapsed:.1f} s"
        f" ({shadow.read / max(elapsed, 1e-6):,.0f} ev/s, {shadow.workers} worker(s));"
        " nothing published, nobody notified."
    )
    failed = False
    try:
        if verify:
            diffs = await replay.compare(settings, shadow)
            table = Table(title=f"{service}: live vs rebuilt")
            for col in ("table", "live rows", "rebuilt rows", "only live", "only rebuilt", "result"):
                table.add_column(col)
            for d in diffs:
                mark = "[green]same[/]" if d.same else "[red]DIFFERENT[/]"
                table.add_row(
                    d.table, str(d.live_rows), str(d.shadow_rows), str(len(d.only_live)), str(len(d.only_shadow)), mark
                )
            console.print(table)
            for d in diffs:
                for row in d.only_live:
                    console.print(f"[red]- {d.table}[/] {row}")
                for row in d.only_shadow:
                    console.print(f"[green]+ {d.table}[/] {row}")
            failed = not all(d.same for d in diffs)
        if swap and not failed:
            try:
                counts = await replay.swap(settings, shadow)
            except replay.SwapRefused as exc:
                console.print(f"[red]swap refused:[/] {exc}")
                return True
            console.print(f"swapped in: {counts}")
    finally:
        await shadow.close()
        if not keep:
            await replay.drop(settings, shadow)
        else:
            console.print(f"kept: schema {shadow.schema} (search_path={shadow.schema},public)")
    return failed


@app.command("events")
def events_command(ticket_id: Annotated[str, typer.Argument(help="T-XXXXXXXX")]) -> None:
    """The raw events of one ticket, in log order, as JSON lines."""
    from ops.logtools import ticket_events

    for line in asyncio.run(ticket_events(Settings(), ticket_id)):
        print(line)


erase_app = typer.Typer(help="Right to erasure (crypto-shredding).", no_args_is_help=True)
app.add_typer(erase_app, name="erase")


@erase_app.command("requester")
def erase_requester(
    requester: Annotated[str, typer.Argument(help="their sign-in id (email) or pseudonym (R-...)")],
    reason: Annotated[str, typer.Option(help="why: e.g. the erasure request's reference")],
    token: Annotated[
        str | None,
        typer.Option(envvar="MESA_TOKEN", help="an admin token (default: one minted with MESA_JWT_SECRET)"),
    ] = None,
) -> None:
    """Delete a requester's data key through intake: their tickets' text can no longer be read in
    any copy of the log, their open tickets are closed, the views show "[erased]"."""
    import httpx

    from shared.platform.auth import Authenticator

    settings = Settings()
    bearer = token or Authenticator(settings).issue("admin", "mesa-cli", name="mesa erase", ttl_s=300)
    response = httpx.post(
        f"{settings.intake_url}/erasures",
        json={"requester": requester, "reason": reason},
        headers={"Authorization": f"Bearer {bearer}", "Accept-Language": "en"},
        timeout=60,
    )
    if response.status_code != 200:
        console.print(f"[red]{response.status_code}[/red] {response.json().get('message', response.text)}")
        raise typer.Exit(1)
    done = response.json()
    console.print(f"erased {done['requester']}: {len(done['tickets'])} tickets ({', '.join(done['tickets'])})")


audit_app = typer.Typer(help="Auditors: the log's integrity, reports, samples.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    log: Annotated[str | None, typer.Option(help="a copy of ticket.events to check instead of the log itself")] = None,
) -> None:
    """Re-read the log, recompute its hash chains, check them against the signed checkpoints."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from services.audit.verify import verify

    settings = Settings()
    with Progress(TextColumn("verify"), BarColumn(), MofNCompleteColumn(), console=console) as progress:
        task = progress.add_task("verify", total=None)
        report = asyncio.run(verify(settings, log, lambda n: progress.advance(task, n)))
    console.print(
        f"{report.log_topic}: {report.events:,} events in {report.partitions} partitions;"
        f" {report.recorded:,} chained, {report.checkpoints} signed checkpoints, {report.unaudited} not yet chained"
    )
    for f in report.findings:
        console.print(f"[red]partition {f.partition} offset {f.offset}: {f.kind}[/] — {f.detail}")
    if report.ok:
        console.print("[green]integrity verified[/]")
    raise typer.Exit(0 if report.ok else 1)


@audit_app.command("pubkey")
def audit_pubkey() -> None:
    """The public key (hex, Ed25519 raw) that verifies the auditor's checkpoints."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from services.audit.chain import signing_key

    settings = Settings()
    key = signing_key(settings.audit_signing_key, settings.jwt_secret).public_key()
    print(key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex())


def _period(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    from services.projections.report import period

    try:
        return period(start, end, datetime.now(UTC))
    except ValueError:
        raise typer.BadParameter("--from/--to: an ISO date or time") from None


async def _report_pools(settings: Settings) -> tuple[Any, Any]:
    from shared.platform import db

    return (
        await db.create_pool(settings.database_url_for("projections"), "projections", max_size=2),
        await db.create_pool(settings.database_url_for("kb"), "kb", max_size=2),
    )


@audit_app.command("report")
def audit_report(
    start: Annotated[str | None, typer.Option("--from", help="ISO date; default 30 days before --to")] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO date; default now")] = None,
    fmt: Annotated[str, typer.Option("--format", help="html, csv or json")] = "json",
    lang: Annotated[str, typer.Option(help="es or en (html)")] = "es",
) -> None:
    """The support process over a period: SLA compliance, times against targets, backlog, reopens,
    escalations, CSAT, deflections. Prints to stdout."""
    from services.projections import report

    if fmt not in ("html", "csv", "json"):
        raise typer.BadParameter("html, csv or json", param_hint="--format")
    since, to = _period(start, end)

    async def run() -> dict[str, Any]:
        pool, kb_pool = await _report_pools(Settings())
        try:
            return await report.load(pool, kb_pool, since, to, datetime.now(UTC))
        finally:
            await pool.close()
            await kb_pool.close()

    data = asyncio.run(run())
    if fmt == "json":
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    elif fmt == "csv":
        print(report.to_csv(data), end="")
    else:
        from services.projections.web.report_view import document

        print(document(data, lang))


@audit_app.command("sample")
def audit_sample(
    start: Annotated[str | None, typer.Option("--from", help="ISO date")] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO date")] = None,
    size: Annotated[int, typer.Option(help="tickets to draw")] = 10,
    seed: Annotated[int, typer.Option(help="the same seed draws the same tickets")] = 1,
    token: Annotated[
        str | None,
        typer.Option(envvar="MESA_TOKEN", help="the auditor's own token (default: one minted with MESA_JWT_SECRET)"),
    ] = None,
) -> None:
    """A reproducible random sample of tickets closed in the period, with their timelines (JSON
    lines). Drawn by the query service, which records each ticket read in the access log."""
    import httpx

    from shared.platform.auth import Authenticator

    settings = Settings()
    bearer = token or Authenticator(settings).issue("auditor", "mesa-cli", name="mesa audit sample", ttl_s=300)
    params: dict[str, str | int] = {"size": size, "seed": seed}
    params |= {k: v for k, v in (("from", start), ("to", end)) if v}
    response = httpx.get(
        f"{settings.public_url}/audit/samples",
        params=params,
        headers={"Authorization": f"Bearer {bearer}", "Accept-Language": "en"},
        timeout=60,
    )
    if response.status_code != 200:
        console.print(f"[red]{response.status_code}[/red] {response.json().get('message', response.text)}")
        raise typer.Exit(1)
    for item in response.json():
        print(json.dumps(item, ensure_ascii=False))


dlq_app = typer.Typer(help="Dead letters: list, show, re-drive after a fix.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")


def _letters(topic: str | None, code: str | None) -> list[Any]:
    from ops import dlq

    settings = Settings()
    topics = [settings.topic(topic) + ("" if topic.endswith(".dlq") else ".dlq")] if topic else None
    letters = asyncio.run(dlq.read(settings, topics))
    return [x for x in letters if code is None or x.header("dlq_code") == code]


@dlq_app.command("list")
def dlq_list(
    topic: Annotated[str | None, typer.Option(help="ticket.requests, ticket.events, agent.events")] = None,
    code: Annotated[str | None, typer.Option(help="only this dlq_code")] = None,
) -> None:
    """Every dead letter: where it came from, why, and when."""
    table = Table(title="Cartas muertas / dead letters")
    for col in ("ref", "code", "consumer", "from", "reason"):
        table.add_column(col, overflow="fold")
    letters = _letters(topic, code)
    for x in letters:
        origin = f"{x.header('dlq_topic')}/{x.header('dlq_partition')}/{x.header('dlq_offset')}"
        table.add_row(x.ref, x.header("dlq_code"), x.header("dlq_consumer"), origin, x.header("dlq_reason")[:200])
    console.print(table)
    console.print(f"{len(letters)} letters")


@dlq_app.command("show")
def dlq_show(ref: Annotated[str, typer.Argument(help="topic/partition/offset, as `mesa dlq list` prints it")]) -> None:
    """One dead letter whole: its headers, and the record it keeps, opened (sealed letters open with
    the key of the requester they concern; an erased requester's letter stays unreadable)."""
    from ops import dlq

    found = [x for x in _letters(None, None) if x.ref == ref]
    if not found:
        console.print(f"[red]no dead letter {ref}[/]")
        raise typer.Exit(1)
    letter = found[0]
    opened = asyncio.run(dlq.open_all(Settings(), [letter]))[letter.ref]
    print(
        json.dumps(
            {
                "ref": letter.ref,
                "key": (letter.key or b"").decode("utf-8", "replace"),
                "headers": {k: v.decode("utf-8", "replace") for k, v in letter.headers},
                "record": {
                    "headers": {k: v.decode("utf-8", "replace") for k, v in opened.headers},
                    "value": (opened.value or b"").decode("utf-8", "replace"),
                }
                if opened.readable
                else "[erased]",
            },
            ensure_ascii=False,
            indent=2,
        )
    )


@dlq_app.command("redrive")
def dlq_redrive(
    refs: Annotated[list[str] | None, typer.Argument(help="letters to re-drive (topic/partition/offset)")] = None,
    code: Annotated[str | None, typer.Option(help="every letter with this dlq_code")] = None,
    everything: Annotated[bool, typer.Option("--all", help="every letter that came from a topic")] = False,
) -> None:
    """Publish letters again to the topic they came from, after the cause is fixed (a mail mailin
    could not read goes to mailin again, over SMTP)."""
    from ops import dlq

    if not refs and code is None and not everything:
        raise typer.BadParameter("name letters, or --code CODE, or --all")
    letters = _letters(None, code)
    chosen = [x for x in letters if (not refs or x.ref in refs) and dlq.redrivable(x)]
    skipped = [x for x in letters if (not refs or x.ref in refs) and not dlq.redrivable(x)]
    n, refused = asyncio.run(dlq.redrive(Settings(), chosen))
    console.print(f"{n} letters re-driven" + (f"; {len(skipped)} not from a topic, left alone" if skipped else ""))
    for why in refused:
        console.print(f"[yellow]not re-driven:[/] {why}")


if __name__ == "__main__":
    app()
