"""MRS's read-only cluster routes (v1.1 ``cluster_infos``), so that SDK users find their
clusters: in the shape the SDK's v1 ``list_clusters`` and ``show_cluster_details``
parse. What a self-hosted cluster does not have (VPC, nodes, billing, ...) is null.
Errors wear MRS's envelope; access is checked as for jobs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from ..domain.clusters import CLUSTER_STATES, ClusterEngine, ClusterQuery
from ..domain.errors import InvalidParameter
from ..domain.jobs import Component
from ..service.clusters import ClusterService
from ..store import Cluster
from .deps import ClusterId, ProjectId, who
from .errors import ApiRoute
from .wire import check_text, query_int, query_text

CLUSTER_INFOS = "/v1.1/{project_id}/cluster_infos"
#: MRS's bounds of ``pageSize``.
MAX_PAGE_SIZE = 2147483646
MAX_TAGS = 20

router = APIRouter(route_class=ApiRoute)

#: The Cluster model's fields (its JSON keys) that a self-hosted cluster has no value for.
NULL_FIELDS = (
    "totalNodeNum", "stageDesc", "chargingStartTime", "billingType", "dataCenter", "vpc",
    "vpcId", "duration", "fee", "hadoopVersion", "externalIp", "externalAlternateIp",
    "internalIp", "deploymentId", "orderId", "azId", "azName", "azCode",
    "availabilityZoneId", "instanceId", "vnc", "volumeSize", "volumeType", "subnetId",
    "subnetName", "securityGroupsId", "slaveSecurityGroupsId", "bootstrapScripts",
    "safeMode", "clusterVersion", "nodePublicCertName", "privateIpFirst", "errorInfo",
    "tags", "masterNodeNum", "coreNodeNum", "masterNodeSize", "coreNodeSize",
    "masterNodeProductId", "masterNodeSpecId", "coreNodeProductId", "coreNodeSpecId",
    "masterDataVolumeType", "masterDataVolumeSize", "masterDataVolumeCount",
    "coreDataVolumeType", "coreDataVolumeSize", "coreDataVolumeCount",
    "enterpriseProjectId", "isMrsManagerFinish", "logCollection", "periodType", "scale",
    "nodeGroups", "taskNodeGroups", "eipId", "eipAddress", "eipv6Address", "azCategory",
)

_COMPONENT_DESC = {
    Component.SPARK: "Spark: fast, general-purpose cluster computing",
    Component.HIVE: "Hive: SQL over the cluster's files (through Spark SQL here)",
    Component.HADOOP: "Hadoop: MapReduce jobs and DistCp",
    Component.FLINK: "Flink: stream processing",
}



def _param(name: str) -> Any:
    return Query(alias=name)


def cluster_service(request: Request) -> ClusterService:
    svc: ClusterService = request.app.state.clusters
    return svc


# -- requests ---------------------------------------------------------------------


def parse_tags(raw: str | None) -> tuple[tuple[str, str | None], ...]:
    """``k1*v1,k2*v2,k3``: (key, value) pairs, a value None where none is given."""
    if not raw:
        return ()
    items = raw.split(",")
    if len(items) > MAX_TAGS:
        raise InvalidParameter("tags", f"has more than {MAX_TAGS} tags")
    tags: list[tuple[str, str | None]] = []
    for item in items:
        key, star, value = item.partition("*")
        if not key or len(key) > 128 or len(value) > 255:
            raise InvalidParameter(
                "tags", f"{item!r}: expected key*value or key, a key of 1-128 and a value "
                        "of at most 255 characters, comma-separated")
        tags.append((key, value if star else None))
    return tuple(tags)


def cluster_query(project_id: str, params: Mapping[str, str]) -> ClusterQuery:
    """A cluster list query from the query string the SDK sends."""
    for name, value in params.items():
        check_text(name, value)
    state = query_text(params, "clusterState", 32)
    if state is not None and state not in CLUSTER_STATES:
        raise InvalidParameter("clusterState", f"must be one of {', '.join(CLUSTER_STATES)}")
    query_text(params, "enterpriseProjectId", 64)  # clusters here belong to none
    return ClusterQuery(
        project_id=project_id,
        page_size=query_int(params, "pageSize", 10, 1, MAX_PAGE_SIZE),
        current_page=query_int(params, "currentPage", 1, 1, 2**31 - 1),
        state=state,
        name=query_text(params, "clusterName", 64),
        tags=parse_tags(params.get("tags")))


# -- responses --------------------------------------------------------------------


def _seconds(ms: int | None) -> str | None:
    return None if ms is None else str(ms // 1000)


def _remark(cluster: Cluster) -> str:
    if cluster.engine is ClusterEngine.SPARK_STANDALONE:
        return f"engine {cluster.engine.value}, master {cluster.master_url}"
    return f"engine {cluster.engine.value}: jobs run on the service's host"


def cluster_info(cluster: Cluster) -> dict[str, Any]:
    """The SDK's v1 ``Cluster``: what we know filled in, every other field null."""
    master_host = (urlsplit(cluster.master_url).hostname
                   if cluster.master_url else None)
    created = _seconds(cluster.created_ms)
    return {
        **dict.fromkeys(NULL_FIELDS),
        "clusterId": cluster.id,
        "clusterName": cluster.name,
        "clusterState": "running",
        "createAt": created,
        "updateAt": created,
        "componentList": [
            {"componentId": c.value, "componentName": c.value, "componentVersion": None,
             "componentDesc": _COMPONENT_DESC[c]}
            for c in sorted(cluster.components, key=lambda c: c.value)],
        "tenantId": cluster.project_id,
        "masterNodeIp": master_host,
        "remark": _remark(cluster),
        "clusterType": 0,  # an analysis cluster
    }


# -- routes -----------------------------------------------------------------------


@router.get(CLUSTER_INFOS)
def list_clusters(request: Request, project_id: ProjectId,
                  page_size: Annotated[str | None, _param("pageSize")] = None,
                  current_page: Annotated[str | None, _param("currentPage")] = None,
                  cluster_state: Annotated[str | None, _param("clusterState")] = None,
                  cluster_name: Annotated[str | None, _param("clusterName")] = None,
                  tags: Annotated[str | None, _param("tags")] = None) -> JSONResponse:
    # The parameters are declared for the OpenAPI document; they are parsed below,
    # after the caller is checked, by cluster_query.
    caller, clusters = who(request), cluster_service(request)
    clusters.authorize(caller, project_id)
    total, found = clusters.list(caller, cluster_query(project_id, request.query_params))
    return JSONResponse({"clusterTotal": total, "clusters": [cluster_info(c) for c in found]})


@router.get(CLUSTER_INFOS + "/{cluster_id}")
def show_cluster(request: Request, project_id: ProjectId, cluster_id: ClusterId
                 ) -> JSONResponse:
    cluster = cluster_service(request).show(who(request), project_id, cluster_id)
    return JSONResponse({"cluster": cluster_info(cluster)})
