"""One exception tree. Each member carries its MRS error code and HTTP status;
the API maps them to ``{"error_code", "error_msg"}`` in one place.

::

    MrsError                      500 12000004 (anything unexpected)
     +-- AuthenticationFailed     401 12000001
     +-- AccessDenied             400 12000052 (as MRS answers it)
     +-- InvalidParameter         400 12000002
     |    +-- JarPathRequired     400 12000081
     |    +-- ScriptPathRequired  400 12000114
     +-- ClusterNotFound          400 12000003
     +-- JobNotFound              400 0176
     +-- JobTypeNotSupported      400 0057 / 0168 / 0169 / 12000054
     +-- FileListFailed           404 12000057 (no such file or directory in a file area)
     +-- FileAccessFailed         500 12000073 (the file area failed otherwise)
     +-- PayloadTooLarge          413 APIGW.0201 (as the API gateway answers it)
     +-- TooManyRequests          429 APIGW.0308 (as the API gateway throttles), Retry-After
     +-- ContainmentMissing       400 12000054 (jobs of a second project, uncontained)
     +-- SqlResultUnavailable     400 0179 / 0180 / 0181 / 0183 (no SQL result to show)
     +-- SparkUiUnavailable       409 12000054 (the job's Spark UI is not up)
    JobNotFound
     +-- UiJobNotFound            404 0176 (the Spark UI of a job the caller cannot see)
"""

from __future__ import annotations


class MrsError(Exception):
    """Internal server error."""

    code = "12000004"
    status = 500

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        super().__init__(self.message)


class AuthenticationFailed(MrsError):
    """Invalid authentication."""

    code = "12000001"
    status = 401


class AccessDenied(MrsError):
    """No access rights."""

    code = "12000052"
    status = 400


class InvalidParameter(MrsError):
    """The parameter is invalid."""

    code = "12000002"
    status = 400

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"The parameter is invalid: {field}: {problem}")


class JarPathRequired(InvalidParameter):
    code = "12000081"

    def __init__(self) -> None:
        super().__init__("jar_path", "The jar_path parameter cannot be left blank if the job "
                                     "type is MapReduce or Spark.")
        self.message = self.message.removeprefix("The parameter is invalid: jar_path: ")


class ScriptPathRequired(InvalidParameter):
    code = "12000114"

    def __init__(self) -> None:
        super().__init__("hive_script_path", "The hive_script_path parameter cannot be left "
                                             "blank if the job type is Hive or SparkScript.")
        self.message = self.message.removeprefix("The parameter is invalid: hive_script_path: ")


class ClusterNotFound(MrsError):
    """The cluster does not exist."""

    code = "12000003"
    status = 400


class JobNotFound(MrsError):
    """The job does not exist."""

    code = "0176"
    status = 400


class JobTypeNotSupported(MrsError):
    """The operation is not supported."""

    code = "12000054"
    status = 400

    def __init__(self, message: str, code: str | None = None) -> None:
        if code is not None:
            self.code = code
        super().__init__(message)


class FileListFailed(MrsError):
    """Failed to obtain the file list."""

    code = "12000057"
    status = 404


class FileAccessFailed(MrsError):
    """Failed to access the HDFS directory."""

    code = "12000073"
    status = 500


class PayloadTooLarge(MrsError):
    """Request entity too large."""

    code = "APIGW.0201"
    status = 413

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"Request entity too large: the limit is {limit} bytes.")


class TooManyRequests(MrsError):
    """The throttling threshold has been reached."""

    # What Huawei Cloud's API gateway answers when it throttles a caller: clients (and
    # huaweicloudsdkcore, which retries a 429 after its Retry-After) know it as "wait
    # and try again", where 12000001 would read as "wrong credentials".
    code = "APIGW.0308"
    status = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        #: Whole seconds until a new attempt may succeed: the ``Retry-After`` header.
        self.retry_after_s = max(1, retry_after_s)
        super().__init__(f"The throttling threshold has been reached: {message}; "
                         f"try again in {self.retry_after_s} s.")


class ContainmentMissing(MrsError):
    """The operation is not supported."""

    code = "12000054"
    status = 400


class SqlResultUnavailable(MrsError):
    """The SQL job result collection is empty."""

    # MRS lists these codes as 500s; they describe the caller's request (like 0176,
    # which is observed as 400), and a 5xx would read as "try again later" to clients.
    code = "0181"
    status = 400

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class UiJobNotFound(JobNotFound):
    """The job does not exist."""

    # The Spark UI's pages open in a browser: one answer, a plain 404, for a job that
    # does not exist and for one the caller's project may not see.
    status = 404


class SparkUiUnavailable(MrsError):
    """The operation is not supported."""

    code = "12000054"
    status = 409
