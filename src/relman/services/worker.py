"""relman's own worker (the ``local`` executor): claims jobs, runs them, heartbeats.

Several workers (relman replicas) may share one database: a job is claimed by exactly one
(:meth:`JobStore.claim`). A worker that dies mid-job stops heartbeating; at start-up and
every ``stale_after`` seconds each worker marks such jobs ``interrupted`` and fails their
releases with the reason (DESIGN.md §5: "a crash mid-deploy leaves a visible state").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from datetime import timedelta

from relman.deploy.lock import this_machine
from relman.deploy.progress import ProgressCallback
from relman.domain.clock import Clock, utcnow
from relman.domain.errors import RelmanError
from relman.services.pipeline import JobOutcome, PipelineService
from relman.store.jobs import Job, JobStore
from relman.store.seen import SeenStore

log = logging.getLogger("relman.worker")

#: How long processed Telegram update ids and HMAC request ids are remembered: Telegram
#: gives up redelivering an update after 24 hours; an HMAC request is stale after 5 minutes.
SEEN_KEYS_KEPT = timedelta(days=2)


class Worker:
    """Runs queued jobs one at a time.

    ``heartbeat_interval``: seconds between heartbeats of a running job; ``stale_after``:
    seconds without a heartbeat after which another worker declares the job interrupted
    (keep it several heartbeats long); ``poll_interval``: seconds between looks at an
    empty queue; ``seen``: the processed-once keys, pruned after :data:`SEEN_KEYS_KEPT`.
    """

    def __init__(
        self,
        pipeline: PipelineService,
        jobs: JobStore,
        *,
        clock: Clock = utcnow,
        heartbeat_interval: float = 2.0,
        stale_after: float = 15.0,
        poll_interval: float = 0.5,
        seen: SeenStore | None = None,
    ) -> None:
        if stale_after <= heartbeat_interval:
            raise ValueError("stale_after must be longer than heartbeat_interval")
        self._pipeline = pipeline
        self._jobs = jobs
        self._clock = clock
        self._heartbeat_interval = heartbeat_interval
        self._stale_after = stale_after
        self._poll_interval = poll_interval
        self._seen = seen
        # A job whose environment is locked by another deploy is retried this much later.
        self._requeue_delay = max(2.0, poll_interval)
        self.owner = f"{this_machine()}:{os.getpid()}:worker-{uuid.uuid4().hex[:8]}"

    async def recover(self) -> int:
        """Mark jobs whose worker stopped heartbeating as interrupted and fail their
        releases (reason ``interrupted``), and free the locks of runners whose lease ran
        out (:meth:`PipelineService.recover_runners`); returns how many were recovered."""
        cutoff = self._clock() - timedelta(seconds=self._stale_after)
        recovered = 0
        for job in await self._jobs.stale(heartbeat_before=cutoff):
            reason = (
                f"interrupted: worker {job.owner} stopped during the {job.kind.replace('_', ' ')}"
            )
            if not await self._jobs.interrupt(job, at=self._clock(), error=reason):
                continue  # it heartbeated meanwhile, or another replica took care of it
            recovered += 1
            log.warning("job %s of release %s %s", job.id, job.release_id, reason)
            try:
                await self._pipeline.interrupt(job, reason=reason)
            except RelmanError as exc:
                log.warning("job %s: could not fail release %s: %s", job.id, job.release_id, exc)
        return recovered + await self._pipeline.recover_runners()

    async def run_once(self, on_progress: ProgressCallback | None = None) -> JobOutcome | None:
        """Claim and run one queued job; ``None`` when the queue is empty. ``on_progress``
        hears each host's progress while the job deploys.

        If the job stops being ours while it runs (its heartbeats stopped reaching the
        database long enough for another worker to declare it interrupted), the deploy is
        cancelled: the other worker has already failed the release and freed its locks, so
        going on could deploy twice. Raises :class:`StoreUnavailable` when the database
        fails.
        """
        job = await self._jobs.claim(self.owner, at=self._clock())
        if job is None:
            return None
        work = asyncio.create_task(self._pipeline.execute(job, on_progress=on_progress))
        beat = asyncio.create_task(self._heartbeat(job, work))
        try:
            outcome = await work
        except asyncio.CancelledError:
            if not beat.done() or beat.cancelled():
                raise  # we are being stopped, not the job taken away
            log.error("job %s was taken over while it ran; its deploy was cancelled", job.id)
            release = await self._pipeline.release_of(job)
            return JobOutcome(release, False, "job taken over after lost heartbeats")
        finally:
            if not beat.done():
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beat
        now = self._clock()
        if outcome.requeue:
            log.info("job %s waits for its environment: %s", job.id, outcome.error)
            await self._jobs.requeue(
                job.id,
                self.owner,
                not_before=now + timedelta(seconds=self._requeue_delay),
                reason=outcome.error,
            )
        else:
            await self._jobs.finish(job.id, self.owner, ok=outcome.ok, at=now, error=outcome.error)
        return outcome

    async def run_until_idle(self, on_progress: ProgressCallback | None = None) -> list[JobOutcome]:
        """Recover jobs of dead workers, then run jobs until none is queued (``relman
        demo`` and the CLI's ``--run``, whose progress lines ``on_progress`` hears)."""
        await self.recover()
        outcomes = []
        while (outcome := await self.run_once(on_progress)) is not None:
            outcomes.append(outcome)
        return outcomes

    async def run(self, stop: asyncio.Event) -> None:
        """Recover, then run jobs until ``stop`` is set, recovering stale jobs every
        ``stale_after`` seconds. Database outages are logged and retried."""
        loop = asyncio.get_running_loop()
        next_recovery = 0.0
        while not stop.is_set():
            try:
                if loop.time() >= next_recovery:
                    await self.recover()
                    if self._seen is not None:
                        await self._seen.forget_before(self._clock() - SEEN_KEYS_KEPT)
                    next_recovery = loop.time() + self._stale_after
                if await self.run_once() is not None:
                    continue
            except RelmanError as exc:
                log.warning("worker: %s", exc)
            except Exception:  # a bug must not stop the worker: log it, keep serving
                log.exception("worker: unexpected error")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._poll_interval)

    async def _heartbeat(self, job: Job, work: asyncio.Task[JobOutcome]) -> None:
        """Heartbeat ``job`` until cancelled; cancel ``work`` once the job is not ours."""
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            try:
                if not await self._jobs.heartbeat(job.id, self.owner, at=self._clock()):
                    log.warning("job %s is no longer ours (marked interrupted)", job.id)
                    work.cancel()
                    return
            except RelmanError as exc:
                log.warning("heartbeat of job %s failed: %s", job.id, exc)
