"""Settings from the environment, one typed object (pydantic-settings).

The same variables drive `make up`, the tests and docker-compose.yml. Topic names carry an
optional prefix so that test modules can share one broker without seeing each other's records.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    database_url: str = Field(
        default="postgresql://mesa:mesa@127.0.0.1:55432/mesa", validation_alias="DATABASE_URL"
    )
    topic_prefix: str = Field(default="", validation_alias="MESA_TOPIC_PREFIX")
    topic_partitions: int = Field(default=12, validation_alias="MESA_TOPIC_PARTITIONS")
    log_level: str = Field(default="INFO", validation_alias="MESA_LOG_LEVEL")
    log_format: str = Field(default="json", validation_alias="MESA_LOG_FORMAT")
    http_host: str = Field(default="127.0.0.1", validation_alias="MESA_HTTP_HOST")
    # Consumers poll at most this many records per partition batch (one DB transaction each).
    batch_size: int = Field(default=500, validation_alias="MESA_BATCH_SIZE")
    # How long the outbox relay sleeps when no NOTIFY woke it (a safety net, not the main path).
    outbox_poll_seconds: float = Field(default=1.0, validation_alias="MESA_OUTBOX_POLL_SECONDS")
    # Language of messages when a request does not ask for one.
    default_language: str = Field(default="es", validation_alias="MESA_LANGUAGE")

    def topic(self, name: str) -> str:
        """The physical name of a logical topic such as `ticket.events`."""
        return f"{self.topic_prefix}{name}"

    def group(self, service: str, consumer: str = "main") -> str:
        """The consumer group shared by every instance of one service's consumer."""
        return f"{self.topic_prefix}mesa.{service}.{consumer}"
