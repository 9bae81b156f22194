"""Byte ranges of a job log read as ``read_log`` shows it, capped or not, finished or
still being written, reading only the bytes asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from mrsjobs.engines.local.shim import CappedLog, read_log, tail_parts
from mrsjobs.service.logs import complete_utf8, read_range

CAP = 1000


def lines(start: int, stop: int) -> bytes:
    return b"".join(b"line %05d\n" % i for i in range(start, stop))


def ranges(path: Path) -> None:
    """Every slice read_range gives equals the same slice of read_log's view."""
    whole = read_log(str(path)) or b""
    assert read_range(path, 0, 1 << 20) == (whole, len(whole))
    for offset in (0, 1, 499, 500, 501, len(whole) // 2, len(whole) - 1, len(whole) + 3):
        for limit in (1, 7, 100, 10_000):
            assert read_range(path, offset, limit) == (whole[offset:offset + limit],
                                                        len(whole)), (offset, limit)


def test_a_missing_log_is_empty(tmp_path: Path) -> None:
    assert read_range(tmp_path / "stdout.log", 0, 100) == (b"", 0)
    assert read_range(tmp_path / "stdout.log", 50, 100) == (b"", 0)


@pytest.mark.parametrize("written", [300, 700, 2_000, 20_000])
def test_ranges_of_a_capped_log_while_written_and_when_finished(tmp_path: Path,
                                                                 written: int) -> None:
    path = tmp_path / "stdout.log"
    log = CappedLog(str(path), "stdout", CAP)
    data = lines(0, written // 11 + 1)[:written]
    for i in range(0, len(data), 37):
        log.write(data[i:i + 37])
    if written > 5 * CAP:
        assert tail_parts(str(path))[0][0] > 0  # parts were dropped: a marker shows
    ranges(path)
    log.close()
    assert tail_parts(str(path)) == []
    ranges(path)


def test_follow_chunks_end_on_whole_characters() -> None:
    text = "añ€😀".encode()
    assert complete_utf8(text) == len(text)
    for cut in range(len(text)):
        whole = complete_utf8(text[:cut])
        text[:whole].decode()  # never raises
        assert cut - whole < 4
    assert complete_utf8(b"\xff\xfe") == 2  # not UTF-8 at all: nothing is held back
