"""Sends the outbox: per-receiver worker pools, retried by the policy, logged per attempt.

The tracker's effects arrive through `sink` (synchronous, inside the AMI reader): what they
fire is queued in memory, written to the outbox by one task, and only then sent. A restart
(even after SIGKILL) finds every delivery that was not acknowledged still pending. Every
delivery is signed with its registration's secret (Standard Webhooks). A receiver's pool
(queue and workers) goes away after `IDLE` seconds without work; caches are bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import structlog
from yarl import URL

from bridge.domain.model import Effect
from bridge.domain.phonecallevents import TYPE_NAMES, Fired, charged, event_type, fired
from bridge.domain.views import iso
from bridge.errors import BridgeError
from bridge.store.hooks import ENABLED, Delivery, Outbox, Queued, Registration, Registrations
from bridge.supervisor import Loop, Spawn
from bridge.webhooks import signing
from bridge.webhooks.guard import BlockedAddress, GuardedResolver, Network, url_problem
from bridge.webhooks.policy import Backoff, Decision, decide, unhealthy
from bridge.webhooks.settings import WebhooksConfig

log = structlog.get_logger("bridge.webhooks")
BATCH = 256  # deliveries in flight at most (taken from the outbox as room frees up)
RESULTS_DELAY = 0.02  # seconds results may wait to be written together
IDLE = 60.0  # seconds a receiver's worker waits for work before it ends
CACHED_URLS = 4096  # URLs whose guard verdict and receiver are remembered
READ_CHUNK = 16 * 1024
RATE_WAIT = 1.0  # seconds a worker waits for a maxRate slot; later ones go back to the outbox


@dataclass
class _Pool:
    """One receiver's queue and the workers (at most `per_receiver`) taking from it."""

    queue: asyncio.Queue[Delivery] = field(default_factory=asyncio.Queue)
    workers: set[asyncio.Task[None]] = field(default_factory=set)


