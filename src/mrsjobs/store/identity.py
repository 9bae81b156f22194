"""Persistence of projects, users, tokens, access keys and the audit log.

Shares the job store's engine and its writer queue. Secrets arrive here already
hashed (passwords, tokens) or sealed (secret keys).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update

from ..domain.access import Action, Identity, Role
from ..domain.clock import now_ms
from .tables import access_keys, audit_events, clusters, jobs, projects, tokens, users


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    name: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class User:
    id: str
    project_id: str
    name: str
    role: Role
    password_hash: str | None
    created_ms: int


@dataclass(frozen=True, slots=True)
class TokenRecord:
    project_id: str
    user_name: str
    user_id: str | None
    role: Role
    method: str | None
    created_ms: int
    expires_ms: int | None
    revoked_ms: int | None


@dataclass(frozen=True, slots=True)
class AccessKey:
    access_key: str
    project_id: str
    user_id: str
    user_name: str
    role: Role
    secret_sealed: str
    description: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class AuditEvent:
    at_ms: int
    project_id: str
    user: str
    method: str
    action: str
    job_id: str
    request_id: str


class Conflict(Exception):
    """The named thing exists already, or is still in use."""


# The per-request lookups, built once (see statements.py for why).
TOKEN = (
    select(tokens.c.project_id, tokens.c.user_name, tokens.c.user_id, tokens.c.method,
           tokens.c.created_ms, tokens.c.expires_ms, tokens.c.revoked_ms, users.c.role)
    .select_from(tokens.outerjoin(users, users.c.id == tokens.c.user_id))
    .where(tokens.c.token_hash == bindparam("p_hash"))
)
ACCESS_KEY = (
    select(access_keys, users.c.name.label("user_name"), users.c.role)
    .join(users, users.c.id == access_keys.c.user_id)
)
ACCESS_KEY_BY_ID = ACCESS_KEY.where(access_keys.c.access_key == bindparam("p_ak"))


def _user(row: Any) -> User:
    return User(row.id, row.project_id, row.name, Role(row.role), row.password_hash,
                row.created_ms)


def _key(row: Any) -> AccessKey:
    return AccessKey(row.access_key, row.project_id, row.user_id, row.user_name, Role(row.role),
                     row.secret_sealed, row.description, row.created_ms)


def audit_event(who: Identity, action: Action) -> dict[str, Any]:
    """An ``audit_events`` row of ``who`` doing ``action`` now, all but its job id."""
    return {"at_ms": now_ms(), "project_id": who.project_id, "user_name": who.user,
            "method": who.method.value, "action": action.value,
            "request_id": who.request_id}


class IdentityStore:
    def __init__(self, engine: Engine,
                 write: Callable[[], AbstractContextManager[Connection]]) -> None:
        self.engine = engine
        self._write = write

    # -- projects -------------------------------------------------------------------

    def projects(self) -> list[Project]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(projects).order_by(projects.c.created_ms))
            return [Project(r.id, r.name, r.created_ms) for r in rows]

    def project(self, project_id: str) -> Project | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(projects).where(projects.c.id == project_id)).first()
        return Project(r.id, r.name, r.created_ms) if r else None

    def projects_named(self, name: str) -> list[Project]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(projects).where(projects.c.name == name))
            return [Project(r.id, r.name, r.created_ms) for r in rows]

    def delete_project(self, project_id: str) -> bool:
        """Remove a project with everything it holds but jobs: one with jobs is refused."""
        with self._write() as conn:
            if conn.execute(select(jobs.c.id).where(jobs.c.project_id == project_id)
                            .limit(1)).first():
                raise Conflict(f"project {project_id} still has jobs; delete them first")
            conn.execute(delete(tokens).where(tokens.c.project_id == project_id))
            conn.execute(delete(access_keys).where(access_keys.c.project_id == project_id))
            conn.execute(delete(users).where(users.c.project_id == project_id))
            conn.execute(delete(clusters).where(clusters.c.project_id == project_id))
            return conn.execute(delete(projects).where(projects.c.id == project_id)
                                ).rowcount > 0

    # -- users ----------------------------------------------------------------------

    def add_user(self, project_id: str, name: str, role: Role,
                 password_hash: str | None) -> User:
        user = User(uuid.uuid4().hex, project_id, name, role, password_hash, now_ms())
        with self._write() as conn:
            if self._user_named(conn, project_id, name) is not None:
                raise Conflict(f"user {name} exists already in project {project_id}")
            conn.execute(insert(users).values(
                id=user.id, project_id=project_id, name=name, role=role.value,
                password_hash=password_hash, created_ms=user.created_ms))
        return user

    @staticmethod
    def _user_named(conn: Connection, project_id: str, name: str) -> User | None:
        row = conn.execute(select(users).where(users.c.project_id == project_id,
                                               users.c.name == name)).first()
        return _user(row) if row else None

    def user_named(self, project_id: str, name: str) -> User | None:
        with self.engine.connect() as conn:
            return self._user_named(conn, project_id, name)

    def user(self, user_id: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.id == user_id)).first()
        return _user(row) if row else None

    def users(self, project_id: str | None = None, name: str | None = None) -> list[User]:
        stmt = select(users).order_by(users.c.created_ms)
        if project_id is not None:
            stmt = stmt.where(users.c.project_id == project_id)
        if name is not None:
            stmt = stmt.where(users.c.name == name)
        with self.engine.connect() as conn:
            return [_user(r) for r in conn.execute(stmt)]

    def delete_user(self, user_id: str) -> bool:
        """The user, its tokens and its access keys."""
        with self._write() as conn:
            conn.execute(delete(tokens).where(tokens.c.user_id == user_id))
            conn.execute(delete(access_keys).where(access_keys.c.user_id == user_id))
            return conn.execute(delete(users).where(users.c.id == user_id)).rowcount > 0

    # -- tokens ---------------------------------------------------------------------

    def add_token(self, token_hash: str, user: User, method: str, expires_ms: int) -> int:
        created = now_ms()
        with self._write() as conn:
            conn.execute(insert(tokens).values(
                token_hash=token_hash, project_id=user.project_id, user_name=user.name,
                user_id=user.id, method=method, created_ms=created, expires_ms=expires_ms))
        return created

    def token(self, token_hash: str) -> TokenRecord | None:
        """The hot path of every token-authenticated call: one primary-key lookup."""
        with self.engine.connect() as conn:
            r = conn.execute(TOKEN, {"p_hash": token_hash}).first()
        if r is None:
            return None
        # Tokens made before users existed carry no user: they act as members.
        role = Role(r.role) if r.role else Role.MEMBER
        return TokenRecord(r.project_id, r.user_name, r.user_id, role, r.method, r.created_ms,
                           r.expires_ms, r.revoked_ms)

    def revoke_token(self, token_hash: str) -> bool:
        with self._write() as conn:
            return conn.execute(
                update(tokens).where(tokens.c.token_hash == token_hash,
                                     tokens.c.revoked_ms.is_(None))
                .values(revoked_ms=now_ms())).rowcount > 0

    # -- access keys ----------------------------------------------------------------

    def add_access_key(self, access_key: str, user: User, secret_sealed: str,
                       description: str) -> None:
        with self._write() as conn:
            conn.execute(insert(access_keys).values(
                access_key=access_key, user_id=user.id, project_id=user.project_id,
                secret_sealed=secret_sealed, description=description, created_ms=now_ms()))

    def access_key(self, access_key: str) -> AccessKey | None:
        with self.engine.connect() as conn:
            row = conn.execute(ACCESS_KEY_BY_ID, {"p_ak": access_key}).first()
        return _key(row) if row else None

    def access_keys(self, project_id: str | None = None) -> list[AccessKey]:
        stmt = ACCESS_KEY.order_by(access_keys.c.created_ms)
        if project_id is not None:
            stmt = stmt.where(access_keys.c.project_id == project_id)
        with self.engine.connect() as conn:
            return [_key(r) for r in conn.execute(stmt)]

    def delete_access_key(self, access_key: str) -> bool:
        with self._write() as conn:
            return conn.execute(delete(access_keys).where(
                access_keys.c.access_key == access_key)).rowcount > 0

    # -- audit log ------------------------------------------------------------------

    def record(self, who: Identity, action: Action, job_ids: Iterable[str]) -> None:
        event = audit_event(who, action)
        rows = [{**event, "job_id": job_id} for job_id in job_ids]
        if rows:
            with self._write() as conn:
                conn.execute(insert(audit_events), rows)

    def audit_events(self, project_id: str | None = None, limit: int = 100
                     ) -> Iterator[AuditEvent]:
        """The newest ``limit`` events, oldest first."""
        newest = select(audit_events).order_by(audit_events.c.seq.desc()).limit(limit)
        if project_id is not None:
            newest = newest.where(audit_events.c.project_id == project_id)
        sub = newest.subquery()
        with self.engine.connect() as conn:
            rows = conn.execute(select(sub).order_by(sub.c.seq)).all()
        for r in rows:
            yield AuditEvent(r.at_ms, r.project_id, r.user_name, r.method, r.action, r.job_id,
                             r.request_id)


__all__ = ["AccessKey", "AuditEvent", "Conflict", "IdentityStore", "Project",
           "TokenRecord", "User"]
