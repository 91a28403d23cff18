"""The worker's side of the tracking API: drain the inbox (ADR 20; wired in patron.wiring)."""

from __future__ import annotations

from patron import db
from patron.events import inbox, service


def drain_inbox() -> int:
    """Apply one transaction's worth of accepted requests. Returns how many were applied
    (0 when none waited, or only failing ones: the worker then pauses before trying again).

    When the spool is the main database (PostgreSQL), taking, applying and deleting the rows
    is one transaction. A SQLite store's spool is a file of its own (patron.db): the rows
    are read, applied in the main file's transaction, and deleted after it commits. A crash
    in between applies them again, which adds nothing: every message is stored once by
    messageId, together with everything it causes."""
    if not db.separate_spool():
        result = db.run_transaction(lambda session: service.process_inbox(session))
        return result.batches - result.failed
    with db.spool_unit_of_work(readonly=True) as spool:
        rows = inbox.take(spool)
    if not rows:
        return 0
    outcome = db.run_transaction(lambda session: service.apply_inbox(session, rows))
    with db.spool_unit_of_work() as spool:
        inbox.settle(spool, outcome)
    return outcome.result.batches - outcome.result.failed
