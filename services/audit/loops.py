"""The auditor's background loop: sign the head of every partition that moved, when the log goes quiet."""

from __future__ import annotations

from services.audit.handlers import Auditor
from shared.platform.runtime import every


async def checkpoint_loop(auditor: Auditor) -> None:
    await every(
        auditor.settings.audit_checkpoint_interval_s,
        auditor.checkpoint_quiet_partitions,
        "checkpoints",
        wait_first=True,
    )
