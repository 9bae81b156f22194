"""Who is calling and what they may do: roles, sign-in methods, the caller. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"
    #: lists and shows jobs; every change is refused
    READONLY = "readonly"

    @property
    def may_change_jobs(self) -> bool:
        return self is not Role.READONLY


class AuthMethod(StrEnum):
    TOKEN = "token"
    AKSK = "aksk"


class Action(StrEnum):
    """The job changes that the audit log records."""

    SUBMIT = "submit"
    KILL = "kill"
    CANCEL = "cancel"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller, with the request it made (for the audit log)."""

    project_id: str
    user: str
    role: Role = Role.MEMBER
    method: AuthMethod = AuthMethod.TOKEN
    user_id: str = ""
    request_id: str = ""
