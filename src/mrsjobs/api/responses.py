"""What each route answers, as JSON Schemas for the OpenAPI document: the bodies of its
success and the error envelope of its API, with the statuses it really answers with.

Objects list the keys every answer has (``required``) and leave the others open:
extension fields may be added without breaking a client that reads the document.
"""

from __future__ import annotations

from typing import Any

from ..domain.jobs import JobResult, JobState, JobType
from .keystone import TOKENS
from .sahara import SAHARA, SaharaStatus
from .spark_ui import SPARK_UI
from .v2 import JOBS
from .v11 import V11FinalStatus, V11State

Schema = dict[str, Any]

STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
NULL: Schema = {"type": "null"}


def maybe(schema: Schema) -> Schema:
    return {"anyOf": [schema, NULL]}


def obj(**props: Schema) -> Schema:
    """An object with every key of ``props``."""
    return {"type": "object", "properties": props, "required": sorted(props)}


def arr(item: Schema) -> Schema:
    return {"type": "array", "items": item}


def enum(values: list[Any]) -> Schema:
    return {"enum": values}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


# -- error envelopes ------------------------------------------------------------------

ENVELOPES: dict[str, Schema] = {
    "MrsError": {**obj(error_code=STR, error_msg=STR),
                 "description": "MRS's error: its code (e.g. 0176, 12000002) and message."},
    "SaharaError": {**obj(error_code=INT, error_name=STR, error_message=STR, error_msg=STR,
                          mrs_code=STR),
                    "description": "Sahara's error (its HTTP status as error_code), with "
                                   "the MRS code as mrs_code."},
    "KeystoneError": {**obj(error=obj(code=INT, title=STR, message=STR), error_code=STR,
                            error_msg=STR),
                      "description": "Keystone's error, with MRS's keys too."},
}

#: What every API may answer besides its success: bad input, bad credentials, a body
#: over the limit, throttled sign-ins, and an unexpected failure.
ERRORS = {400: "Bad request: the message names the field.",
          401: "Authentication failed.", 413: "The request body is over the limit.",
          429: "Too many failed sign-ins: try again after Retry-After seconds.",
          500: "Unexpected failure."}

# -- bodies -------------------------------------------------------------------------

JOB_V2 = obj(
    job_id=STR, user=STR, job_name=STR,
    job_result=enum([r.value for r in JobResult]),
    job_state=enum([s.value for s in JobState]),
    job_progress=NUM, job_type=enum([t.value for t in JobType]),
    started_time=INT, submitted_time=INT, finished_time=INT, elapsed_time=INT,
    arguments={**STR, "description": "Java's List.toString(): [a, b]"},
    properties={**STR, "description": "Java's Map.toString(): {k=v, k2=v2}"},
    launcher_id=STR, app_id=STR, tracking_url=STR, queue=STR)

_V11_COMMON: dict[str, Schema] = {
    "id": STR, "tenant_id": STR, "job_id": STR, "job_name": STR, "cluster_id": STR,
    "group_id": STR, "jar_path": STR, "input": STR, "output": STR, "job_log": STR,
    "job_type": INT, "file_action": STR, "arguments": STR, "hql": STR,
    "job_state": enum([int(s) for s in V11State]),
    "job_final_status": enum([int(s) for s in V11FinalStatus]),
    "hive_script_path": STR, "create_by": STR, "update_by": STR,
}
JOB_V11_EXE = obj(**_V11_COMMON, create_at=INT, update_at=INT, start_time=maybe(INT),
                  end_time=maybe(INT), spend_time=maybe(NUM), progress=STR)
JOB_V11_SUBMITTED = obj(**_V11_COMMON, created_at=INT, updated_at=INT,
                        start_time=maybe(INT), end_time=maybe(INT),
                        return_code=maybe(STR))

_ISO = maybe({**STR, "description": "UTC, ISO 8601 without a zone"})
JOB_SAHARA = obj(
    id=STR, tenant_id=STR, cluster_id=STR, created_at=_ISO, updated_at=_ISO,
    start_time=_ISO, end_time=_ISO, engine_job_id=maybe(STR), return_code=maybe(STR),
    job_configs=obj(configs={"type": "object", "additionalProperties": STR},
                    args=arr(STR), params={"type": "object"}),
    info=obj(status=enum([s.value for s in SaharaStatus])))

CLUSTER = obj(clusterId=STR, clusterName=STR, clusterState=STR, createAt=maybe(STR),
              tenantId=STR, remark=STR, clusterType=INT,
              componentList=arr(obj(componentId=STR, componentName=STR,
                                    componentDesc=STR)))

FILE = obj(path_suffix=STR, owner=STR, group=STR, permission=STR, replication=INT,
           block_size=INT, length=INT, type=enum(["FILE", "DIRECTORY"]), children_num=INT,
           access_time=INT, modification_time=INT)

_NAMED = obj(id=STR, name=STR)
TOKEN = obj(token=obj(
    methods=arr(STR), user=_NAMED, project=_NAMED, roles=arr(_NAMED),
    catalog=arr(obj(type=STR, name=STR, endpoints=arr(obj(interface=STR, url=STR)))),
    issued_at=STR, expires_at=maybe(STR)))
VERSION = obj(id=STR, status=STR, links=arr(obj(rel=STR, href=STR)))

SCHEMAS: dict[str, Schema] = {
    **ENVELOPES, "JobV2": JOB_V2, "JobExeV11": JOB_V11_EXE,
    "JobSubmittedV11": JOB_V11_SUBMITTED, "JobSahara": JOB_SAHARA, "ClusterInfo": CLUSTER,
    "FileStatus": FILE, "KeystoneToken": TOKEN, "KeystoneVersion": VERSION,
}

