"""Prometheus metrics: HTTP traffic counted by the API, AMI link figures read at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bridge.ami.ports import AmiStats

_AMI_COUNTERS = (
    ("reconnects", "successful AMI logins after the first"),
    ("connect_attempts", "AMI connection attempts"),
    ("events_received", "AMI events received"),
    ("actions_sent", "AMI actions written"),
    ("actions_timed_out", "AMI actions that got no answer in time"),
    ("frames_malformed", "AMI frames skipped as malformed"),
)


class _AmiCollector(Collector):
    """The AMI link of each node, labelled `node` (`default` for a single `ami:` mapping)."""

    def __init__(self, stats: Callable[[], Mapping[str, AmiStats]]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "uapi_ami_connected", "1 while logged in to Asterisk AMI", labels=["node"]
        )
        counters = [
            (name, CounterMetricFamily(f"uapi_ami_{name}", text, labels=["node"]))
            for name, text in _AMI_COUNTERS
        ]
        queue = GaugeMetricFamily(
            "uapi_originate_queue",
            "Originates waiting for their turn (ami.originate_rate)",
            labels=["node"],
        )
        for node, stats in self._stats().items():
            gauge.add_metric([node], int(stats.connected))
            queue.add_metric([node], stats.originate_queue)
            for name, family in counters:
                family.add_metric([node], getattr(stats, name))
        yield gauge
        yield queue
        for _, family in counters:
            yield family


class LiveStats(Protocol):
    """What the live stream hub counts."""

    clients: int
    events_sent: int
    events_dropped: int
    overflows: int
    refused: int


class _LiveCollector(Collector):
    def __init__(self, stats: Callable[[], LiveStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        yield GaugeMetricFamily(
            "uapi_stream_clients", "live event streams open", value=stats.clients
        )
        for name, text in (
            ("events_sent", "stream events written to clients"),
            ("events_dropped", "stream events dropped for clients that could not keep up"),
            ("overflows", "streams closed because their queue overflowed"),
            ("refused", "streams refused at stream.max_clients"),
        ):
            yield CounterMetricFamily(f"uapi_stream_{name}", text, value=getattr(stats, name))


class _CallsCollector(Collector):
    """The live calls each node's tracker follows, labelled `node`."""

    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "uapi_calls_live", "live calls followed from AMI events", labels=["node"]
        )
        for node, count in self._counts().items():
            gauge.add_metric([node], count)
        yield gauge


class _WebhooksCollector(Collector):
    """Registrations the webhook dispatcher disabled, by cause (`failing`, `gone`)."""

    def __init__(self, disabled: Callable[[], Mapping[str, int]]) -> None:
        self._disabled = disabled

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "uapi_webhook_registrations_disabled",
            "PhoneCallEvent registrations disabled by the bridge (failing for "
            "webhooks.disable_after, or 410 Gone)",
            labels=["cause"],
        )
        for cause in ("failing", "gone"):
            family.add_metric([cause], self._disabled().get(cause, 0))
        yield family


class Metrics:
    """One registry per bridge, so tests and several bridges in one process do not collide."""

    def __init__(self, ami_stats: Callable[[], Mapping[str, AmiStats]]) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "uapi_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "uapi_http_request_duration_seconds",
            "HTTP request latency by route",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.limited = Counter(
            "uapi_limited",
            "requests refused for a limit (requests, calls, max_calls, originate_queue), by app",
            ["app", "limit"],
            registry=self.registry,
        )
        self.registry.register(_AmiCollector(ami_stats))
        self.config_reloads = Counter(
            "uapi_config_reloads",
            "config reloads (SIGHUP) by result",
            ["result"],
            registry=self.registry,
        )
        for result in ("ok", "failed"):
            self.config_reloads.labels(result)

    def add_live(self, stats: Callable[[], LiveStats]) -> None:
        """Reports the live stream hub's figures (once per registry)."""
        self.registry.register(_LiveCollector(stats))

    def add_calls(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """Reports each node's live calls (once per registry)."""
        self.registry.register(_CallsCollector(counts))

    def add_webhooks(self, disabled: Callable[[], Mapping[str, int]]) -> None:
        """Reports the webhook dispatcher's figures (once per registry)."""
        self.registry.register(_WebhooksCollector(disabled))

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_latency.labels(route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
