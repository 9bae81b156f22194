"""What the service reads of a Spark driver to find its UI, and how it passes the UI's
answers on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from mrsjobs.api.spark_ui import page_policy, returned_headers, upstream_target
from mrsjobs.engines.local.commands import spark_submit_args, ui_conf
from mrsjobs.engines.local.ui import SparkUi, _port_from_log, app_id_of, ui_port

# As Spark 4.3's driver logs it at INFO (its default log4j profile).
LOG = (b"26/12/02 17:26:43 INFO JettyUtils: Start Jetty 127.0.0.1:0 for SparkUI\n"
       b"26/12/02 17:26:44 INFO Utils: Successfully started service 'sparkDriver' on "
       b"port 41489.\n"
       b"26/12/02 17:26:44 INFO Utils: Successfully started service 'SparkUI' on port "
       b"38123.\n")
ORIGIN = "http://127.0.0.1:38123"
BASE = "/v2/p/clusters/c/job-executions/j/spark-ui"


def test_the_ui_port_is_the_sparkui_service_line_not_the_drivers() -> None:
    assert ui_port(LOG) == 38123
    assert ui_port(LOG.split(b"\n")[1]) is None  # the driver's RPC port is not the UI's
    assert ui_port(b"Successfully started service 'SparkUI' on port 0.") is None
    assert ui_port(b"Successfully started service 'SparkUI' on port 99999.") is None


def test_the_port_line_is_found_across_reads(tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"
    cut = LOG.index(b"on port 38") + 4
    log.write_bytes(b"an earlier attempt's line: Successfully started service 'SparkUI' "
                    b"on port 4040.\n")
    offset = log.stat().st_size

    async def grow() -> int | None:
        found = asyncio.ensure_future(_port_from_log(log, offset, 0.01))
        with open(log, "ab") as f:
            f.write(LOG[:cut])
        await asyncio.sleep(0.05)
        assert not found.done()
        with open(log, "ab") as f:
            f.write(LOG[cut:])
        return await asyncio.wait_for(found, 5)

    # From where this attempt's log began: the earlier attempt's port is not taken.
    assert asyncio.run(grow()) == 38123


def test_the_application_id_is_a_local_drivers() -> None:
    assert app_id_of(b'[{"id": "local-1764696404123", "name": "x"}]') == "local-1764696404123"
    for listing in (b"[]", b"{}", b"not json", b'[{"id": "app-1"}]', b'[{"id": 5}]',
                    b'[{"id": "local-1\\n<script>"}]'):
        assert app_id_of(listing) is None, listing


def test_the_record_is_read_back(tmp_path: Path) -> None:
    assert SparkUi.load(tmp_path) is None
    SparkUi(38123, "local-1", "/run/netns/p").save(tmp_path)
    assert SparkUi.load(tmp_path) == SparkUi(38123, "local-1", "/run/netns/p")
    (tmp_path / "ui.json").write_text("{")
    assert SparkUi.load(tmp_path) is None


def test_the_ui_conf_wins_over_the_loopback_default() -> None:
    out = spark_submit_args(["app.py"], master="local[2]", properties={}, defaults={},
                            ui=ui_conf(BASE))
    confs = [out[i + 1] for i, a in enumerate(out) if a == "--conf"]
    assert "spark.ui.enabled=false" not in confs
    assert {"spark.ui.enabled=true", "spark.ui.port=0", "spark.ui.killEnabled=false",
            f"spark.ui.proxyBase={BASE}", "spark.driver.bindAddress=127.0.0.1"} <= set(confs)


@pytest.mark.parametrize(("raw", "query", "upstream"), [
    (BASE.encode() + b"/", b"", b"/"),
    (BASE.encode(), b"", b"/"),
    (BASE.encode() + b"/stages/stage/", b"id=0&attempt=0", b"/stages/stage/?id=0&attempt=0"),
    (BASE.encode() + b"/static/a%20b.css", b"", b"/static/a%20b.css"),
])
def test_the_path_after_spark_ui_is_the_uis(raw: bytes, query: bytes, upstream: bytes) -> None:
    assert upstream_target(raw, query) == upstream


@pytest.mark.parametrize(("location", "shown"), [
    (f"{ORIGIN}/jobs/", f"{BASE}/jobs/"),            # the root's redirect ignores the base
    (f"{ORIGIN}{BASE}/jobs/", f"{BASE}/jobs/"),      # one that heeds it
    (f"{BASE}/stages/", f"{BASE}/stages/"),
    ("/jobs/", f"{BASE}/jobs/"),
    # A job's UI cannot make the service send its callers elsewhere.
    ("https://elsewhere.example/x", f"{BASE}/"),
    ("//elsewhere.example/x", f"{BASE}/"),
    ("jobs/", "jobs/"),
])
def test_a_location_on_the_ui_becomes_one_under_the_route(location: str, shown: str) -> None:
    out = returned_headers(httpx.Headers({"location": location}), ORIGIN, BASE)
    assert out["location"] == shown


def test_only_content_headers_are_passed_back() -> None:
    out = returned_headers(httpx.Headers({
        "content-type": "text/html", "set-cookie": "a=b", "server": "Jetty",
        "transfer-encoding": "chunked", "etag": "x"}), ORIGIN, BASE)
    assert out["content-type"] == "text/html" and out["etag"] == "x"
    assert not {"set-cookie", "server", "transfer-encoding"} & set(out)
    assert out["X-Content-Type-Options"] == "nosniff"


def test_the_page_policy_names_the_jobs_ui_only() -> None:
    policy = page_policy("127.0.0.1:9529", BASE + "/")
    assert f"connect-src 127.0.0.1:9529{BASE}/;" in policy
    assert "'self'" not in policy.replace("frame-ancestors 'self'", "")
    # A Host header cannot add to the policy.
    assert "*" not in page_policy("x; connect-src *", BASE + "/")
