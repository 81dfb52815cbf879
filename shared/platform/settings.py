"""Settings from the environment, one typed object (pydantic-settings).

The same variables drive `make up`, the tests and docker-compose.yml. Topic names carry an
optional prefix so that test modules can share one broker without seeing each other's records.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.platform import topology

# This clone's local data (git-ignored), where deploy/ writes credentials and keys.
LOCAL = Path(__file__).resolve().parents[2] / ".local"
# The demo's people (`make up` loads them; the development sign-in lists them).
DEMO_DATA = Path(__file__).resolve().parents[2] / "ops" / "demo.json"


@functools.cache
def client_properties(path: Path) -> dict[str, str]:
    """A librdkafka-style client file (`key=value` lines, `#` comments), as kcat reads it."""
    props: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            props[key.strip()] = value.strip()
    for needed in ("sasl.username", "sasl.password"):
        if needed not in props:
            raise ValueError(f"{path}: no {needed}")
    return props


def _ports_from_environment() -> dict[str, int]:
    return {s.name: int(os.environ[s.port_variable]) for s in topology.STATIONS if os.environ.get(s.port_variable)}


DEV_JWT_SECRET = "mesa-desarrollo-cambiar-en-produccion"
# The schemas a deployment places: each service's own, requesters' keys, the knowledge base.
DATABASE_SCHEMAS = (*(s.name for s in topology.STATIONS), "keys", "kb")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    # Anything not started by `make up` or the tests is production: there, a service refuses to
    # start with development conveniences (see `production_problems`).
    env: Literal["production", "development"] = Field(default="production", validation_alias="MESA_ENV")

    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    # Who this process is on the broker (SASL/SCRAM; shared/platform/acls.py says what each may do). A
    # service is its own name unless told otherwise; tools and tests are `admin`. The password
    # comes from KAFKA_SASL_* when given, else from <MESA_KAFKA_CREDENTIALS>/<principal>.properties
    # (written by deploy/kafka.sh; default: this clone's .local/kafka when it exists).
    kafka_principal: str | None = Field(default=None, validation_alias="MESA_KAFKA_PRINCIPAL")
    kafka_credentials: Path | None = Field(default=None, validation_alias="MESA_KAFKA_CREDENTIALS")
    kafka_security_protocol: str | None = Field(default=None, validation_alias="KAFKA_SECURITY_PROTOCOL")
    kafka_sasl_mechanism: str = Field(default="SCRAM-SHA-512", validation_alias="KAFKA_SASL_MECHANISM")
    kafka_sasl_username: str | None = Field(default=None, validation_alias="KAFKA_SASL_USERNAME")
    kafka_sasl_password: SecretStr | None = Field(default=None, validation_alias="KAFKA_SASL_PASSWORD")
    database_url: str = Field(default="postgresql://mesa:mesa@127.0.0.1:15432/mesa", validation_alias="DATABASE_URL")
    # Each schema may live on a server of its own (docs/reliability.md): `<SCHEMA>_DATABASE_URL`,
    # else DATABASE_URL. Moving one is a change of configuration; nothing joins two schemas in SQL.
    # `keys` holds requesters' data keys (intake writes them, whoever shows text reads them),
    # `kb` the knowledge base (projections serves it).
    intake_database_url: str | None = Field(default=None, validation_alias="INTAKE_DATABASE_URL")
    routing_database_url: str | None = Field(default=None, validation_alias="ROUTING_DATABASE_URL")
    sla_database_url: str | None = Field(default=None, validation_alias="SLA_DATABASE_URL")
    notify_database_url: str | None = Field(default=None, validation_alias="NOTIFY_DATABASE_URL")
    projections_database_url: str | None = Field(default=None, validation_alias="PROJECTIONS_DATABASE_URL")
    audit_database_url: str | None = Field(default=None, validation_alias="AUDIT_DATABASE_URL")
    mailin_database_url: str | None = Field(default=None, validation_alias="MAILIN_DATABASE_URL")
    keys_database_url: str | None = Field(default=None, validation_alias="KEYS_DATABASE_URL")
    kb_database_url: str | None = Field(default=None, validation_alias="KB_DATABASE_URL")
    topic_prefix: str = Field(default="", validation_alias="MESA_TOPIC_PREFIX")
    topic_partitions: int = Field(default=12, validation_alias="MESA_TOPIC_PARTITIONS")
    log_level: str = Field(default="INFO", validation_alias="MESA_LOG_LEVEL")
    log_format: str = Field(default="json", validation_alias="MESA_LOG_FORMAT")
    http_host: str = Field(default="127.0.0.1", validation_alias="MESA_HTTP_HOST")
    # Consumers poll at most this many records per partition batch (one DB transaction each).
    batch_size: int = Field(default=500, validation_alias="MESA_BATCH_SIZE")
    # After a poll that brought less than a batch, a consumer waits this long for the records right
    # behind it and applies them together: one transaction, one claim per partition, one fold
    # for many records instead of a few (issue 22: the fixed cost per event). 0: apply at once.
    consumer_linger_ms: float = Field(default=15.0, ge=0, le=1000, validation_alias="MESA_CONSUMER_LINGER_MS")
    # How long the broker may hold a consumer's fetch when nothing is there to read. A record that
    # arrives answers it at once, so this is not a latency: it is how often an idle consumer asks
    # (with aiokafka's 500 ms, fetches that found nothing were a fifth of an idle stack's CPU).
    # What waits: a request sent on the same connection behind a held fetch (the positions read
    # when a rebalance hands over a partition that had nothing to read), this long at most.
    # Consumers with a latency budget of 100 ms or more hold 500 ms at most (`bus.make_consumer`).
    consumer_fetch_wait_ms: int = Field(default=2_000, ge=0, le=30_000, validation_alias="MESA_CONSUMER_FETCH_WAIT_MS")
    # How long the outbox relay sleeps when no NOTIFY woke it (a safety net, not the main path:
    # rows a stopped instance left, a wake-up lost with its connection). Each look is a transaction,
    # every service's, all day: a second's was a tenth of an idle service's CPU (issue 22).
    outbox_poll_seconds: float = Field(default=5.0, gt=0, validation_alias="MESA_OUTBOX_POLL_SECONDS")
    # After a wake-up the relay waits this long for more commits, to publish them in one batch.
    outbox_linger_ms: float = Field(default=5.0, ge=0, validation_alias="MESA_OUTBOX_LINGER_MS")
    # The inbox forgets the event ids it applied (shared.platform.inbox_pruning) once no copy of
    # them can reach its consumer again, and never before they are this old: the window in which a
    # publisher outside Mesa (no outbox, so nothing bounds its retries) may send an event again.
    inbox_keep_s: float = Field(default=86_400.0, ge=0, validation_alias="MESA_INBOX_KEEP_S")
    # How many partitions of history (records below a partition's history_end: a service joining
    # a log, a dropped schema) a consumer folds at once, each in a transaction of its own. 1: one
    # at a time, in the poll's one transaction, as live records are.
    history_parallel: int = Field(default=4, ge=1, le=16, validation_alias="MESA_HISTORY_PARALLEL")
    # How often each service looks for inbox ids it may forget.
    inbox_prune_interval_s: float = Field(default=300.0, gt=0, validation_alias="MESA_INBOX_PRUNE_INTERVAL_S")
    # How far apart the clocks of two database servers may be (an outbox's and an inbox's).
    inbox_clock_skew_s: float = Field(default=60.0, ge=0, validation_alias="MESA_INBOX_CLOCK_SKEW_S")
    # Traces (shared.platform.tracing): where to send them over OTLP/HTTP (Jaeger's collector,
    # http://127.0.0.1:4318 under `make up`); empty: no traces. `trace_sample` is the fraction of
    # commands traced; every service follows the decision made where the command came in.
    otlp_endpoint: str = Field(default="", validation_alias="MESA_OTLP_ENDPOINT")
    trace_sample: float = Field(default=0.1, ge=0, le=1, validation_alias="MESA_TRACE_SAMPLE")
    # How often a service measures what /metrics shows from its database (its outbox's backlog).
    metrics_interval_s: float = Field(default=10.0, gt=0, validation_alias="MESA_METRICS_INTERVAL_S")
    # Language of messages when a request does not ask for one.
    default_language: str = Field(default="es", validation_alias="MESA_LANGUAGE")

    # Where each service listens.
    # Each service listens on `<NAME>_PORT`, else on its port in shared.platform.topology.
    ports: dict[str, int] = Field(default_factory=lambda: _ports_from_environment(), validation_alias="MESA_PORTS")
    # The address people use to reach the query API and the web (links in mails, Location).
    public_url_override: str | None = Field(default=None, validation_alias="MESA_PUBLIC_URL")

    # Routing: tickets waiting on the customer move off an absent owner after this long.
    routing_reassign_waiting_after_s: float = Field(
        default=24 * 3600, validation_alias="ROUTING_REASSIGN_WAITING_AFTER_S"
    )
    routing_sweep_interval_s: float = Field(default=5.0, validation_alias="ROUTING_SWEEP_INTERVAL_S")

    # SLA policy file (targets, calendars, warnings, escalation); None: deploy/sla-policy.yaml
    sla_policy: Path | None = Field(default=None, validation_alias="MESA_SLA_POLICY")

    # Mail.
    smtp_host: str = Field(default="127.0.0.1", validation_alias="NOTIFY_SMTP_HOST")
    smtp_port: int = Field(default=8025, validation_alias="NOTIFY_SMTP_PORT")
    mail_from: str = Field(default="Soporte Mesa <soporte@mesa.local>", validation_alias="NOTIFY_FROM")
    smtp_starttls: bool = Field(default=False, validation_alias="NOTIFY_SMTP_STARTTLS")
    smtp_username: str | None = Field(default=None, validation_alias="NOTIFY_SMTP_USERNAME")
    smtp_password: str | None = Field(default=None, validation_alias="NOTIFY_SMTP_PASSWORD")
    # a failing send is retried this many times, waiting base * 2^attempt (capped at 5 min)
    notify_max_attempts: int = Field(default=5, validation_alias="NOTIFY_MAX_ATTEMPTS")
    notify_backoff_s: float = Field(default=1.0, validation_alias="NOTIFY_BACKOFF_S")
    # messages in flight at once, each on its own SMTP connection (also the most a killed notify
    # can have sent without recording it, so resent after its lease)
    notify_smtp_connections: int = Field(default=8, ge=1, le=64, validation_alias="NOTIFY_SMTP_CONNECTIONS")
    # how long those connections stay open with nothing to send: mail that trickles in (a few
    # messages every half second) goes on open connections instead of a greeting, EHLO and QUIT
    # each time; well under the idle limits of SMTP servers (RFC 5321: at least five minutes)
    notify_smtp_idle_s: float = Field(default=10.0, ge=0, le=120, validation_alias="NOTIFY_SMTP_IDLE_S")
    mail_domain: str = Field(default="mesa.local", validation_alias="NOTIFY_MAIL_DOMAIN")
    # Where customers write (and reply): the inbound mail service's address; Mesa's mails carry
    # a plus-addressed variant of it as Reply-To, with the ticket's token.
    support_address: str = Field(default="soporte@mesa.local", validation_alias="MESA_SUPPORT_ADDRESS")
    # The inbound mail service (services/mailin): where it takes SMTP, how many mails an hour one
    # sender may send, and its service token (else it issues its own, in development).
    mailin_host: str = Field(default="127.0.0.1", validation_alias="MESA_MAILIN_HOST")
    mailin_port: int = Field(default=2525, validation_alias="MESA_MAILIN_PORT")
    mailin_per_sender_per_hour: int = Field(default=60, ge=1, validation_alias="MESA_MAILIN_PER_SENDER_PER_HOUR")
    mailin_token: SecretStr | None = Field(default=None, validation_alias="MESA_MAILIN_TOKEN")
    # who hears about SLA breaches and escalations besides the owner (comma-separated addresses)
    supervisors: str = Field(default="supervision@soporte.mesa.local", validation_alias="NOTIFY_SUPERVISORS")
    # who receives the periodic audit with the supervisors (comma-separated addresses)
    auditors: str = Field(default="auditoria@soporte.mesa.local", validation_alias="NOTIFY_AUDITORS")
    # Clause 12: a period's audit (its sample and figures, mailed to supervisors and auditors) is
    # opened by itself, monthly by default, from this local hour of the period's first day after.
    audit_schedule: Literal["monthly", "weekly", "off"] = Field(
        default="monthly", validation_alias="MESA_AUDIT_SCHEDULE"
    )
    audit_hour: int = Field(default=7, ge=0, le=23, validation_alias="MESA_AUDIT_HOUR")
    audit_sample_size: int = Field(default=10, ge=1, le=200, validation_alias="MESA_AUDIT_SAMPLE")
    audit_check_interval_s: float = Field(default=300, gt=0, validation_alias="MESA_AUDIT_CHECK_INTERVAL_S")
    # Each agent gets a digest of their open queue once a day, at this local hour.
    digest_hour: int = Field(default=8, ge=0, le=23, validation_alias="NOTIFY_DIGEST_HOUR")
    digest_timezone: str = Field(default="Europe/Madrid", validation_alias="NOTIFY_DIGEST_TZ")
    # Where people read times when neither their profile nor their browser says: the business
    # calendar's zone.
    display_timezone: str = Field(default="Europe/Madrid", validation_alias="MESA_TIMEZONE")
    # Webhook hosts allowed even though they resolve to private addresses (comma-separated; an
    # admin's decision: by default webhooks go to public addresses only).
    webhook_allow_hosts: str = Field(default="", validation_alias="NOTIFY_WEBHOOK_ALLOW_HOSTS")
    # Requesters known by an id rather than an address are written to <id>@<this domain>.
    user_email_domain: str = Field(default="clientes.mesa.local", validation_alias="MESA_USER_EMAIL_DOMAIN")

    # Sign-in: HS256 with this secret in development; a JWKS URL for a company's identity provider.
    jwt_secret: str = Field(default=DEV_JWT_SECRET, validation_alias="MESA_JWT_SECRET")
    jwt_algorithms: str = Field(default="HS256", validation_alias="MESA_JWT_ALGORITHMS")
    jwt_jwks_url: str | None = Field(default=None, validation_alias="MESA_JWT_JWKS_URL")
    jwt_issuer: str = Field(default="mesa", validation_alias="MESA_JWT_ISSUER")
    jwt_audience: str = Field(default="mesa", validation_alias="MESA_JWT_AUDIENCE")
    jwt_role_claim: str = Field(default="role", validation_alias="MESA_JWT_ROLE_CLAIM")
    # The longest a token of each role may live, from issue to expiry, in hours (JSON); a stolen
    # token works at most this long. Machines' (service) tokens are rotated less often.
    jwt_max_lifetime_h: dict[str, float] = Field(
        default={"requester": 24, "agent": 12, "supervisor": 12, "auditor": 12, "admin": 8, "service": 720},
        validation_alias="MESA_JWT_MAX_LIFETIME_H",
    )
    # Where the web (projections) sends the commands people give in its pages.
    intake_url_override: str | None = Field(default=None, validation_alias="MESA_INTAKE_URL")
    routing_url_override: str | None = Field(default=None, validation_alias="MESA_ROUTING_URL")
    notify_url_override: str | None = Field(default=None, validation_alias="MESA_NOTIFY_URL")
    # Where the development mail sink keeps messages (the web lists them when dev_login is on).
    mail_dir: str | None = Field(default=None, validation_alias="MESA_MAIL_DIR")
    # The sign-in page lists the demo users (development only).
    dev_login: bool = Field(default=False, validation_alias="MESA_DEV_LOGIN")
    dev_login_people: Path = Field(default=DEMO_DATA, validation_alias="MESA_DEV_LOGIN_PEOPLE")

    # The auditor signs chain checkpoints with this Ed25519 seed (64 hex digits); in development a
    # seed is derived from MESA_JWT_SECRET. A checkpoint every this many events per partition.
    audit_signing_key: str | None = Field(default=None, validation_alias="MESA_AUDIT_SIGNING_KEY")
    audit_checkpoint_every: int = Field(default=1000, ge=1, validation_alias="MESA_AUDIT_CHECKPOINT_EVERY")
    audit_checkpoint_interval_s: float = Field(default=30.0, validation_alias="MESA_AUDIT_CHECKPOINT_INTERVAL_S")

    # Crypto-shredding: requesters' data keys are wrapped with this AES-256 key (base64 of 32
    # bytes, from a secret store in production); in development one is derived from MESA_JWT_SECRET.
    master_key: str | None = Field(default=None, validation_alias="MESA_MASTER_KEY")

    # Hostile input: the largest request body any service reads (the ticket form carries files),
    # and how many tickets one person may open per minute (bursts of twice that).
    max_body_bytes: int = Field(default=32 * 2**20, validation_alias="MESA_MAX_BODY_BYTES")
    open_rate_per_minute: float = Field(default=10, validation_alias="MESA_OPEN_RATE_PER_MINUTE")
    # Every write (POST, PUT, PATCH, DELETE) per principal and minute, bursts of a quarter of it;
    # other systems (service tokens) have a quota of their own.
    write_rate_per_minute: float = Field(default=120, gt=0, validation_alias="MESA_WRITE_RATE_PER_MINUTE")
    service_write_rate_per_minute: float = Field(
        default=120_000, gt=0, validation_alias="MESA_SERVICE_WRITE_RATE_PER_MINUTE"
    )
    # Overload: requests one process works on at once; more get 503 and Retry-After at once
    # instead of waiting in a queue that only grows (0: no limit).
    http_max_in_flight: int = Field(default=256, ge=0, validation_alias="MESA_HTTP_MAX_IN_FLIGHT")

    # Dead letters wait for a human, but not forever (they may hold what a requester sent).
    dlq_retention_days: float = Field(default=14, gt=0, validation_alias="MESA_DLQ_RETENTION_DAYS")

    # Event signing: each service signs what it publishes with its Ed25519 key, and every reader
    # checks it against the trusted public keys (shared/platform/signing.py). The folder holds
    # trust.json and one <service>.key each; default: this clone's .local/signing.
    signing_dir: Path | None = Field(default=None, validation_alias="MESA_SIGNING_DIR")
    # The private key this process signs with (default: <signing_dir>/<service>.key).
    signing_key_file: Path | None = Field(default=None, validation_alias="MESA_SIGNING_KEY_FILE")

    def database_url_for(self, schema: str) -> str:
        """Where `schema` lives (a service's, `keys` or `kb`; any other: DATABASE_URL)."""
        specific: str | None = getattr(self, f"{schema}_database_url") if schema in DATABASE_SCHEMAS else None
        return specific or self.database_url

    def database_urls(self) -> set[str]:
        """Every server (database) some schema lives on."""
        return {self.database_url_for(s) for s in DATABASE_SCHEMAS}

    def port(self, service: str) -> int:
        return self.ports.get(service) or topology.station(service).port

    @property
    def public_url(self) -> str:
        return self.public_url_override or f"http://127.0.0.1:{self.port('projections')}"

    @property
    def intake_url(self) -> str:
        return self.intake_url_override or f"http://127.0.0.1:{self.port('intake')}"

    @property
    def routing_url(self) -> str:
        return self.routing_url_override or f"http://127.0.0.1:{self.port('routing')}"

    @property
    def notify_url(self) -> str:
        return self.notify_url_override or f"http://127.0.0.1:{self.port('notify')}"

    def production_problems(self) -> list[str]:
        """What makes these settings unfit for production (empty in development): secrets that
        are built in or derived from another, development sign-in."""
        if self.env != "production":
            return []
        problems = []
        if self.jwt_jwks_url is None and (self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < 32):
            problems.append(
                "MESA_JWT_SECRET is the built-in one (or shorter than 32 characters); or set MESA_JWT_JWKS_URL"
            )
        if self.dev_login:
            problems.append("MESA_DEV_LOGIN is on: anyone could sign in as a demo user")
        if not self.master_key:
            problems.append("MESA_MASTER_KEY is not set (it would be derived from the JWT secret)")
        if not self.audit_signing_key:
            problems.append("MESA_AUDIT_SIGNING_KEY is not set (it would be derived from the JWT secret)")
        return problems

    @property
    def principal(self) -> str:
        return self.kafka_principal or "admin"

    def kafka(self) -> dict[str, Any]:
        """The keyword arguments every aiokafka client of this process takes: where the broker is
        and who we are on it."""
        options: dict[str, Any] = {"bootstrap_servers": self.kafka_bootstrap_servers}
        if self.kafka_sasl_username:
            assert self.kafka_sasl_password is not None, "KAFKA_SASL_USERNAME needs KAFKA_SASL_PASSWORD"
            user, password = self.kafka_sasl_username, self.kafka_sasl_password.get_secret_value()
            protocol = self.kafka_security_protocol or "SASL_PLAINTEXT"
            mechanism = self.kafka_sasl_mechanism
        else:
            folder = self.kafka_credentials or (LOCAL / "kafka")
            path = folder / f"{self.principal}.properties"
            if not path.exists():
                if self.kafka_credentials is not None or (folder / "admin.properties").exists():
                    raise FileNotFoundError(f"no Kafka credentials for principal {self.principal!r}: {path}")
                # no credentials anywhere: a broker without authentication (someone else's)
                return options | (
                    {"security_protocol": self.kafka_security_protocol} if self.kafka_security_protocol else {}
                )
            props = client_properties(path)
            user, password = props["sasl.username"], props["sasl.password"]
            protocol = self.kafka_security_protocol or props.get("security.protocol", "SASL_PLAINTEXT")
            mechanism = props.get("sasl.mechanisms", props.get("sasl.mechanism", self.kafka_sasl_mechanism))
        return options | {
            "security_protocol": protocol,
            "sasl_mechanism": mechanism,
            "sasl_plain_username": user,
            "sasl_plain_password": password,
        }

    @property
    def signing_folder(self) -> Path:
        return self.signing_dir or (LOCAL / "signing")

    def topic(self, name: str) -> str:
        """The physical name of a logical topic such as `ticket.events`."""
        return f"{self.topic_prefix}{name}"

    def group(self, service: str, consumer: str = "main") -> str:
        """The consumer group shared by every instance of one service's consumer."""
        return f"{self.topic_prefix}mesa.{service}.{consumer}"
