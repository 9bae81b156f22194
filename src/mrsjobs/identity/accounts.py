"""The identity use cases: users, access keys, tokens, and turning a credential into
an :class:`Identity`. No HTTP and no SQL here; no secret ever goes into a message."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from ..domain.access import AuthMethod, Identity, Role
from ..domain.errors import AuthenticationFailed
from ..store.identity import AccessKey, IdentityStore, Project, TokenRecord, User
from ..telemetry.instruments import SIGNIN_FAILURES
from . import signing
from .crypto import SecretBox, check_password, hash_password, hash_token, new_access_key, new_token
from .throttle import BoundedPool, Limits, SignInGuard

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: How long a running server trusts what it has looked up of an access key or a token:
#: a deleted key, or a token revoked through another instance, stops working within
#: this time (at once on the instance that revoked it). Expiry is checked every time.
CREDENTIAL_CACHE_S = 5.0

#: A sign-in failure does not say whether the user or the password was wrong.
BAD_LOGIN = "Invalid authentication: the user name or password is wrong."


@functools.cache
def _dummy_hash() -> str:
    """Checked against when there is no user or no password, so that a failure takes
    as long either way."""
    return hash_password("no password matches this")


def _fail(check: str) -> AuthenticationFailed:
    return AuthenticationFailed(f"Invalid authentication: {check}.")


class _Guessed(AuthenticationFailed):
    """An AK/SK refusal that may be a guess (an unknown key, a wrong signature): it
    counts against the source and the key. Other refusals (a stale X-Sdk-Date, a
    malformed header) are mistakes of honest clients."""


def _subject(user_id: str | None, user_name: str | None) -> str:
    return f"user-id:{user_id}" if user_id else f"user:{user_name or ''}"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    user: User
    project: Project
    issued_ms: int
    expires_ms: int


@dataclass(frozen=True, slots=True)
class _CachedKey:
    key: AccessKey
    secret: str


class _Recent(Generic[K, V]):
    """What was looked up lately, for :data:`CREDENTIAL_CACHE_S`: authenticating a
    request should not cost a database round trip every time."""

    def __init__(self) -> None:
        self._items: dict[K, tuple[V, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._items.get(key)
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()  # crude, but bounded; misses only cost a lookup
            self._items[key] = (value, time.monotonic() + CREDENTIAL_CACHE_S)

    def drop(self, key: K) -> None:
        with self._lock:
            self._items.pop(key, None)


class Accounts:
    def __init__(self, store: IdentityStore, box: SecretBox, *, token_ttl_s: float = 86400,
                 sign_window_s: float = 900, clock: Callable[[], float] = time.time,
                 limits: Limits | None = None) -> None:
        if limits is None:
            from ..settings import Settings  # the MRSJOBS_* variables, as the server has them

            limits = Limits.from_settings(Settings())
        self.guard = SignInGuard(limits)
        # scrypt costs 16 MiB and tens of ms of a core: a few at a time, whatever comes.
        self.hashing = BoundedPool(limits.hash_concurrency, limits.hash_wait_s,
                                   limits.hash_queue)
        self.store = store
        self.box = box
        self.token_ttl_s = token_ttl_s
        self.sign_window_s = sign_window_s
        self.clock = clock
        self._keys: _Recent[str, _CachedKey] = _Recent()
        self._tokens: _Recent[str, TokenRecord] = _Recent()

    # -- administration (the CLI) ---------------------------------------------------

    def create_user(self, project_id: str, name: str, role: Role, password: str | None) -> User:
        hashed = self.hashing.run(lambda: hash_password(password)) if password else None
        return self.store.add_user(project_id, name, role, hashed)

    def ensure_user(self, project_id: str, name: str) -> User:
        """The named user, created as a member (with no password) if missing."""
        return self.store.user_named(project_id, name) or self.create_user(
            project_id, name, Role.MEMBER, None)

    def create_access_key(self, user: User, description: str = "") -> tuple[str, str]:
        """A new access key of ``user``: (AK, SK). The SK is shown only here."""
        ak, sk = new_access_key()
        self.store.add_access_key(ak, user, self.box.seal(sk), description)
        return ak, sk

    def issue_token(self, user: User, method: str,
                    not_after_ms: int | None = None) -> tuple[str, int, int]:
        """A new token of ``user``: (token, issued ms, expires ms)."""
        token = new_token()
        expires_ms = int((self.clock() + self.token_ttl_s) * 1000)
        if not_after_ms is not None:
            expires_ms = min(expires_ms, not_after_ms)
        issued_ms = self.store.add_token(hash_token(token), user, method, expires_ms)
        return token, issued_ms, expires_ms

    # -- Keystone password sign-in --------------------------------------------------

    def _scope(self, project_id: str | None, project_name: str | None) -> list[Project]:
        if project_id:
            project = self.store.project(project_id)
            return [project] if project else []
        if project_name:
            return self.store.projects_named(project_name)
        return self.store.projects()

    def password_login(self, *, password: str, user_id: str | None = None,
                       user_name: str | None = None, project_id: str | None = None,
                       project_name: str | None = None, source: str | None = None
                       ) -> IssuedToken:
        """A token for the user, scoped to its project. Users belong to one project,
        so an unscoped request gets that project.

        Failures count against ``source`` (the caller's address) and the user name or
        id given; over the limit of either the answer is 429, before any hashing."""
        subject = _subject(user_id, user_name)
        self.guard.check(source, subject)
        try:
            issued = self._password_login(password, user_id, user_name, project_id,
                                          project_name)
        except AuthenticationFailed:
            SIGNIN_FAILURES.labels("password").inc()
            self.guard.failed(source, subject)
            raise
        self.guard.succeeded(subject)
        return issued

    def _check_password(self, password: str, stored: str | None) -> bool:
        return self.hashing.run(lambda: check_password(password, stored or _dummy_hash()))

    def _password_login(self, password: str, user_id: str | None, user_name: str | None,
                        project_id: str | None, project_name: str | None) -> IssuedToken:
        scoped = bool(project_id or project_name)
        candidates = {p.id: p for p in self._scope(project_id, project_name)}
        if scoped and not candidates:
            raise _fail("the project in the scope does not exist")
        if user_id:
            found = self.store.user(user_id)
            users = [found] if found else []
        else:
            users = [u for u in self.store.users(name=user_name or "")
                     if u.project_id in candidates]
        if len(users) > 1:
            raise _fail("the user name is ambiguous: give a project scope")
        if not users:
            self._check_password(password, None)  # as slow as a real check
            raise AuthenticationFailed(BAD_LOGIN)
        user = users[0]
        if not self._check_password(password, user.password_hash):
            raise AuthenticationFailed(BAD_LOGIN)
        if user.project_id not in candidates:
            raise _fail("the user has no role on the project in the scope")
        token, issued_ms, expires_ms = self.issue_token(user, "password")
        return IssuedToken(token, user, candidates[user.project_id], issued_ms, expires_ms)

    def token_login(self, *, token: str, project_id: str | None = None,
                    project_name: str | None = None, source: str | None = None
                    ) -> IssuedToken:
        """A new token for the holder of a valid one (Keystone's ``token`` method, as
        keystoneauth1's ``Token`` plugin sends it): the same user and project, and no
        later expiry, so a stolen token cannot be renewed for ever."""
        record = self._valid_token(token, "token", source)
        user = self.store.user(record.user_id) if record.user_id else None
        if user is None:
            raise _fail("the token belongs to no user that can sign in")
        if (project_id or project_name) and user.project_id not in {
                p.id for p in self._scope(project_id, project_name)}:
            raise _fail("the user has no role on the project in the scope")
        project = self.store.project(user.project_id)
        if project is None:
            raise _fail("the token is not valid")
        new, issued_ms, expires_ms = self.issue_token(user, "token", record.expires_ms)
        return IssuedToken(new, user, project, issued_ms, expires_ms)

    # -- tokens ---------------------------------------------------------------------

    def _valid_token(self, token: str, header: str, source: str | None = None) -> TokenRecord:
        """The token's record. An unknown one counts against ``source``, which, over the
        limit, gets 429 instead of 401; a valid token is never refused (it is 256 random
        bits, and checking it costs one indexed lookup, no more than a good one)."""
        token_hash = hash_token(token)
        record = self._tokens.get(token_hash)
        if record is None:
            record = self.store.token(token_hash)
            if record is None:
                SIGNIN_FAILURES.labels("token").inc()
                self.guard.check(source)
                self.guard.failed(source)
                raise _fail(f"the {header} is not valid")
            self._tokens.put(token_hash, record)
        if record.revoked_ms is not None:
            raise _fail(f"{header} revoked")
        # Tokens made before expiry existed have none.
        if record.expires_ms is not None and record.expires_ms <= self.clock() * 1000:
            raise _fail(f"{header} expired")
        return record

    def token_identity(self, token: str | None, source: str | None = None) -> Identity:
        if not token:
            raise _fail("X-Auth-Token is missing")
        r = self._valid_token(token, "token", source)
        return Identity(r.project_id, r.user_name, r.role, AuthMethod.TOKEN, r.user_id or "")

    def subject(self, caller: Identity, token: str | None) -> tuple[TokenRecord, User, Project]:
        """The token named by ``X-Subject-Token``, if the caller may see it: its own
        tokens, and every token of its project for an admin."""
        if not token:
            raise _fail("X-Subject-Token is missing")
        record = self._valid_token(token, "subject token")
        user = self.store.user(record.user_id) if record.user_id else None
        project = self.store.project(record.project_id)
        own = record.user_id == caller.user_id
        admin = caller.role is Role.ADMIN and caller.project_id == record.project_id
        if user is None or project is None or not (own or admin):
            raise _fail("the subject token is not valid")
        return record, user, project

    def revoke(self, caller: Identity, token: str | None) -> None:
        self.subject(caller, token)
        assert token is not None
        self.store.revoke_token(hash_token(token))
        self._tokens.drop(hash_token(token))

    # -- AK/SK signatures -----------------------------------------------------------

    def _access_key(self, access_key: str) -> _CachedKey:
        cached = self._keys.get(access_key)
        if cached is None:
            key = self.store.access_key(access_key)
            if key is None:
                raise _Guessed("Invalid authentication: unknown access key.")
            cached = _CachedKey(key, self.box.open(key.secret_sealed))
            self._keys.put(access_key, cached)
        return cached

    def signed_identity(self, req: signing.SignedRequest, authorization: str,
                        source: str | None = None) -> Identity:
        """The key's identity if the signature holds. An unknown key or a wrong
        signature counts against ``source`` and the access key id; over the limit of the
        key id the answer is 429 before the signature is checked, so a key's secret
        cannot be guessed at speed. Over the source's limit only a failure gets 429."""
        auth = signing.parse_authorization(authorization)
        subject = f"ak:{auth.access_key}"
        self.guard.check(None, subject)
        try:
            found = self._access_key(auth.access_key)
            key = found.key
            project = req.headers.get("x-project-id")
            if project is not None and project != key.project_id:
                raise _fail("X-Project-Id is not the project of the access key")
            now = datetime.fromtimestamp(self.clock(), UTC)
            signing.check_date(signing.parse_date(req.headers.get("x-sdk-date")), now,
                               self.sign_window_s)
            try:
                signing.verify(req, auth, found.secret, now, self.sign_window_s)
            except AuthenticationFailed as exc:
                raise _Guessed(exc.message) from None
        except _Guessed:
            SIGNIN_FAILURES.labels("aksk").inc()
            self.guard.check(source)
            self.guard.failed(source, subject)
            raise
        return Identity(key.project_id, key.user_name, key.role, AuthMethod.AKSK, key.user_id)
