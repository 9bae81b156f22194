"""One SQL job's Connect session: its own SQL conf and temporary views on the project's
engine, every operation tagged with the job's id, its statements' rows as objects of
strings. Every call blocks (gRPC): callers run them in threads.

The session's id is derived from the job's, so that a restarted service can find the
session a job left and interrupt what still runs in it.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import grpc
from pyspark.errors import PySparkException
from pyspark.sql.connect.client import ChannelBuilder, DefaultChannelBuilder
from pyspark.sql.connect.client.retries import DefaultPolicy
from pyspark.sql.connect.session import SparkSession

from ...store.sql_results import Row, StatementResult

#: Session ids are UUIDs; one per job, the same for every service that asks.
_SESSION_NAMESPACE = uuid.UUID("5c2b1f0e-2f8e-4f7b-9a53-6d1c3f0a8e21")
USER_ID = "mrsjobs"
#: Tries again after a failed call (about 2 s in all) before the job fails.
RETRIES = 4


def session_id(job_id: str) -> str:
    return str(uuid.uuid5(_SESSION_NAMESPACE, job_id))


class _Channel(DefaultChannelBuilder):
    """A channel to the engine's socket (or loopback port) that sends its token. gRPC
    sends call credentials only over a channel it deems secure: a local one is."""

    def __init__(self, target: str, token: str, session: str) -> None:
        super().__init__(f"sc://localhost/;{ChannelBuilder.PARAM_TOKEN}={token};"
                         f"{ChannelBuilder.PARAM_SESSION_ID}={session};"
                         f"{ChannelBuilder.PARAM_USER_ID}={USER_ID}")
        self.target = target

    def toChannel(self) -> grpc.Channel:
        kind = (grpc.LocalConnectionType.UDS if self.target.startswith("unix:")
                else grpc.LocalConnectionType.LOCAL_TCP)
        creds = grpc.composite_channel_credentials(
            grpc.local_channel_credentials(kind),
            grpc.access_token_call_credentials(self.token or ""))
        return self._secure_channel(self.target, creds)


def error_class(exc: BaseException) -> str | None:
    """Spark's error condition of ``exc`` (``OPERATION_CANCELED``, ...), if it has one."""
    if isinstance(exc, PySparkException):
        return exc.getCondition()
    return None


def unavailable(exc: BaseException) -> bool:
    """``exc`` says the engine could not be reached (it died, or is not there)."""
    text = str(exc)
    return "StatusCode.UNAVAILABLE" in text or "status = StatusCode.UNAVAILABLE" in text


def _text(value: Any) -> str | None:
    """A value as Spark's SQL CLI shows it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, float | decimal.Decimal | int | str | datetime.date):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


class JobSession:
    """The Connect session of one job."""

    def __init__(self, target: str, token: str, job_id: str) -> None:
        self.job_id = job_id
        self.session_id = session_id(job_id)
        self._spark = SparkSession(connection=_Channel(target, token, self.session_id))
        # The client's default retries wait up to 10 minutes for an engine that does not
        # answer; an engine here is either up or dead, and a dead one fails the job.
        self._spark.client.set_retry_policies([DefaultPolicy(
            max_retries=RETRIES, initial_backoff=50, max_backoff=1000)])

    def configure(self, conf: Mapping[str, str]) -> None:
        """The job's settings as this session's SQL conf (PySparkException if refused)."""
        for key, value in conf.items():
            self._spark.conf.set(key, value)

    def run(self, index: int, statement: str, max_rows: int,
            go_on: Callable[[], bool] = lambda: True) -> StatementResult | None:
        """Run one statement (in the calling thread, which carries the job's tag) and
        keep at most ``max_rows`` of its rows. A statement without columns (DDL, DML)
        gives ``{"result": "succeed"}`` as MRS does.

        A query is two operations: its analysis, then its rows. An interrupt may meet
        the first just as it ends, without effect, so ``go_on`` is asked between them;
        None if it said no."""
        self._spark.addTag(self.job_id)
        frame = self._spark.sql(statement)
        if not go_on():
            return None
        table = frame.limit(max_rows + 1).toArrow()
        if table.num_columns == 0:
            return StatementResult(index, [{"result": "succeed"}])
        rows: list[Row] = [{k: _text(v) for k, v in row.items()}
                           for row in table.slice(0, max_rows).to_pylist()]
        return StatementResult(index, rows, truncated=table.num_rows > max_rows)

    def interrupt(self) -> list[str]:
        """Interrupt the job's operations (from any thread); the ids interrupted."""
        return list(self._spark.interruptTag(self.job_id))

    def close(self) -> None:
        """Release the session on the engine and close the channel."""
        # The engine may be gone: then nothing is left to release.
        with contextlib.suppress(Exception):
            self._spark.client.release_session()
        with contextlib.suppress(Exception):
            self._spark.client.close()
