"""The background worker: runs queued jobs and delivers webhooks.

Every service process runs one in a thread (``PYOSI_WORKER=0`` turns that off), and ``pyosi
worker`` runs one on its own, e.g. on another machine against the same PostgreSQL database. Work
is leased in the database, so any number of workers can share the queue; a worker that dies
leaves its leases to lapse and others pick the work up.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from pyosi.errors import MediaError, PyosiError
from pyosi.service import batches, jobs, webhooks
from pyosi.service.errors import InvalidRequestError
from pyosi.service.items import UploadContext, create_item

if TYPE_CHECKING:
    from pyosi.service.app import Service

log = logging.getLogger("pyosi.worker")
POLL_SECONDS = 1.0


def run_job(service: Service, job: jobs.Job) -> None:
    """Run one leased job to completion (or record why it failed)."""
    try:
        if job.kind == batches.JOB_KIND:
            result = batches.run_batch(service, job)
            with service.db.engine.begin() as conn:
                jobs.finish(conn, job.id, result)
            return
        if job.kind != "scan":
            raise PyosiError(f"unknown job kind {job.kind!r}")
        payload = job.payload
        data = service.blobs.get(payload["sha256"])
        context = UploadContext.from_json(payload["context"])

        def done(conn: Any, item_id: str) -> None:
            jobs.finish(conn, job.id, {"item_id": item_id})

        item = create_item(
            service.db.engine,
            service.blobs,
            data,
            context,
            service.scan,
            item_id=payload["item_id"],
            stored_sha256=payload["sha256"],
            in_transaction=done,
        )
        # If an earlier run made the item and died before saying so, create_item returned that
        # item without running ``done``: finishing again is harmless.
        with service.db.engine.begin() as conn:
            jobs.finish(conn, job.id, {"item_id": item.id})
    except (InvalidRequestError, MediaError) as e:
        jobs.fail(service.db.engine, job, str(e), retry=False)  # the same input fails again
    except FileNotFoundError as e:
        jobs.fail(
            service.db.engine, job, f"the upload is missing from the blob store: {e}", retry=False
        )
    except Exception as e:  # a crash in one job must not stop the worker
        log.exception("job %s failed", job.id)
        jobs.fail(service.db.engine, job, f"{type(e).__name__}: {e}", retry=True)


def work_once(service: Service, sender: webhooks.Sender) -> int:
    """One round: at most one job, then the due webhook deliveries; returns work done."""
    done = 0
    job = jobs.claim(service.db.engine)
    if job is not None:
        run_job(service, job)
        done += 1
    done += webhooks.deliver_due(service.db.engine, sender)
    return done


class Worker:
    """A worker loop in a daemon thread; ``stop()`` ends it after the current round."""

    def __init__(self, service: Service, sender: webhooks.Sender | None = None) -> None:
        self.service = service
        self.sender = sender or webhooks.HttpSender()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pyosi-worker", daemon=True)

    def start(self) -> Worker:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        if isinstance(self.sender, webhooks.HttpSender):
            self.sender.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = work_once(self.service, self.sender)
            except Exception:  # the database may be briefly unreachable: try again later
                log.exception("worker round failed")
                busy = 0
            if not busy:
                self._stop.wait(POLL_SECONDS)

    def run_forever(self) -> None:
        """Run in the calling thread until interrupted (``pyosi worker``)."""
        try:
            self._run()
        finally:
            if isinstance(self.sender, webhooks.HttpSender):
                self.sender.close()
