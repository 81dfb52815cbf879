"""Where each schema lives (`<SCHEMA>_DATABASE_URL`) and how many copies a topic gets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.platform.settings import DATABASE_SCHEMAS, Settings
from shared.platform.topics import replication
from shared.platform.topology import STATIONS

FIRST = "postgresql://mesa:mesa@db1:5432/mesa"
SECOND = "postgresql://mesa:mesa@db2:5432/mesa"


def test_every_service_and_the_shared_schemas_have_a_setting_of_their_own() -> None:
    assert set(DATABASE_SCHEMAS) == {*(s.name for s in STATIONS), "keys", "kb"}
    aliases = {f.validation_alias for f in Settings.model_fields.values()}
    assert {f"{schema.upper()}_DATABASE_URL" for schema in DATABASE_SCHEMAS} <= aliases


@given(st.sets(st.sampled_from(DATABASE_SCHEMAS)))
def test_a_schema_is_where_its_setting_says_else_on_the_default_server(apart: set[str]) -> None:
    settings = Settings.model_validate(
        {"DATABASE_URL": FIRST, **{f"{schema.upper()}_DATABASE_URL": SECOND for schema in apart}}
    )
    for schema in DATABASE_SCHEMAS:
        assert settings.database_url_for(schema) == (SECOND if schema in apart else FIRST)
    assert settings.database_urls() == ({FIRST} if len(apart) < len(DATABASE_SCHEMAS) else set()) | (
        {SECOND} if apart else set()
    )
    assert settings.database_url_for("a_test_service") == FIRST  # anything else: the default


@given(st.integers(min_value=1, max_value=9))
def test_three_copies_once_there_are_three_nodes_and_two_must_have_a_write(brokers: int) -> None:
    copies, config = replication(brokers)
    assert copies == min(brokers, 3)
    assert config["min.insync.replicas"] == ("2" if brokers >= 3 else "1")
    assert int(config["min.insync.replicas"]) <= copies - (1 if copies == 3 else 0)  # one node may die
