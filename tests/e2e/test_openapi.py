"""The OpenAPI document and its documentation page, as a running server serves them."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import httpx

from tests.support.server import Server


def test_docs_page_needs_no_other_host(fast_server: Server) -> None:
    with httpx.Client(base_url=fast_server.endpoint, timeout=30) as c:
        page = c.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        # The browser may fetch nothing from anywhere but this service.
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "http" not in policy
        linked = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert len(linked) >= 3
        assert "url: '/openapi.json'" in page.text and '"validatorUrl": null' in page.text
        for link in linked:
            assert "//" not in link, link
            asset = c.get(urljoin("/docs", link))
            assert asset.status_code == 200, link
        assert b"SwaggerUIBundle" in c.get("/docs/assets/swagger-ui-bundle.js").content


def test_document_says_what_the_routes_answer(fast_server: Server) -> None:
    s = fast_server
    doc = httpx.get(s.endpoint + "/openapi.json", timeout=30).json()
    assert set(doc["components"]["securitySchemes"]) == {"token", "aksk", "cookie"}
    jobs_path = "/v2/{project_id}/clusters/{cluster_id}/job-executions"
    jobs = doc["paths"][jobs_path]
    assert set(jobs["get"]["responses"]) == {"202", "400", "401", "413", "429", "500"}
    assert jobs["get"]["security"] == [{"token": []}, {"aksk": []}]
    assert "security" not in doc["paths"]["/v3/auth/tokens"]["post"]
    sahara = doc["paths"]["/v1.1/{project_id}/job-executions/{job_execution_id}"]["get"]
    assert sahara["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SaharaError"}
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    # A job's Spark UI: GET and HEAD only, what the UI answers, the cookie for a tab.
    ui = doc["paths"][jobs_path + "/{job_execution_id}/spark-ui/{path}"]
    assert set(ui) == {"get", "head"}
    assert set(ui["get"]["responses"]) >= {"200", "401", "404", "409"}
    assert "*/*" in ui["get"]["responses"]["200"]["content"]
    assert ui["get"]["security"] == [{"token": []}, {"aksk": []}, {"cookie": []}]
    assert doc["components"]["securitySchemes"]["cookie"]["in"] == "cookie"
    assert {"cookie": []} not in jobs["get"]["security"]
    # What the document says of an unauthenticated call is what the server answers.
    resp = httpx.get(s.endpoint + s.jobs_path, timeout=30)
    assert resp.status_code == 401 and str(resp.status_code) in jobs["get"]["responses"]
    assert set(resp.json()) >= set(doc["components"]["schemas"]["MrsError"]["required"])
    assert resp.headers["x-request-id"]


def test_method_not_allowed_names_every_method_of_the_path(fast_server: Server) -> None:
    """One path may have a route per method: 405's Allow lists all of them, not only
    the first route's (found by the fuzz's allow_header_conformance check)."""
    s = fast_server
    for path, allowed in ((f"/v1.1/{s.project_id}/job-executions/x", "DELETE, GET, PATCH"),
                          ("/v3/auth/tokens", "DELETE, GET, HEAD, POST"),
                          (f"/v2/{s.project_id}/clusters/{s.cluster_id}/files",
                           "DELETE, GET, PUT"),
                          # Its own resource, though the job route's template matches too.
                          (f"{s.jobs_path}/batch-delete", "POST")):
        resp = httpx.request("OPTIONS", s.endpoint + path, timeout=30)
        assert resp.status_code == 405, path
        assert resp.headers["allow"] == allowed, path
        assert resp.json()["error_code"] == "APIGW.0101"
