"""What the APIs share on the wire: request bodies as JSON and then as pydantic models,
the text no request may hold, query-string parameters, and how properties are shown.
Every refusal is an InvalidParameter naming the field (400, in the route's envelope)."""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, StringConstraints, ValidationError

from ..domain.errors import InvalidParameter
from ..domain.jobs import JobType

MAX_ARGUMENTS_CHARS = 150_000
#: How many arguments (v2 items, v1.1 words) a job may have: a job's command line
#: must fit the kernel's argv limits, however short each argument is.
MAX_ARGUMENTS = 10_000
#: How deeply the JSON of a request body may nest (objects and arrays).
MAX_JSON_DEPTH = 64

JobName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
]

M = TypeVar("M", bound=BaseModel)
E = TypeVar("E", bound=StrEnum)

# -- text ---------------------------------------------------------------------------------

#: What no text of a request may hold: NUL (databases refuse it) and UTF-16 surrogates,
#: which JSON decodes to when they are unpaired (no encoder accepts them).
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")
# In the JSON text: the characters themselves or escapes that may decode to them.
_MAYBE_BAD = re.compile(r"[\x00\ud800-\udfff]|\\u(?:0000|[dD][89a-fA-F])")
# A string (to its end if unterminated: one pass, never a rescan) or a bracket.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|([\[\]{}])', re.S)


def _printable_name(name: str) -> str:
    return _BAD_CHAR.sub("\ufffd", name)


def check_text(field: str, value: str) -> None:
    """InvalidParameter naming ``field`` if ``value`` has a NUL or an unpaired surrogate."""
    if _BAD_CHAR.search(value):
        raise InvalidParameter(_printable_name(field),
                               "must not contain NUL characters or unpaired surrogates")


def check_strings(value: Any) -> None:
    """Every key and string of a decoded JSON body through :func:`check_text`, each
    named by its place (``arguments[2]``, ``properties.key``)."""
    todo: deque[tuple[str, Any]] = deque([("", value)])
    while todo:
        place, item = todo.popleft()
        if isinstance(item, str):
            check_text(place or "body", item)
        elif isinstance(item, dict):
            for key, member in item.items():
                name = f"{place}.{key}" if place else key
                check_text(name, key)
                todo.append((name, member))
        elif isinstance(item, list):
            todo.extend((f"{place or 'body'}[{i}]", member) for i, member in enumerate(item))


# -- bodies -------------------------------------------------------------------------------


def check_json_depth(text: str, limit: int = MAX_JSON_DEPTH) -> None:
    """InvalidParameter if the JSON ``text`` nests objects and arrays deeper than
    ``limit``, found without decoding it (a decoder recurses once per level)."""
    if text.count("[") + text.count("{") <= limit:
        return
    depth = 0
    for bracket in _JSON_TOKEN.findall(text):
        if not bracket:
            continue
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            raise InvalidParameter("body", f"is nested deeper than {limit} levels")


def parse_json_body(raw: bytes) -> Any:
    """A request body as JSON (None if empty), in any encoding JSON allows, nested at
    most :data:`MAX_JSON_DEPTH` deep, with no NUL or unpaired surrogate in any string;
    InvalidParameter otherwise."""
    try:
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")
    except (UnicodeDecodeError, LookupError):
        raise InvalidParameter("body", "is not valid JSON") from None
    if not text.strip():
        return None
    check_json_depth(text)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidParameter("body", "is not valid JSON") from None
    if _MAYBE_BAD.search(text):
        check_strings(value)
    return value


def _first_error(exc: ValidationError) -> InvalidParameter:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "body"
    if err["type"] == "missing":
        return InvalidParameter(field, "is required")
    if err["type"] == "enum":
        allowed = ", ".join(t.value for t in JobType)
        return InvalidParameter(field, f"must be one of {allowed}")
    if err["type"] == "too_long" and isinstance(err.get("ctx"), dict):
        return InvalidParameter(field, f"has more than {err['ctx']['max_length']} items")
    return InvalidParameter(field, str(err["msg"]))


def parse_model(model: type[M], raw: Any) -> M:
    """A decoded JSON body as ``model``; InvalidParameter naming the first bad field."""
    if not isinstance(raw, dict):
        raise InvalidParameter("body", "must be a JSON object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _first_error(exc) from None


# -- query strings ------------------------------------------------------------------------


def query_int(params: Mapping[str, str], name: str, default: int, low: int, high: int
              ) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameter(name, "must be an integer") from None
    if not low <= value <= high:
        raise InvalidParameter(name, f"must be between {low} and {high}")
    return value


def query_enum(params: Mapping[str, str], name: str, cls: type[E]) -> E | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        value = cls(raw)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise InvalidParameter(name, f"must be one of {allowed}") from None
    return value


def query_text(params: Mapping[str, str], name: str, max_len: int) -> str | None:
    raw = params.get(name)
    if not raw:
        return None
    if len(raw) > max_len:
        raise InvalidParameter(name, f"longer than {max_len} characters")
    return raw


# -- responses ----------------------------------------------------------------------------

#: Property names whose values are secrets: shown masked in every view (stored as given,
#: for the job needs them).
SECRET_NAME = re.compile(r"password|secret|token|\.key$", re.IGNORECASE)
MASK = "******"


def shown_properties(properties: Mapping[str, str]) -> dict[str, str]:
    """A job's properties as every view shows them: secret values masked."""
    return {k: MASK if SECRET_NAME.search(k) else v for k, v in properties.items()}
