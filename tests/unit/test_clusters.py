"""Cluster configuration rules, the cluster list's query parsing, and the v1 Cluster shape
as the real SDK reads it."""

from __future__ import annotations

import pytest
from huaweicloudsdkmrs.v1.model.cluster import Cluster as SdkCluster
from huaweicloudsdkmrs.v1.model.component_amb import ComponentAmb

from mrsjobs.api.clusters import NULL_FIELDS, cluster_info, cluster_query, parse_tags
from mrsjobs.domain.clusters import (
    ENGINE_COMPONENTS,
    ClusterConfig,
    ClusterEngine,
    check_cluster_config,
)
from mrsjobs.domain.errors import InvalidParameter
from mrsjobs.domain.jobs import Component
from mrsjobs.store import Cluster

SPARK = ClusterEngine.SPARK_STANDALONE
MASTER, REST = "spark://10.1.0.2:7077", "http://10.1.0.2:6066"


@pytest.mark.parametrize("config", [
    ClusterConfig(),
    ClusterConfig(max_running=1, files_root="/srv/files"),
    ClusterConfig(SPARK, MASTER, REST),
    ClusterConfig(SPARK, "spark://master.example:7077", "https://master.example:6066/"),
    ClusterConfig(SPARK, MASTER, REST, link_bridge="br-spark", link_addresses="10.1.0.64/26"),
    ClusterConfig(SPARK, MASTER, REST, rest_key_file="/etc/mrsjobs/spark-rest.key"),
])
def test_good_configs_pass(config: ClusterConfig) -> None:
    check_cluster_config(config)


@pytest.mark.parametrize(("config", "words"), [
    (ClusterConfig(SPARK, None, REST), "--master is required"),
    (ClusterConfig(SPARK, MASTER, None), "--rest-url is required"),
    (ClusterConfig(SPARK, "http://10.1.0.2:7077", REST), "expected spark://HOST:PORT"),
    (ClusterConfig(SPARK, "spark://10.1.0.2", REST), "expected spark://HOST:PORT"),
    (ClusterConfig(SPARK, MASTER, "spark://10.1.0.2:6066"), "--rest-url"),
    (ClusterConfig(SPARK, MASTER, "http://h:1/x?y"), "--rest-url"),
    (ClusterConfig(master_url=MASTER), "--master is for spark-standalone"),
    (ClusterConfig(rest_url=REST), "--rest-url is for spark-standalone"),
    (ClusterConfig(files_root="relative/dir"), "absolute path"),
    (ClusterConfig(files_root="//"), "must not be /"),
    (ClusterConfig(max_running=0), "at least 1"),
    (ClusterConfig(SPARK, MASTER, REST, link_bridge="br0"), "go together"),
    (ClusterConfig(SPARK, MASTER, REST, link_addresses="10.1.0.64/26"), "go together"),
    (ClusterConfig(SPARK, MASTER, REST, link_bridge="br0; rm -rf /",
                   link_addresses="10.1.0.64/26"), "--link-bridge"),
    (ClusterConfig(SPARK, MASTER, REST, link_bridge="a-bridge-name-too-long",
                   link_addresses="10.1.0.64/26"), "--link-bridge"),
    (ClusterConfig(SPARK, MASTER, REST, link_bridge="br0", link_addresses="10.1.0.65/26"),
     "--link-addresses"),
    (ClusterConfig(SPARK, MASTER, REST, link_bridge="br0", link_addresses="fd00::/64"),
     "--link-addresses"),
    (ClusterConfig(SPARK, MASTER, REST, link_bridge="br0", link_addresses="10.1.0.7/32"),
     "/30 or larger"),
    (ClusterConfig(link_bridge="br0", link_addresses="10.1.0.64/26"),
     "--link-bridge is for spark-standalone"),
    (ClusterConfig(SPARK, MASTER, REST, rest_key_file="spark-rest.key"), "absolute path"),
    (ClusterConfig(rest_key_file="/etc/key"), "--rest-key-file is for spark-standalone"),
])
def test_bad_configs_name_the_option(config: ClusterConfig, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("?", r"\?")):
        check_cluster_config(config)


def test_a_standalone_cluster_has_no_hadoop() -> None:
    assert Component.HADOOP not in ClusterConfig(SPARK, MASTER, REST).components
    assert ENGINE_COMPONENTS[SPARK] == {Component.SPARK, Component.HIVE}
    assert Component.HADOOP in ClusterConfig().components


def test_query_defaults_and_values() -> None:
    q = cluster_query("p1", {})
    assert (q.page_size, q.current_page, q.state, q.name, q.tags) == (10, 1, None, None, ())
    q = cluster_query("p1", {"pageSize": "3", "currentPage": "2", "clusterState": "existing",
                             "clusterName": "a", "tags": "k1*v1,k2"})
    assert (q.page_size, q.current_page, q.state, q.name) == (3, 2, "existing", "a")
    assert q.tags == (("k1", "v1"), ("k2", None))


@pytest.mark.parametrize(("params", "field"), [
    ({"pageSize": "0"}, "pageSize"),
    ({"pageSize": "ten"}, "pageSize"),
    ({"pageSize": "2147483647"}, "pageSize"),
    ({"currentPage": "-1"}, "currentPage"),
    ({"clusterState": "sleeping"}, "clusterState"),
    ({"clusterName": "x" * 65}, "clusterName"),
    ({"tags": "*v"}, "tags"),
    ({"tags": "a,,b"}, "tags"),
    ({"tags": ",".join(f"k{i}" for i in range(21))}, "tags"),
    ({"clusterName": "a\x00b"}, "clusterName"),
])
def test_bad_query_names_the_parameter(params: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidParameter) as err:
        cluster_query("p1", params)
    assert err.value.field == field


def test_tags_without_a_filter() -> None:
    assert parse_tags(None) == parse_tags("") == ()


def test_the_shape_is_the_sdk_cluster_model() -> None:
    cluster = Cluster("c1", "p1", "spark", ENGINE_COMPONENTS[SPARK], SPARK, MASTER, REST,
                      None, 4, 1_700_000_000_123)
    shape = cluster_info(cluster)
    # Every field the SDK's v1 Cluster model reads, and nothing else.
    assert set(shape) == set(SdkCluster.attribute_map.values())
    assert all(shape[f] is None for f in NULL_FIELDS)
    assert (shape["clusterId"], shape["clusterName"], shape["clusterState"]) == (
        "c1", "spark", "running")
    assert (shape["createAt"], shape["tenantId"], shape["masterNodeIp"]) == (
        "1700000000", "p1", "10.1.0.2")
    assert [c["componentName"] for c in shape["componentList"]] == ["Hive", "Spark"]
    assert set(shape["componentList"][0]) == set(ComponentAmb.attribute_map.values())
    assert "spark://10.1.0.2:7077" in shape["remark"]
