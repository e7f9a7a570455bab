"""Waiting for a postgres_cdc source process to stream from its replication slot."""

from __future__ import annotations

import psycopg

from seamline.stack.processes import Supervisor
from tests.conftest import wait_until


def wait_streaming(admin_dsn: str, slot: str, supervisor: Supervisor | None = None) -> None:
    """Until a walsender streams from the slot: the snapshot is behind the source, every change from now on is
    read from the slot (what was overwritten before the snapshot never is, by design). The slot is active while
    it is being created too, waiting for the server's running transactions (other tests' too), so the walsender
    must be past START_REPLICATION: in state streaming. With `supervisor`, fail at once if its source exited."""
    with psycopg.connect(admin_dsn, autocommit=True) as admin:

        def streaming() -> bool:
            if supervisor is not None:
                assert not supervisor.crashed(), supervisor.log_tail("source")
            row = admin.execute(
                "SELECT 1 FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid "
                "WHERE s.slot_name = %s AND r.state = 'streaming'",
                (slot,),
            ).fetchone()
            return row is not None

        wait_until(streaming, 60, "the source to stream from its slot", interval=0.2)
