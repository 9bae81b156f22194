"""Clusters as configuration, end to end: made and deleted with the ``mrsjobs cluster``
commands while the server runs, found through the real SDK's v1 cluster calls, their
file area under their files root, and their jobs refused once they are gone."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmrs.v1 import ListClustersRequest, MrsClient, ShowClusterDetailsRequest

from tests.support.clients import assert_error, sdk_client
from tests.support.server import PYTHON, Server
from tests.support.waiting import wait_for


def cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    """``mrsjobs cluster ...`` on the server's data directory, whatever its exit code."""
    return subprocess.run([PYTHON, "-m", "mrsjobs.cli", "cluster", *args, "--data-dir",
                           str(server.data_dir)], capture_output=True, text=True,
                          env=server.env, timeout=120, check=False)


def create(server: Server, name: str, *options: str) -> dict[str, object]:
    done = cli(server, "create", "--project", server.project_id, "--name", name, "--json",
               *options)
    assert done.returncode == 0, done.stderr
    made: dict[str, object] = json.loads(done.stdout)
    return made


SPARK = ("--engine", "spark-standalone", "--master", "spark://10.9.0.1:7077",
         "--rest-url", "http://10.9.0.1:6066")


def test_the_sdk_finds_the_clusters(fast_server: Server, tmp_path: Path) -> None:
    s = fast_server
    spark = create(s, "spark", *SPARK, "--max-running", "2",
                   "--files-root", str(tmp_path / "shared"))
    client: MrsClient = sdk_client(MrsClient, s)
    listed = client.list_clusters(ListClustersRequest(page_size="10", current_page="1",
                                                      cluster_state="existing"))
    assert listed.cluster_total == 2
    assert [c.cluster_name for c in listed.clusters] == ["local", "spark"]
    local = listed.clusters[0]
    assert (local.cluster_id, local.cluster_state, local.tenant_id) == (
        s.cluster_id, "running", s.project_id)
    assert [c.component_name for c in local.component_list] == ["Hadoop", "Hive", "Spark"]
    assert local.vpc is None and local.master_node_ip is None

    shown = client.show_cluster_details(ShowClusterDetailsRequest(cluster_id=spark["id"]))
    c = shown.cluster
    assert (c.cluster_id, c.cluster_name, c.master_node_ip) == (spark["id"], "spark",
                                                                "10.9.0.1")
    assert [x.component_name for x in c.component_list] == ["Hive", "Spark"]
    assert c.create_at is not None and int(c.create_at) > 1_600_000_000

    page = client.list_clusters(ListClustersRequest(page_size="1", current_page="2"))
    assert (page.cluster_total, [x.cluster_name for x in page.clusters]) == (2, ["spark"])
    for empty in (ListClustersRequest(cluster_state="terminated"),
                  ListClustersRequest(tags="team*a"),
                  ListClustersRequest(cluster_name="nope")):
        assert client.list_clusters(empty).cluster_total == 0

    with pytest.raises(ClientRequestException) as err:
        client.show_cluster_details(ShowClusterDetailsRequest(cluster_id="no-such-cluster"))
    assert (err.value.status_code, err.value.error_code) == (400, "12000003")


def test_cluster_routes_refuse_bad_requests_and_strangers(fast_server: Server) -> None:
    s = fast_server
    base = f"/v1.1/{s.project_id}/cluster_infos"
    stranger = s.cli("token", "create", "--project", "elsewhere", "--user", "bob")
    with s.client() as http, s.client(stranger) as other:
        for params, field in (({"pageSize": "0"}, "pageSize"),
                              ({"currentPage": "x"}, "currentPage"),
                              ({"clusterState": "asleep"}, "clusterState"),
                              ({"tags": "*v"}, "tags")):
            assert_error(http.get(base, params=params), 400, "12000002", field)
        assert_error(http.get(f"{base}/nope"), 400, "12000003")
        # Another project's token: as the job routes answer it, whatever the request.
        assert_error(other.get(base), 400, "12000052")
        assert_error(other.get(base, params={"pageSize": "0"}), 400, "12000052")
        assert_error(other.get(f"{base}/{s.cluster_id}"), 400, "12000052")
        # Its own project has none (a project made for a token gets no cluster).
        mine = other.get("/v1.1/elsewhere/cluster_infos")
        assert mine.json() == {"clusterTotal": 0, "clusters": []}