class Dispatcher:
    def __init__(
        self,
        config: WebhooksConfig,
        registrations: Registrations,
        outbox: Outbox,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.registrations = registrations
        self.outbox = outbox
        self.clock = clock
        self.idle = IDLE
        self.backoff = Backoff(config.backoff_min, config.backoff_max, config.max_attempts)
        self._fired: asyncio.Queue[list[Queued]] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._taken = 0  # deliveries claimed from the outbox and not finished yet
        self._busy: set[asyncio.Task[None]] = set()  # workers in the middle of an attempt
        self._pools: dict[str, _Pool] = {}  # per receiver (host:port), while it has work
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        # Attempt results are written in batches (one transaction for many).
        self._results: list[tuple[Delivery, dict[str, Any], str, float]] = []
        self._results_ready = asyncio.Event()
        self._recorder: asyncio.Task[None] | None = None
        self._writing: asyncio.Future[None] | None = None  # the batch being written, if any
        # Whether a registration fires (its extension and app are in the directory now); one
        # that does not stays stored and fires again once they are back (bridge.reload).
        self.fires: Callable[[Registration], bool] = lambda _reg: True
        # per maxRate registration: when its next send may start, who waits for it
        self._next_send: dict[str, float] = {}
        self._waiting: dict[str, int] = {}
        self._rate_locks: dict[str, asyncio.Lock] = {}
        self.disabled: dict[str, int] = {}  # registrations this bridge disabled, per reason

    def apply(self, config: WebhooksConfig) -> None:
        """Reload: these settings from the next attempt on (`allow_networks` is the HTTP
        client's resolver: the caller keeps the running one)."""
        self.config = config
        self.backoff = Backoff(config.backoff_min, config.backoff_max, config.max_attempts)

    # -- intake (synchronous: called with the tracker's effects) -----------------------------

    def sink(self, effects: list[Effect]) -> None:
        rows: list[Queued] = []
        for effect in effects:
            kind = event_type(effect)
            regs = self._firing(effect.party or "", kind) if kind is not None else []
            due = fired(effect) if regs else None  # parameters only for someone listening
            if due is not None:
                rows.extend(_queued(reg, due) for reg in regs)
            extra = charged(effect)  # a callback / conference extension's own events
            if extra is not None:
                rows.extend(
                    _queued(reg, extra) for reg in self._firing(extra.extension, extra.type)
                )
        if rows:
            self._fired.put_nowait(rows)

    def _firing(self, extension: str, kind: int) -> list[Registration]:
        """The registrations an event of `kind` on `extension` is queued for (enabled ones, and
        those the bridge keeps disabled, as `skipped`), less those whose extension or app a
        reload removed."""
        regs = self.registrations.listening(extension, kind)
        return [r for r in regs if self.fires(r)] if regs else regs

    # -- life cycle -------------------------------------------------------------------------

    async def start(self, spawn: Spawn | None = None) -> None:
        """Releases what a previous run left `sending`, then starts the outbox writer, the
        dispatch loop and the result recorder (through `spawn`, a supervisor's, if given)."""

        def run(name: str, loop: Loop) -> asyncio.Task[None]:
            return spawn(name, loop) if spawn else asyncio.create_task(loop(), name=name)

        released = await self.outbox.release()
        if released:
            log.info("webhooks.resumed", deliveries=released)
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self.config.allow_networks), limit=100, force_close=False
        )
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        self._tasks = [
            run("webhooks-outbox", self._write),
            run("webhooks-dispatch", self._dispatch),
        ]
        self._recorder = run("webhooks-results", self._record_results)

    async def stop(self) -> None:
        """No new attempts; in-flight ones get `shutdown_grace`; the rest is pending again."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._flush()
        pools = list(self._pools.values())
        for pool in pools:  # not started: they stay `sending`, then pending
            while not pool.queue.empty():
                pool.queue.get_nowait()
        busy = list(self._busy)
        if busy:
            await asyncio.wait(busy, timeout=self.config.shutdown_grace)
        workers = [w for pool in pools for w in pool.workers]
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if self._recorder is not None:
            self._recorder.cancel()
            await asyncio.gather(self._recorder, return_exceptions=True)
        if self._writing is not None:  # a batch the recorder had taken: it must land
            await asyncio.gather(self._writing, return_exceptions=True)
        await self._write_results()
        try:
            await self.outbox.release_mine()
        except BridgeError:  # their leases run out instead
            log.exception("webhooks.outbox.release_failed")
        if self._session is not None:
            await self._session.close()
        log.info("webhooks.stopped", unfinished=len(busy))

    async def _flush(self) -> None:
        while not self._fired.empty():
            await self.outbox.add(self._fired.get_nowait(), self.clock())

    async def _write(self) -> None:
        while True:
            rows = await self._fired.get()
            while not self._fired.empty():
                rows += self._fired.get_nowait()
            try:
                added = await self.outbox.add(rows, self.clock())
            except BridgeError:  # keep them in memory and try again
                log.exception("webhooks.outbox.store_failed", deliveries=len(rows))
                self._fired.put_nowait(rows)
                await asyncio.sleep(1.0)
                continue
            log.debug("webhooks.queued", deliveries=added)
            self._wake.set()

    async def _dispatch(self) -> None:
        while not self._stopping:
            try:
                wait = await self._dispatch_due()
            except BridgeError:
                log.exception("webhooks.outbox.read_failed")
                wait = 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()

    async def _dispatch_due(self) -> float:
        """Hands what is due to the receivers' workers; returns how long to wait next."""
        room = BATCH - self._taken  # no point claiming more than the workers can take
        taken = await self.outbox.take(self.clock(), room) if room > 0 else []
        self._taken += len(taken)
        for delivery in taken:
            self._queue(delivery).put_nowait(delivery)
        if room > 0 and len(taken) < room:  # all that is due runs: when is the next one?
            nxt = await self.outbox.next_due()
            return 1.0 if nxt is None else min(1.0, max(0.01, nxt - self.clock()))
        return 1.0  # full: finishing attempts wake us up

    async def _record_results(self) -> None:
        while True:
            await self._results_ready.wait()
            await asyncio.sleep(RESULTS_DELAY)  # gather more: each write is a thread hop
            self._results_ready.clear()
            await self._write_results()

    async def _write_results(self) -> None:
        batch, self._results = self._results, []
        if not batch:
            return
        # Shielded: cancelling the recorder (stop) must not drop a batch it took, or rows that
        # were delivered go back to pending and are sent again after the restart.
        self._writing = asyncio.ensure_future(self.outbox.record(batch))
        try:
            await asyncio.shield(self._writing)
        except BridgeError:  # the rows stay `sending`: sent again after the next start
            log.exception("webhooks.results.store_failed", deliveries=len(batch))
            return
        if any(state != "failed" for _, _, state, _ in batch):
            self._wake.set()  # a retry, or an ordered successor, may be due now
        for event_id in {d.event_id for d, _, state, _ in batch if state == "failed"}:
            try:
                await self._check_health(event_id)
            except BridgeError:
                log.exception("webhooks.health.failed", event_id=event_id)

    async def _check_health(self, event_id: str) -> None:
        """Disables a registration whose deliveries all failed for `disable_after`."""
        reg = self.registrations.by_id.get(event_id)
        if reg is None or reg.status != ENABLED:
            return
        first, given_up = await self.outbox.health(event_id, reg.health_from)
        now, cfg = self.clock(), self.config
        log.debug(
            "webhooks.health.checked",
            event_id=event_id,
            given_up=given_up,
            failing_for=None if first is None else round(now - first),
        )
        if first is not None and unhealthy(
            first, given_up, now, after=cfg.disable_after, min_failures=cfg.disable_min_failures
        ):
            await self._disable(
                reg,
                "failing",
                (
                    f"every delivery failed since {iso(first)} ({given_up} given up, none "
                    f"delivered); disabled {iso(now)}"
                ),
            )

    async def _disable(self, reg: Registration, kind: str, reason: str) -> None:
        if await self.registrations.disable(reg.id, iso(self.clock()), reason):
            self.disabled[kind] = self.disabled.get(kind, 0) + 1
            log.warning(
                "webhooks.registration.disabled",
                event_id=reg.id,
                app=reg.app,
                extension=reg.extension,
                type=TYPE_NAMES.get(reg.type),
                cause=kind,
                reason=reason,
            )

    def _queue(self, delivery: Delivery) -> asyncio.Queue[Delivery]:
        """The queue of the delivery's receiver, with `per_receiver` workers behind it."""
        reg = self.registrations.by_id.get(delivery.event_id)
        key = _receiver(reg.url) if reg is not None else ""
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool()
        while len(pool.workers) < self.config.per_receiver:
            pool.workers.add(asyncio.create_task(self._work(key, pool), name=f"webhooks-{key}"))
        return pool.queue

    async def _work(self, key: str, pool: _Pool) -> None:
        me = asyncio.current_task()
        assert me is not None
        try:
            while True:
                try:
                    delivery = await asyncio.wait_for(pool.queue.get(), self.idle)
                except TimeoutError:
                    if pool.queue.empty():
                        return  # idle: the pool shrinks, and goes when its last worker does
                    continue
                self._busy.add(me)
                try:
                    await self._attempt_safely(delivery)
                finally:
                    self._busy.discard(me)
                    self._taken -= 1
                    if self._taken <= BATCH // 2:
                        self._wake.set()  # room for more
        finally:  # no await between the empty queue seen above and this
            pool.workers.discard(me)
            if not pool.workers and self._pools.get(key) is pool:
                del self._pools[key]

    async def _attempt_safely(self, delivery: Delivery) -> None:
        """An attempt; a bug in it is logged and recorded as a failed attempt (the row must
        not stay `sending`)."""
        started = self.clock()
        try:
            await self._attempt(delivery)
        except Exception as exc:
            log.exception("webhooks.attempt.crashed", delivery_id=delivery.id)
            await self._record(
                delivery,
                self.registrations.by_id.get(delivery.event_id),
                None,
                f"crashed: {type(exc).__name__}",
                Decision("failed"),
                started=started,
            )

    # -- one attempt ------------------------------------------------------------------------

    async def _attempt(self, delivery: Delivery) -> None:
        reg = self.registrations.by_id.get(delivery.event_id)
        started = self.clock()
        if reg is None:
            await self._record(
                delivery, reg, None, "registration deleted", Decision("failed"), started=started
            )
            return
        if reg.status != ENABLED:  # kept for `recover` once it is enabled again
            await self.outbox.skip([delivery], started)
            log.info("webhook.delivery.skipped", delivery_id=delivery.id, event_id=reg.id)
            return
        if not await self._rate_slot(reg, delivery):
            return
        status, retry_after, error = await self._send(reg, delivery)
        if error is not None and error.startswith("refused:"):
            decision = Decision("failed")  # the SSRF guard: retrying cannot help
        else:
            decision = decide(
                delivery.attempts + 1, status, retry_after, self.backoff, now=self.clock()
            )
        if decision.outcome == "gone":
            await self._disable(
                reg, "gone", f"the receiver answered 410 Gone; disabled {iso(self.clock())}"
            )
        await self._record(delivery, reg, status, error, decision, started=started)

    async def _rate_slot(self, reg: Registration, delivery: Delivery) -> bool:
        """Waits its turn under the registration's maxRate (sends start at least 1/maxRate
        apart); a turn further away than RATE_WAIT puts the delivery back in the outbox until
        then (False)."""
        if reg.max_rate <= 0:
            return True
        gap, now = 1.0 / reg.max_rate, self.clock()
        ahead = self._waiting.get(reg.id, 0)
        turn = max(now, self._next_send.get(reg.id, 0.0)) + ahead * gap
        if turn - now > RATE_WAIT:
            await self.outbox.postpone(delivery, turn)
            return False
        self._waiting[reg.id] = ahead + 1
        try:
            async with self._rate_locks.setdefault(reg.id, asyncio.Lock()):
                wait = self._next_send.get(reg.id, 0.0) - self.clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._next_send[reg.id] = self.clock() + gap
        finally:
            self._waiting[reg.id] -= 1
        return True

    async def _send(
        self,
        reg: Registration,
        delivery: Delivery,
    ) -> tuple[int | None, str | None, str | None]:
        """(HTTP status, Retry-After, error) of one request; redirects are not followed."""
        problem = _url_problem(reg.url, self.config.allow_networks)
        if problem is not None:
            return None, None, f"refused: {problem}"
        payload, now = delivery.payload, self.clock()
        try:
            headers = {
                **dict(reg.headers),
                **signing.headers(reg.signing_secrets(now), delivery.id, int(now), payload),
            }
        except ValueError:
            return None, None, "refused: the registration has no valid whsec_ secret"
        kwargs: dict[str, Any] = {
            "headers": headers,
            "allow_redirects": False,
            "timeout": aiohttp.ClientTimeout(total=self.config.timeout),
        }
        if reg.method == 1:
            url = reg.url
            kwargs["data"] = payload
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            url = f"{reg.url}{'&' if urlsplit(reg.url).query else '?'}{payload}"
        assert self._session is not None
        try:  # run by one of the receiver's `per_receiver` workers: that bounds concurrency
            # encoded=True: the query goes out byte for byte as it was signed.
            async with self._session.request(
                "POST" if reg.method == 1 else "GET", URL(url, encoded=True), **kwargs
            ) as resp:
                await self._read_some(resp)
                return resp.status, resp.headers.get("Retry-After"), None
        except BlockedAddress as exc:
            return None, None, f"refused: {exc}"
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            return None, None, f"{type(exc).__name__}: {exc}"[:300]

    async def _read_some(self, resp: aiohttp.ClientResponse) -> None:
        """Reads at most `max_response_bytes` of the answer; beyond that the connection is
        closed (the rest is never read)."""
        left = self.config.max_response_bytes
        while left > 0:
            chunk = await resp.content.read(min(left, READ_CHUNK))
            if not chunk:
                return
            left -= len(chunk)
        if not resp.content.at_eof():
            resp.close()

    async def _record(
        self,
        delivery: Delivery,
        reg: Registration | None,
        status: int | None,
        error: str | None,
        decision: Decision,
        *,
        started: float,
    ) -> None:
        now = self.clock()
        duration = round((now - started) * 1000, 2)
        state = (
            "retry"
            if decision.outcome == "retry"
            else ("delivered" if decision.outcome == "delivered" else "failed")
        )
        attempt = {"at": now, "status": status, "duration_ms": duration, "error": error}
        # Written in the next batch; until then the row stays `sending`, so it cannot be taken
        # again, and a crash before the write only means it is sent once more (at least once).
        self._results.append((delivery, attempt, state, now + decision.delay))
        self._results_ready.set()
        event = {
            "delivered": "webhook.delivery.succeeded",
            "retry": "webhook.delivery.retrying",
        }.get(decision.outcome, "webhook.delivery.failed")
        fields: dict[str, Any] = {
            "delivery_id": delivery.id,
            "event_id": delivery.event_id,
            "type": TYPE_NAMES.get(reg.type) if reg else None,
            "call_id": delivery.call_id,
            "status": status,
            "duration_ms": duration,
            "attempt": delivery.attempts + 1,
        }
        if decision.outcome == "delivered":
            log.info(event, **fields)
            return
        if decision.outcome == "retry":
            fields["retry_in"] = round(decision.delay, 2)
        if decision.outcome == "gone":
            fields["registration"] = "disabled (410 Gone)"
        log.warning(event, error=error, **fields)


@functools.lru_cache(maxsize=CACHED_URLS)
def _url_problem(url: str, allow: Sequence[Network]) -> str | None:
    return url_problem(url, allow)


@functools.lru_cache(maxsize=CACHED_URLS)
def _receiver(url: str) -> str:
    """`host:port` of a URL (most deliveries repeat a URL)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # not sent anyway: the guard refuses it
        return ""
    return f"{parts.hostname}:{port}"


def _queued(reg: Registration, due: Fired) -> Queued:
    """The outbox row `due` makes for `reg` (skipped while the bridge keeps it disabled)."""
    ordering = f"{reg.app} {reg.url} {due.call_id}" if reg.ordered else ""
    return Queued(
        reg.id, f"{due.key}:{reg.id}", due.params, reg.app, due.key, ordering, reg.status != ENABLED
    )
