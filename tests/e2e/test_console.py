"""The web console in a real Chromium (Debian's, driven by Playwright) against a real
``mrsjobs serve``: sign in, filter, follow a running job's log, kill it, sign out; the
readonly role's pages and the server's refusals; job data shown as text, never markup.

A screenshot of each page goes to ``test-output/console/`` at the top of the checkout."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clients import assert_error
from tests.support.server import FAST, Server, new_server, stop_server
from tests.support.waiting import wait_for

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = Path(os.environ.get("MRSJOBS_TEST_CHROMIUM", "/usr/bin/chromium"))
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "console"
PASSWORD = "correct horse battery"
APP = "hdfs:///app.py"
#: Markup an attacker would like the page to run; the console must show it as text.
ATTACK = "<img src=x onerror=\"window.pwned=1\"><script>window.pwned=2</script>"


@dataclass
class Console:
    server: Server
    alice: httpx.Client  # the server's own token: user alice, a member

    @property
    def url(self) -> str:
        return self.server.endpoint + "/console/"

    def token_of(self, user: str) -> str:
        body = {"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"name": user, "domain": {"name": "Default"}, "password": PASSWORD}}}}}
        resp = httpx.post(self.server.endpoint + "/v3/auth/tokens", json=body)
        assert resp.status_code == 201, resp.text
        return resp.headers["X-Subject-Token"]

    def submit(self, name: str, *args: str, job_type: str = "SparkSubmit") -> str:
        arguments = list(args) if job_type != "SparkSubmit" else [APP, *args]
        return self.server.submit(self.alice, {"job_type": job_type, "job_name": name,
                                               "arguments": arguments})


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for this module, closed at its end: while Playwright's
    sync API is open it keeps an event loop running on the main thread, and the other
    modules' tests start loops of their own there (``asyncio.run``)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs Chromium at {CHROMIUM} (apt-get install chromium)")
        pytest.skip(f"needs Chromium at {CHROMIUM}")
    with playwright_api.sync_playwright() as pw:
        # As root, Chromium's own sandbox cannot start; the pages are our own.
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                      args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """One server for the module: users bob (member) and rita (readonly) with passwords."""
    server = new_server(tmp_path_factory.mktemp("console"), **FAST)
    try:
        server.start()
        for name, role in (("bob", "member"), ("rita", "readonly")):
            server.cli("user", "create", "--project", server.project_id, "--name", name,
                       "--role", role, "--password", PASSWORD)
        with server.client() as alice:
            yield Console(server, alice)
    finally:
        stop_server(server)


@pytest.fixture
def expected_errors() -> list[str]:
    """What a test expects the browser to report as an error (a part of the message)."""
    return []


@pytest.fixture
def page(browser: Any, console: Console, expected_errors: list[str]) -> Iterator[Any]:
    """A fresh browsing context (its own sessionStorage) whose page fails the test on any
    script error or Content-Security-Policy violation it did not expect."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    try:
        yield opened
    finally:
        context.close()
    unexpected = [e for e in errors if not any(x in e for x in expected_errors)]
    assert not unexpected, unexpected


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, console: Console, user: str) -> None:
    page.goto(console.url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # The project has one cluster: it is chosen, and the jobs page shows.
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()


def filter_jobs(page: Any, **fields: str) -> None:
    form = page.get_by_role("search", name="Filter jobs")
    for label, value in fields.items():
        control = form.get_by_label(label.replace("_", " "), exact=True)
        if control.evaluate("el => el.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    form.get_by_role("button", name="Filter").click()


def log_lines(page: Any, prefix: str) -> list[str]:
    return [line for line in page.locator("#log").inner_text().splitlines()
            if line.startswith(prefix)]


# -- the member's day ---------------------------------------------------------------------


def test_sign_in_filter_follow_kill_sign_out(page: Any, console: Console,
                                             expected_errors: list[str]) -> None:
    server, c = console.server, console.alice
    expected_errors.append("status of 401")  # the wrong password, first
    for name in ("alpha", "beta"):
        server.wait_state(c, console.submit(name), "FINISHED")
    # A job that prints a line every 0.1 s for a minute.
    running = console.submit("ticker", "ticks=600")
    server.wait_state(c, running, "RUNNING")

    page.goto(console.url)
    page.get_by_label("User name").fill("bob")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_contain_text("password is wrong")
    shot(page, "signin")
    sign_in(page, console, "bob")
    expect(page.locator("#who")).to_contain_text("bob")
    page.get_by_role("link", name="Clusters").click()
    expect(page.get_by_role("heading", name="Clusters")).to_be_visible()
    expect(page.locator("table")).to_contain_text(server.cluster_id)
    shot(page, "clusters")

    total = c.get(server.jobs_path).json()["total_record"]
    finished = c.get(server.jobs_path, params={"job_state": "FINISHED"}).json()
    page.get_by_role("link", name="Jobs").click()
    expect(page.locator("#jobs-summary")).to_have_text(re.compile(f"^{total} jobs;"))
    filter_jobs(page, Name="ticker")
    expect(page.locator("#jobs-summary")).to_contain_text("1 job;")
    expect(page.locator("#jobs tbody tr")).to_have_count(1)
    filter_jobs(page, Name="", State="FINISHED")
    expect(page.locator("#jobs-summary")).to_have_text(
        re.compile(f"^{finished['total_record']} jobs;"))
    expect(page.locator("#jobs tbody")).not_to_contain_text("ticker")
    filter_jobs(page, State="RUNNING")
    expect(page.locator("#jobs tbody tr")).to_have_count(1)
    shot(page, "jobs")
    # The list refreshes itself: a job submitted elsewhere shows up with no reload.
    filter_jobs(page, State="")
    expect(page.locator("#jobs-summary")).to_have_text(re.compile(f"^{total} jobs;"))
    late = console.submit("late")
    expect(page.locator("#jobs tbody")).to_contain_text(late, timeout=10_000)
    expect(page.locator("#jobs-summary")).to_have_text(re.compile(f"^{total + 1} jobs;"))

    page.get_by_role("link", name=running).click()
    expect(page.locator("#job-state")).to_have_text("RUNNING")
    expect(page.locator("#log")).to_contain_text("tick 2 ")
    seen = len(log_lines(page, "tick "))
    # New lines arrive while the page is open, with nothing reloaded.
    wait_for(lambda: len(log_lines(page, "tick ")) >= seen + 5, timeout=10,
             message="new log lines")
    shot(page, "job-running")

    page.get_by_role("button", name="Kill").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Kill job {running}?")
    dialog.get_by_role("button", name="Kill").click()
    expect(page.locator("#job-state")).to_have_text("KILLED", timeout=20_000)
    expect(page.locator("#log-status")).to_contain_text("The job ended: KILLED")
    expect(page.get_by_role("button", name="Kill")).to_have_count(0)
    assert server.job(c, running)["job_result"] == "KILLED"
    # Why it ended: the job's diagnostics name who asked for the kill.
    expect(page.locator("#diagnostics")).to_contain_text("kill requested by bob")
    shot(page, "job-killed")

    token = page.evaluate("JSON.parse(sessionStorage.getItem('mrsjobs.session')).token")
    # The token never becomes a cookie the browser would send by itself.
    assert page.context.cookies() == []
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('mrsjobs.session')") is None
    # Signing out revoked the token the console was issued.
    with server.client(token) as old:
        assert old.get(server.jobs_path).status_code == 401


def test_paging_is_the_servers(page: Any, console: Console) -> None:
    for i in range(12):
        console.submit(f"page-{i:02d}")
    sign_in(page, console, "bob")
    requests: list[str] = []
    page.on("request", lambda r: "/job-executions" in r.url and requests.append(r.url))
    filter_jobs(page, Per_page="10")
    summary = page.locator("#jobs-summary")
    expect(summary).to_contain_text("page 1 of")
    total = int(re.search(r"([\d,]+) jobs", summary.inner_text())[1].replace(",", ""))
    pages = -(-total // 10)
    expect(page.locator("#jobs tbody tr")).to_have_count(10)
    newest = page.locator("#jobs tbody tr").first.inner_text()
    for n in range(2, pages + 1):
        page.get_by_role("button", name="Next").click()
        expect(summary).to_contain_text(f"page {n} of {pages}")
    expect(page.locator("#jobs tbody tr")).to_have_count(total - (pages - 1) * 10)
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    # The other end of the list: the first page of the other order.
    page.get_by_role("button", name="Oldest first").click()
    expect(summary).to_contain_text(f"page 1 of {pages}")
    expect(page.locator("#jobs tbody tr").last).not_to_have_text(newest)
    # Each page is one server call of one page: never the whole list.
    assert requests and all("limit=10" in url for url in requests), requests
    assert any(f"offset={pages}" in url for url in requests), requests
    assert "sort_by=asc" in requests[-1], requests


def test_submit_form_and_file_area(page: Any, console: Console) -> None:
    server = console.server
    sign_in(page, console, "bob")
    page.get_by_role("link", name="Submit").click()
    page.get_by_label("Job type").select_option("SparkSql")
    page.get_by_label("Job name").fill("from-form")
    page.get_by_label("Options").fill("--conf spark.x=1")
    page.get_by_label("SQL", exact=True).fill("SELECT 1; SELECT 2")
    expect(page.locator("#arguments-preview")).to_have_text(
        json.dumps(["--conf", "spark.x=1", "SELECT 1; SELECT 2"], separators=(",", ":")))
    shot(page, "submit")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#job-state")).to_have_text("FINISHED", timeout=20_000)
    expect(page.locator("[data-field=job_type]")).to_have_text("SparkSql")
    expect(page.locator("[data-field=arguments]")).to_have_text(
        "[--conf, spark.x=1, SELECT 1; SELECT 2]")

    page.get_by_role("link", name="Files").click()
    page.get_by_label("File", exact=True).set_input_files(
        files=[{"name": "words.txt", "mimeType": "text/plain", "buffer": b"a b a\n"}])
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#files")).to_contain_text("words.txt")
    assert server.area_path("words.txt").read_bytes() == b"a b a\n"
    shot(page, "files")
    page.get_by_role("button", name="Delete words.txt").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.locator("#files")).not_to_contain_text("words.txt")
    assert not server.area_path("words.txt").exists()


def test_delete_asks_first(page: Any, console: Console) -> None:
    server, c = console.server, console.alice
    job_id = console.submit("to-delete")
    server.wait_state(c, job_id, "FINISHED")
    # A link to a job page, opened signed out, leads there once signed in.
    page.goto(f"{console.url}#/jobs/{job_id}")
    page.get_by_label("User name").fill("bob")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#job-state")).to_have_text("FINISHED")
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert server.job(c, job_id)["job_id"] == job_id  # still there
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    wait_for(lambda: c.get(f"{server.jobs_path}/{job_id}").status_code == 400,
             message="the job deleted")


# -- the readonly role --------------------------------------------------------------------


def test_readonly_sees_no_controls_and_the_server_refuses(page: Any,
                                                          console: Console) -> None:
    server, c = console.server, console.alice
    running = console.submit("ro-target", "ticks=600")
    server.wait_state(c, running, "RUNNING")
    server.put_file(c, "/ro.txt", b"keep")
    token = console.token_of("rita")

    # Signed in with a pasted token this time.
    page.goto(console.url)
    page.get_by_label("Token", exact=True).fill(token)
    page.get_by_role("button", name="Use token").click()
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    expect(page.locator("#who .role")).to_have_text("readonly")
    expect(page.get_by_role("link", name="Submit")).to_be_hidden()

    page.goto(f"{console.url}#/jobs/{running}")
    expect(page.locator("#job-state")).to_have_text("RUNNING")
    expect(page.locator("#log")).to_contain_text("tick 1 ")
    page.get_by_role("button", name="stderr").click()
    expect(page.locator("#log")).to_contain_text("tock 1")
    expect(page.locator("#log")).not_to_contain_text("tick")
    expect(page.get_by_role("button", name="Kill")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    shot(page, "readonly-job")
    page.goto(f"{console.url}#/submit")
    expect(page.get_by_role("alert")).to_have_text("Your role may not submit jobs.")
    expect(page.locator("form")).to_have_count(0)
    page.goto(f"{console.url}#/files")
    expect(page.locator("#files")).to_contain_text("ro.txt")
    expect(page.get_by_role("button", name=re.compile("Delete|Upload"))).to_have_count(0)
    expect(page.locator("input[type=file]")).to_have_count(0)
    shot(page, "readonly-files")

    # The server refuses the same calls made straight with the token.
    with server.client(token) as ro:
        assert_error(ro.post(f"{server.jobs_path}/{running}/kill"), 400, "12000052",
                     "readonly")
        assert_error(ro.post(f"{server.jobs_path}/batch-delete",
                             json={"job_id_list": [running]}), 400, "12000052", "readonly")
        assert_error(ro.post(server.jobs_path, json={
            "job_type": "SparkSubmit", "job_name": "ro", "arguments": [APP]}),
            400, "12000052", "readonly")
        files = f"/v2/{server.project_id}/clusters/{server.cluster_id}/files"
        assert_error(ro.put(files, params={"path": "/x"}, content=b"x"), 400, "12000052",
                     "readonly")
        assert_error(ro.delete(files, params={"path": "/ro.txt"}), 400, "12000052",
                     "readonly")
    assert server.job(c, running)["job_state"] == "RUNNING"
    assert server.area_path("ro.txt").read_bytes() == b"keep"
    c.post(f"{server.jobs_path}/{running}/kill")


# -- attacks ------------------------------------------------------------------------------


def test_job_data_renders_as_text(page: Any, console: Console) -> None:
    server, c = console.server, console.alice
    # SQL text may hold any character: it reaches the list, the job page and the log.
    job_id = console.submit("markup", f"SELECT '{ATTACK}'", job_type="SparkSql")
    server.wait_state(c, job_id, "FINISHED")
    sign_in(page, console, "bob")
    page.goto(f"{console.url}#/jobs/{job_id}")
    expect(page.locator("[data-field=arguments]")).to_have_text(f"[SELECT '{ATTACK}']")
    expect(page.locator("#log")).to_contain_text(ATTACK)
    shot(page, "attack-job")
    assert page.locator("main img, main script").count() == 0
    assert page.evaluate("window.pwned") is None


def test_console_pages_forbid_inline_and_foreign_scripts(
        page: Any, console: Console, expected_errors: list[str]) -> None:
    expected_errors.append("Content Security Policy")  # the refused inline script
    for path in ("/console/", "/console/js/main.js", "/console/console.css"):
        resp = httpx.get(console.server.endpoint + path)
        assert resp.status_code == 200, path
        policy = resp.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert "set-cookie" not in resp.headers
    assert httpx.get(console.server.endpoint + "/console").headers["location"] == "/console/"
    # The browser enforces the policy: an inline script injected into the page never runs.
    sign_in(page, console, "bob")
    with pytest.raises(playwright_api.Error):
        page.add_script_tag(content="window.injected = 'csp-probe'")
    assert page.evaluate("window.injected") is None
    # Nothing the page loaded came from another host.
    hosts = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    assert hosts and all(h.startswith(console.server.endpoint) for h in hosts), hosts



# -- the API's documentation page ----------------------------------------------------------


def test_api_docs_render_from_this_service_alone(page: Any, console: Console) -> None:
    """Swagger UI at /docs shows every route of the OpenAPI document, and nothing it
    loads (its scripts, styles, the document) comes from another host."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    document = httpx.get(console.server.endpoint + "/openapi.json").json()
    operations = sum(1 for item in document["paths"].values() for method in item
                     if method in {"get", "put", "post", "delete", "patch", "head"})
    page.goto(console.server.endpoint + "/docs")
    blocks = page.locator(".opblock")
    expect(blocks.first).to_be_visible()
    expect(blocks).to_have_count(operations)
    # A route opens and shows its parameters, as a reader would use the page.
    kill = page.locator(".opblock-summary-path",
                        has_text="/job-executions/{job_execution_id}/kill").first
    kill.click()
    expect(page.locator(".opblock.is-open .parameters")).to_contain_text("project_id")
    shot(page, "api-docs")
    assert any(url.endswith("/openapi.json") for url in requested), requested
    foreign = [url for url in requested if not url.startswith(console.server.endpoint)]
    assert not foreign, foreign
