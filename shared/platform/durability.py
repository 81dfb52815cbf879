"""Which commits wait for the disk (docs/architecture.md, "Durability").

Anything that answers outside Mesa (a command's 201, SMTP's 250) commits synchronously: the
server's default. A consumer's transaction does not wait: all it writes comes from the log, which
a crash makes it read again from the position stored with it. Unless it put events in the outbox:
a relay may publish those as soon as they are visible, so that commit waits for the disk, and
what the log carries is never taken back by a crash. PostgreSQL makes a synchronous commit visible
only once it is flushed, so whatever a relay can see is on disk.

Both settings ride in statements the transaction runs anyway (no round trip of their own), and
hold whichever comes first: the claim that makes a consumer's commit lazy leaves it synchronous
once the transaction has written the outbox.
"""

from __future__ import annotations

OUTBOX_WRITTEN = "mesa.outbox_written"  # set for the transaction by the statement that writes the outbox

# in a consumer's claim: lazy, unless this transaction has already written the outbox
LAZY_COMMIT = (
    "set_config('synchronous_commit',"
    f" CASE current_setting('{OUTBOX_WRITTEN}', true) WHEN 'yes' THEN 'on' ELSE 'off' END, true)"
)
# in the statement that writes the outbox: this transaction's commit waits for the disk
DURABLE_COMMIT = f"set_config('synchronous_commit', 'on', true), set_config('{OUTBOX_WRITTEN}', 'yes', true)"
