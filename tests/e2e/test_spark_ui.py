"""A running local Spark job's own UI, through the service: tracked, proxied under the
job with the job routes' authentication, and gone with the job."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.server import Server, new_server, stop_server
from tests.support.waiting import wait_for

pytestmark = pytest.mark.spark

PASSWORD = "correct horse battery"
#: A bridge nobody uses for this long is closed.
IDLE_S = 3
CHROMIUM = Path(os.environ.get("MRSJOBS_TEST_CHROMIUM", "/usr/bin/chromium"))

APP = """
import sys, time
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("ui-probe").getOrCreate()
spark.range(100).selectExpr("id % 7 AS k").groupBy("k").count().collect()
open(sys.argv[1], "w").write("up")
time.sleep(600)
"""


@dataclass(frozen=True)
class UiJob:
    server: Server
    job_id: str
    detail: dict[str, object]
    #: A token of another project, and that project's id and cluster.
    other_token: str
    other_project: str
    other_cluster: str

    @property
    def ui(self) -> str:
        return f"{self.server.jobs_path}/{self.job_id}/spark-ui/"


def contained() -> bool:
    """Whether the server runs jobs in their project's network namespace (isolation
    "auto" does when it can)."""
    return os.geteuid() == 0 and bool(shutil.which("bwrap")) and bool(shutil.which("ip"))


def bridges(server: Server) -> list[Path]:
    folder = server.data_dir / "ui"
    return sorted(folder.glob("*.sock")) if folder.exists() else []


@pytest.fixture(scope="module")
def ui_job(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiJob]:
    server = new_server(tmp_path_factory.mktemp("spark-ui"), sql_engine="off",
                        hive_metastore="false", kill_grace_s="5",
                        spark_ui_idle_s=str(IDLE_S))
    try:
        server.start()
        other = json.loads(server.cli("project", "create", "other", "--json"))
        other_token = server.cli("token", "create", "--project", other["project_id"],
                                 "--user", "eve")
        server.cli("user", "create", "--project", server.project_id, "--name", "bob",
                   "--password", PASSWORD)
        with server.client() as c:
            server.put_file(c, "/apps/probe.py", APP.encode())
            job_id = server.submit(c, {"job_type": "SparkSubmit", "job_name": "probe",
                                       "arguments": ["hdfs:///apps/probe.py", "hdfs:///up"]})
            wait_for(server.area_path("up").exists, timeout=240, interval=0.2,
                     message="the job's first Spark job to end")
            detail = wait_for(lambda: (d := server.job(c, job_id))["tracking_url"] and d,
                              timeout=30, interval=0.1, message="the job to be tracked")
        yield UiJob(server, job_id, detail, other_token, other["project_id"],
                    other["cluster_id"])
    finally:
        stop_server(server)


def test_running_job_is_tracked_and_its_ui_served_under_the_job(ui_job: UiJob) -> None:
    s, ui = ui_job.server, ui_job.ui
    assert ui_job.detail["tracking_url"] == ui
    assert re.fullmatch(r"local-\d+", str(ui_job.detail["app_id"])), ui_job.detail
    with s.client() as c:
        # The UI's root sends to its jobs page: a Location on the proxy, not the UI.
        root = c.get(ui)
        assert root.status_code == 302, root.text
        assert root.headers["location"].startswith(ui + "jobs"), root.headers
        page = c.get(ui + "jobs/")
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert "ui-probe" in page.text and "collect at" in page.text
        # Its links stay under the proxy.
        links = re.findall(r'(?:href|src)="(/[^"]*)"', page.text)
        assert links and all(link.startswith(ui.rstrip("/")) for link in links), links
        css = next(link for link in links if link.endswith(".css"))
        asset = c.get(css)
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(
            "text/css"), (css, asset.status_code)
        apps = c.get(ui + "api/v1/applications").json()
        assert apps[0]["id"] == ui_job.detail["app_id"]
        head = c.head(ui + "jobs/")
        assert head.status_code == 200 and head.content == b""
        # A browser's tab: the cookie the answer set (for this job's UI only) is enough.
        cookie = page.cookies.jar
        assert [(k.name, k.path) for k in cookie] == [("mrsjobs_token", ui)]
    assert "httponly" in page.headers["set-cookie"].lower()
    assert "samesite=strict" in page.headers["set-cookie"].lower()
    with httpx.Client(base_url=s.endpoint, cookies={"mrsjobs_token": s.token},
                      timeout=30) as browser:
        assert browser.get(ui + "jobs/").status_code == 200
        # No other route takes the token from a cookie.
        assert browser.get(f"{s.jobs_path}/{ui_job.job_id}").status_code == 401
    if contained():  # the UI is in the project's network namespace: through a bridge
        assert len(bridges(s)) == 1


def test_nobody_else_reaches_the_ui(ui_job: UiJob) -> None:
    s, ui = ui_job.server, ui_job.ui
    with httpx.Client(base_url=s.endpoint, timeout=30) as anonymous:
        resp = anonymous.get(ui + "jobs/")
        assert resp.status_code == 401 and resp.json()["error_code"] == "12000001"
    theirs = f"/v2/{ui_job.other_project}/clusters/{ui_job.other_cluster}/job-executions"
    with s.client(ui_job.other_token) as eve:
        for path in (ui + "jobs/", f"{theirs}/{ui_job.job_id}/spark-ui/jobs/",
                     f"{s.jobs_path}/no-such-job/spark-ui/"):
            resp = eve.get(path)
            assert resp.status_code == 404, (path, resp.text)
            assert resp.json()["error_code"] == "0176"
            assert "ui-probe" not in resp.text
    with httpx.Client(base_url=s.endpoint, cookies={"mrsjobs_token": ui_job.other_token},
                      timeout=30) as browser:
        assert browser.get(ui + "jobs/").status_code == 404
    with s.client() as c:
        # The same answer for a job that does not exist, to its own project.
        assert c.get(f"{s.jobs_path}/no-such-job/spark-ui/").status_code == 404
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            resp = c.request(method, ui + "jobs/job/kill/?id=0")
            assert resp.status_code == 405, (method, resp.text)
            assert resp.headers["allow"] == "GET, HEAD"
        # Spark's kill handlers (some Spark versions take GET too) kill nothing.
        for kill in ("jobs/job/kill/?id=0", "stages/stage/kill/?id=0&terminate=true"):
            assert c.get(ui + kill).status_code in (404, 405), kill
    with s.client() as c:
        assert s.job(c, ui_job.job_id)["job_state"] == "RUNNING"


def test_an_idle_bridge_closes_and_the_next_request_opens_one(ui_job: UiJob) -> None:
    if not contained():
        pytest.skip("jobs run in the service's network namespace here: no bridges")
    s = ui_job.server
    with s.client() as c:
        assert c.get(ui_job.ui + "jobs/").status_code == 200
        wait_for(lambda: bridges(s) == [], timeout=IDLE_S + 10, message="an idle bridge")
        assert s.job(c, ui_job.job_id)["job_state"] == "RUNNING"
        assert c.get(ui_job.ui + "executors/").status_code == 200
        assert len(bridges(s)) == 1


def test_the_console_opens_the_ui_in_a_tab_of_its_own(ui_job: UiJob) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip(f"needs Chromium at {CHROMIUM}")
    s = ui_job.server
    with playwright_api.sync_playwright() as pw:
        # As root, Chromium's own sandbox cannot start; the pages are our own.
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--no-sandbox"])
        try:
            context = browser.new_context()
            context.set_default_timeout(20_000)
            page = context.new_page()
            page.goto(s.endpoint + "/console/")
            page.get_by_label("User name").fill("bob")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            playwright_api.expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
            page.goto(f"{s.endpoint}/console/#/jobs/{ui_job.job_id}")
            with context.expect_page() as opened:
                page.get_by_role("link", name="Spark UI").click()
            tab = opened.value
            errors: list[str] = []
            tab.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
            tab.wait_for_load_state()
            playwright_api.expect(tab.locator("body")).to_contain_text("ui-probe")
            assert tab.url.startswith(s.endpoint + ui_job.ui), tab.url
            # The executors page fills itself from the UI's REST API, within the
            # page's policy (which keeps it to this job's UI).
            tab.goto(s.endpoint + ui_job.ui + "executors/")
            playwright_api.expect(tab.locator("#active-executors-table")).to_contain_text(
                "driver")
            assert not errors, errors
            policy = tab.evaluate("fetch('/v2/').then(() => 'fetched', e => 'refused')")
            assert policy == "refused"
            (cookie,) = context.cookies()
            assert (cookie["name"], cookie["path"], cookie["httpOnly"],
                    cookie["sameSite"]) == ("mrsjobs_token", ui_job.ui, True, "Strict")
        finally:
            browser.close()


def test_ui_is_gone_with_its_job(ui_job: UiJob) -> None:
    s, ui = ui_job.server, ui_job.ui
    with s.client() as c:
        assert c.get(ui + "jobs/").status_code == 200  # the bridge, if any, is made
        assert c.post(f"{s.jobs_path}/{ui_job.job_id}/kill").status_code == 202
        s.wait_state(c, ui_job.job_id, "KILLED", "FINISHED", "FAILED", timeout=60)
        resp = c.get(ui + "jobs/")
        assert resp.status_code == 409, resp.text
        assert resp.json()["error_code"] == "12000054"
        assert "the job is KILLED" in resp.json()["error_msg"]
    wait_for(lambda: bridges(s) == [], timeout=10, message="the job's bridge to close")
