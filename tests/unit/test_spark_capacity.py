"""What a standalone cluster can take, from its master's state: the driver a job asks
for, whether any worker could ever hold it, and how many more fit now."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mrsjobs.domain.clusters import ClusterConfig, ClusterEngine
from mrsjobs.domain.errors import InvalidParameter
from mrsjobs.engines.spark_standalone.capacity import (
    Capacity,
    Demand,
    check_fits,
    driver_demand,
    memory_mb,
    never_fits,
    placed,
)
from mrsjobs.engines.spark_standalone.master import parse_state
from tests.support.waiting import free_port, wait_for


def _worker(n: int, cores: int, used: int, memory: int, memory_used: int,
            state: str = "ALIVE") -> dict[str, Any]:
    return {"id": f"worker-{n}", "host": f"10.0.0.{n}", "port": 7000 + n,
            "webuiaddress": f"http://10.0.0.{n}:8081", "state": state, "cores": cores,
            "coresused": used, "memory": memory, "memoryused": memory_used}


def _state(*workers: dict[str, Any]) -> Any:
    return parse_state({"url": "spark://10.0.0.1:7077", "status": "ALIVE",
                        "workers": list(workers), "activeapps": [], "completedapps": [],
                        "activedrivers": [], "completeddrivers": []})


@pytest.mark.parametrize(("text", "mb"), [("512m", 512), ("2g", 2048), ("1G", 1024),
                                          ("700", 700), ("2048k", 2), ("1gb", 1024)])
def test_memory_sizes_as_spark_reads_them(text: str, mb: int) -> None:
    assert memory_mb(text) == mb


@pytest.mark.parametrize("text", ["", "lots", "1.5g", "-1g", "1x"])
def test_what_is_not_a_memory_size(text: str) -> None:
    with pytest.raises(ValueError, match="memory size"):
        memory_mb(text)


def test_the_driver_a_job_asks_for() -> None:
    assert driver_demand([], {}) == Demand(1, 1024)
    assert driver_demand([], {"spark.driver.memory": "2g", "spark.driver.cores": "2"}) == \
        Demand(2, 2048)
    # The arguments win over the properties, as spark-submit has it.
    args = ["--driver-memory", "512m", "--conf", "spark.driver.cores=3", "--class", "A",
            "app.jar", "--driver-memory", "9g"]  # the last is the app's own argument
    assert driver_demand(args, {"spark.driver.memory": "4g"}) == Demand(3, 512)
    with pytest.raises(ValueError, match=r"spark\.driver\.cores"):
        driver_demand(["--driver-cores", "many", "app.jar"], {})
    with pytest.raises(ValueError, match="at least 1"):
        driver_demand([], {"spark.driver.cores": "0"})


def test_a_driver_no_worker_could_hold() -> None:
    state = _state(_worker(1, 2, 2, 1024, 1024), _worker(2, 4, 0, 512, 0),
                   _worker(3, 64, 0, 65536, 0, state="DEAD"))
    assert never_fits(state, Demand(2, 1024)) is None  # worker 1, once it is free
    reason = never_fits(state, Demand(1, 2048))
    assert reason is not None and "largest worker has 4 core(s) and 1024 MB" in reason
    assert never_fits(state, Demand(8, 256)) is not None  # the dead worker does not count
    assert never_fits(_state(), Demand(64, 65536)) is None  # no worker alive: not known


def test_how_many_more_drivers_fit_now() -> None:
    state = _state(_worker(1, 4, 1, 4096, 1024), _worker(2, 2, 2, 2048, 0),
                   _worker(3, 8, 0, 1536, 0))
    # 3 on worker 1 (cores and memory), none on the busy worker 2, 1 on worker 3.
    assert placed(state, [], [Demand()] * 9) == 4
    assert placed(state, [], [Demand(2, 512)] * 9) == 1 + 0 + 3


@pytest.fixture
def master_ui() -> Iterator[Callable[[dict[str, Any]], str]]:
    """A master's web UI on loopback serving the state a test gives; its address."""
    served: dict[str, Any] = {}

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(served).encode()
            self.send_response(200 if self.path == "/json/" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def serve(state: dict[str, Any]) -> str:
        served.clear()
        served.update(state)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    server.shutdown()
    server.server_close()
    thread.join(5)


def _raw(*workers: dict[str, Any]) -> dict[str, Any]:
    return {"url": "spark://10.0.0.1:7077", "status": "ALIVE", "workers": list(workers),
            "activeapps": [], "completedapps": [], "activedrivers": [],
            "completeddrivers": []}


def _config(web_url: str) -> ClusterConfig:
    return ClusterConfig(ClusterEngine.SPARK_STANDALONE, "spark://10.0.0.1:7077",
                         "http://10.0.0.1:6066", web_url=web_url)


def test_a_job_that_can_never_run_is_refused_naming_the_field(
        master_ui: Callable[[dict[str, Any]], str]) -> None:
    capacity = Capacity()
    config = _config(master_ui(_raw(_worker(1, 2, 0, 1024, 0))))
    check_fits(capacity, config, ["--driver-memory", "1g", "app.jar"], {})
    with pytest.raises(InvalidParameter, match=r"arguments.*never run.*2048 MB") as caught:
        check_fits(capacity, config, ["--driver-memory", "2g", "app.jar"], {})
    assert caught.value.field == "arguments"
    with pytest.raises(InvalidParameter, match="arguments"):
        check_fits(capacity, config, ["--driver-memory", "lots", "app.jar"], {})
    # A master whose web UI cannot be read refuses nothing.
    check_fits(capacity, _config(f"http://127.0.0.1:{free_port()}"),
               ["--driver-memory", "64g", "app.jar"], {})


def test_queued_drivers_are_placed_in_turn_by_their_own_size() -> None:
    state = _state(_worker(1, 2, 0, 1024, 0), _worker(2, 2, 0, 1024, 0))
    small, default, huge = Demand(1, 512), Demand(), Demand(1, 2048)
    assert placed(state, [], [small] * 5) == 4
    assert placed(state, [], [default] * 3) == 2
    # Oldest first: one that does not fit now holds back the ones after it.
    assert placed(state, [], [small, huge, small]) == 1
    # What was dispatched since the reading is placed first.
    assert placed(state, [default], [default, default]) == 1
    assert placed(state, [small, small], [small, small, small]) == 2


def test_room_counts_drivers_dispatched_since_the_last_reading(
        master_ui: Callable[[dict[str, Any]], str]) -> None:
    capacity = Capacity(ttl_s=3600)
    web_url = master_ui(_raw(_worker(1, 4, 0, 4096, 0)))
    wanted = [Demand()] * 6
    # The first ask starts a reading in the background: no limit known yet.
    first = capacity.free_slots(web_url, wanted)
    assert first in (None, 4)
    wait_for(lambda: capacity.free_slots(web_url, wanted) == 4,
             message="the master's state read")
    capacity.took(web_url, [Demand()] * 3)
    assert capacity.free_slots(web_url, wanted) == 1
    assert capacity.free_slots(web_url, [Demand(1, 512)] * 6) == 1  # one core left
    capacity.took(web_url, [Demand(), Demand(1, 512)])
    assert capacity.free_slots(web_url, wanted) == 0
