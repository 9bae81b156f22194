"""The store's job counts as metrics: read at most once per TTL, queue depth summed."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from mrsjobs.domain.jobs import PRE_LAUNCH
from mrsjobs.telemetry.instruments import StateCounts

ROWS = [("p1", "c1", "ACCEPTED", 3), ("p1", "c1", "SUBMITTED", 2), ("p1", "c1", "RUNNING", 4),
        ("p1", "c1", "FINISHED", 10), ("p2", "c2", "FINISHED", 1)]


def test_counts_are_read_once_per_ttl() -> None:
    reads: list[int] = []
    now = [100.0]

    def read() -> list[tuple[str, str, str, int]]:
        reads.append(1)
        return ROWS

    counts = StateCounts(read, [s.value for s in PRE_LAUNCH], ttl_s=2.0,
                         clock=lambda: now[0])
    registry = CollectorRegistry()
    registry.register(counts)
    for _ in range(5):
        generate_latest(registry)
    assert len(reads) == 1
    now[0] += 2.0
    text = generate_latest(registry).decode()
    assert len(reads) == 2
    assert 'mrsjobs_jobs{cluster="c1",project="p1",state="RUNNING"} 4.0' in text
    assert 'mrsjobs_queue_depth{cluster="c1",project="p1"} 5.0' in text
    assert 'mrsjobs_queue_depth{cluster="c2",project="p2"} 0.0' in text


def test_no_ttl_reads_every_scrape() -> None:
    reads: list[int] = []
    counts = StateCounts(lambda: reads.append(1) or ROWS, ["ACCEPTED"], ttl_s=0)
    list(counts.collect())
    list(counts.collect())
    assert len(reads) == 2