# -- routes -------------------------------------------------------------------------

_SAHARA_JOB = obj(job_execution=ref("JobSahara"))
_FILES = "/v2/{project_id}/clusters/{cluster_id}/files"
_INFOS = "/v1.1/{project_id}/cluster_infos"

#: (method, path) -> (success status, its body's schema or None for no body).
SUCCESS: dict[tuple[str, str], tuple[int, Schema | None]] = {
    ("post", JOBS): (202, obj(job_submit_result=obj(job_id=STR, state=STR))),
    ("get", JOBS): (202, obj(total_record=INT, job_list=arr(ref("JobV2")))),
    ("post", JOBS + "/batch-delete"): (202, None),
    ("get", JOBS + "/{job_execution_id}"): (202, obj(job_detail=ref("JobV2"))),
    ("post", JOBS + "/{job_execution_id}/kill"): (202, None),
    ("get", JOBS + "/{job_execution_id}/log"): (200, STR),
    ("get", JOBS + "/{job_execution_id}/sql-result"): (202, {
        **obj(sql_results={"type": "object", "additionalProperties": arr(
            {"type": "object", "additionalProperties": STR})}),
        "description": "Each statement's rows (by its index) as objects of strings; "
                       "{\"result\": \"succeed\"} for a statement without rows."}),
    ("post", "/v1.1/{project_id}/jobs/submit-job"):
        (200, obj(job_execution=ref("JobSubmittedV11"))),
    ("get", "/v1.1/{project_id}/job-exes"):
        (200, obj(totalRecord=INT, job_executions=arr(ref("JobExeV11")))),
    ("get", "/v1.1/{project_id}/job-exes/{job_exe_id}"):
        (200, obj(job_execution=ref("JobExeV11"))),
    ("get", SAHARA): (200, obj(markers=obj(prev=maybe(STR), next=maybe(STR)),
                               job_executions=arr(ref("JobSahara")))),
    ("get", SAHARA + "/{job_execution_id}"): (200, _SAHARA_JOB),
    ("patch", SAHARA + "/{job_execution_id}"): (202, _SAHARA_JOB),
    ("delete", SAHARA + "/{job_execution_id}"): (204, None),
    ("get", SAHARA + "/{job_execution_id}/cancel"): (200, _SAHARA_JOB),
    ("get", _INFOS): (200, obj(clusterTotal=INT, clusters=arr(ref("ClusterInfo")))),
    ("get", _INFOS + "/{cluster_id}"): (200, obj(cluster=ref("ClusterInfo"))),
    ("get", SPARK_UI): (200, {**STR, "description": "What the job's Spark UI answers "
                                                   "(a page, an asset, its REST API's JSON)."}),
    ("head", SPARK_UI): (200, None),
    ("get", _FILES): (200, obj(total_count=INT, files=arr(ref("FileStatus")))),
    ("put", _FILES): (201, ref("FileStatus")),
    ("delete", _FILES): (204, None),
    ("get", "/"): (300, obj(versions=obj(values=arr(ref("KeystoneVersion"))))),
    ("get", "/v3"): (200, obj(version=ref("KeystoneVersion"))),
    ("get", "/v3/"): (200, obj(version=ref("KeystoneVersion"))),
    ("post", TOKENS): (201, ref("KeystoneToken")),
    ("get", TOKENS): (200, ref("KeystoneToken")),
    ("head", TOKENS): (200, None),
    ("delete", TOKENS): (204, None),
}

#: Routes whose errors wear another envelope than MRS's, and statuses they add.
ENVELOPE_OF = {SAHARA: "SaharaError", "/v3": "KeystoneError"}
EXTRA_ERRORS: dict[str, dict[int, str]] = {
    SAHARA: {404: "No such job (Sahara's clients expect 404)."},
    _FILES: {404: "No such file or directory in the cluster's file area."},
    SPARK_UI: {404: "No such job for the caller (0176), or no such page of the UI.",
               409: "The job does not run, or its Spark UI is not up (12000054)."},
}
#: Routes that answer what another server answered, of any content type.
PROXIED = {("get", SPARK_UI)}
#: Routes that answer text: a log's bytes, or (follow=true) its server-sent events.
TEXT = {("get", JOBS + "/{job_execution_id}/log")}
#: One server-sent event of a followed log: ``data`` is log text, ``id`` the offset to
#: resume from; the last event is ``end`` with the job's state and result as JSON.
LOG_EVENT: Schema = {"type": "object", "properties": {
    "event": enum(["message", "end"]), "data": STR, "id": STR}}
#: Headers of a log's answer.
LOG_HEADERS: dict[str, Schema] = {
    "X-Log-Offset": {"schema": INT, "description": "Offset of the first byte sent."},
    "X-Log-Next-Offset": {"schema": INT, "description": "Offset to read on from."},
    "X-Log-Size": {"schema": INT, "description": "The log's size now."},
    "X-Job-State": {"schema": STR, "description": "The job's state now."},
}
#: Routes that answer with the token they issue or check (X-Subject-Token).
SUBJECT_TOKEN = {("post", TOKENS), ("get", TOKENS), ("head", TOKENS)}
#: Routes that anyone may call: version discovery and signing in.
OPEN = {("get", "/"), ("get", "/v3"), ("get", "/v3/"), ("post", TOKENS)}
