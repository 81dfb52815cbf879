"""The floor benchmark's arithmetic: a ticket composed from the parts' measured costs."""

from __future__ import annotations

import pytest

from bench.floor import SHAPE, compose

PARTS = {
    "http": {"server_us": 100.0},
    "pg_durable": {"server_us": 200.0, "client_us": 150.0},
    "kafka": {"produce_broker_us": 10.0, "produce_client_us": 20.0, "deliver_broker_us": 1.0, "deliver_client_us": 3.0},
    "mail": {"server_us": 500.0, "client_us": 500.0},
    "decode": {"client_us": 30.0},
}


def test_a_ticket_is_each_part_times_how_often_the_ticket_meets_it() -> None:
    shape = {"posts": 1.0, "transactions": 10.0, "records": 5.0, "deliveries": 30.0, "mails": 2.0}
    ms = compose(PARTS, shape)
    assert ms["HTTP"] == 0.1
    assert ms["PostgreSQL"] == 2.0
    assert ms["database client"] == 1.5
    assert ms["Kafka broker"] == 0.08  # 5 x 10 + 30 x 1 us
    assert ms["Kafka clients"] == 0.19  # 5 x 20 + 30 x 3 us
    assert ms["signature and decode"] == 0.9
    assert ms["SMTP"] == 2.0
    assert ms["floor"] == 6.77


def test_deliveries_weigh_on_what_each_consumer_pays_only() -> None:
    fewer = compose(PARTS, SHAPE | {"deliveries": 10.0})
    more = compose(PARTS, SHAPE | {"deliveries": 40.0})
    changed = {k for k in more if more[k] != fewer[k]}
    assert changed == {"Kafka broker", "Kafka clients", "signature and decode", "floor"}
    # each floor is rounded to 0.01 ms
    assert more["floor"] - fewer["floor"] == pytest.approx(30 * (1.0 + 3.0 + 30.0) / 1000, abs=0.02)