def test_files_live_under_the_files_root(fast_server: Server, tmp_path: Path) -> None:
    s = fast_server
    root = tmp_path / "shared" / "files"
    spark = create(s, "spark", *SPARK, "--files-root", str(root))
    assert spark["files_at"] == str(root)
    with s.client() as http:
        resp = http.put(f"/v2/{s.project_id}/clusters/{spark['id']}/files",
                        params={"path": "/in/data.txt"}, content=b"hello")
        assert resp.status_code == 201, resp.text
        listed = http.get(f"/v2/{s.project_id}/clusters/{spark['id']}/files",
                          params={"path": "/in"}).json()
    assert (root / "in" / "data.txt").read_bytes() == b"hello"
    assert [f["path_suffix"] for f in listed["files"]] == ["data.txt"]
    # The default cluster's area is its own still.
    assert not s.area_path("in").exists()


def test_hadoop_jobs_are_refused_on_a_standalone_cluster(fast_server: Server) -> None:
    s = fast_server
    spark = create(s, "spark", *SPARK)
    jobs = f"/v2/{s.project_id}/clusters/{spark['id']}/job-executions"
    with s.client() as http:
        for job_type, args in (("MapReduce", ["hdfs:///a.jar", "hdfs:///in", "hdfs:///out"]),
                               ("DistCp", ["hdfs:///in", "hdfs:///out"])):
            body = {"job_type": job_type, "job_name": "mr", "arguments": args}
            assert_error(http.post(jobs, json=body), 400, "12000054")


def test_delete_refuses_running_jobs_then_the_cluster_is_unknown(fast_server: Server) -> None:
    s = fast_server
    doomed = create(s, "doomed")
    jobs = f"/v2/{s.project_id}/clusters/{doomed['id']}/job-executions"
    body = {"job_type": "SparkSubmit", "job_name": "long",
            "arguments": ["hdfs:///app.py", "sleep=60"]}
    with s.client() as http:
        resp = http.post(jobs, json=body)
        assert resp.status_code == 202, resp.text
        job_id = resp.json()["job_submit_result"]["job_id"]
        refused = cli(s, "delete", str(doomed["id"]))
        assert refused.returncode != 0 and "not ended" in refused.stderr
        assert http.post(f"{jobs}/{job_id}/kill").status_code == 202
        wait_for(lambda: http.get(f"{jobs}/{job_id}").json()["job_detail"]["job_state"]
                 == "KILLED", timeout=30, message="the kill")
        done = cli(s, "delete", str(doomed["id"]))
        assert done.returncode == 0, done.stderr
        # At once, though the server found the cluster a moment ago.
        assert_error(http.post(jobs, json=body), 400, "12000003")
        assert_error(http.get(jobs), 400, "12000003")
    assert cli(s, "show", str(doomed["id"])).returncode != 0
    assert cli(s, "delete", str(doomed["id"])).returncode != 0


def test_cli_refuses_bad_clusters(fast_server: Server, tmp_path: Path) -> None:
    s = fast_server
    create(s, "taken")
    weak = tmp_path / "weak.key"
    weak.write_text("c2hvcnQ")
    standalone = ("--engine", "spark-standalone", "--master", "spark://h:7077",
                  "--rest-url", "http://h:6066")
    for options, words in ((("--name", "taken"), "already"),
                           (("--name", "x", *standalone, "--rest-key-file", str(weak)),
                            "needs at least 256"),
                           (("--name", "x", *standalone, "--rest-key-file",
                             str(tmp_path / "none")), "cannot read"),
                           (("--name", "x", "--engine", "spark-standalone"), "--master"),
                           (("--name", "x", "--master", "spark://h:7077"), "spark-standalone"),
                           (("--name", "x", "--max-running", "0"), "at least 1"),
                           (("--name", "x", "--engine", "yarn"), "invalid choice")):
        done = cli(s, "create", "--project", s.project_id, *options)
        assert done.returncode != 0 and words in done.stderr, (options, done.stderr)
    done = cli(s, "create", "--project", "nosuchproject", "--name", "x")
    assert done.returncode != 0 and "no project" in done.stderr
    listed = json.loads(cli(s, "list", "--project", s.project_id, "--json").stdout)
    assert [c["name"] for c in listed] == ["local", "taken"]
    assert all(c["engine"] == "local" for c in listed)
