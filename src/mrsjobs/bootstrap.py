"""Opening a data directory: the store, the default project and cluster, the instance id."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass

from .domain.jobs import Component
from .identity.accounts import Accounts
from .identity.crypto import SecretBox, load_server_key
from .identity.throttle import Limits
from .settings import Settings
from .store import Store
from .store.identity import IdentityStore
from .store.serverkey import agree_on_key

DEFAULT_COMPONENTS = (Component.HADOOP, Component.SPARK, Component.HIVE)


class ServerKeyMismatch(RuntimeError):
    """This instance's server key is not the one the database's secret keys are sealed
    with: it must not start (every signed request would fail)."""


@dataclass(frozen=True)
class Defaults:
    project_id: str
    cluster_id: str
    created: bool


def open_store(settings: Settings) -> Store:
    # The database, the key, the logs and the runs are the service's alone.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)
    store = Store(settings.db_url, group_commit=settings.group_commit)
    store.migrate()
    return store


def open_accounts(settings: Settings, store: Store) -> Accounts:
    given = settings.secret_key.get_secret_value() if settings.secret_key else None
    key = load_server_key(settings.secret_key_file, given)
    box = SecretBox(key)
    check_server_key(store, key, box, "MRSJOBS_SECRET_KEY" if given
                     else f"the key file {settings.secret_key_file}")
    # One writer queue for the whole database (see Store._write).
    identities = IdentityStore(store.engine, store._write)
    return Accounts(identities, box, token_ttl_s=settings.token_ttl_s,
                    sign_window_s=settings.signature_window_s,
                    limits=Limits.from_settings(settings))


def key_fingerprint(key: bytes) -> str:
    """Names a server key without giving it away (an HMAC under the key)."""
    return hmac.new(key, b"mrsjobs server key fingerprint 1", hashlib.sha256).hexdigest()


def check_server_key(store: Store, key: bytes, box: SecretBox, source: str) -> None:
    """Refuse a server key other than the one the database's instances share."""
    def opens(sealed: str) -> bool:
        try:
            box.open(sealed)
        except ValueError:
            return False
        return True

    if not agree_on_key(store, key_fingerprint(key), opens):
        raise ServerKeyMismatch(
            f"this instance's server key ({source}) is not the one the other instances "
            "of this database seal secret keys with, so no access key would work here: "
            "set MRSJOBS_SECRET_KEY to the same key on every instance that shares the "
            "database")


def ensure_defaults(store: Store) -> Defaults:
    """The first project and its first cluster, created on first start (once, also
    when several instances start at once on a fresh database)."""
    project_id, cluster_id, created = store.ensure_first_cluster(
        uuid.uuid4().hex, "default", str(uuid.uuid4()), "local", DEFAULT_COMPONENTS)
    return Defaults(project_id, cluster_id, created)


def instance_id(settings: Settings) -> str:
    """A stable name for the supervisor of this data directory: it owns the jobs it
    launched, and a restarted service finds them again under the same name."""
    if settings.instance_id:
        return settings.instance_id
    path = settings.data_dir / "instance-id"
    if not path.exists():
        path.write_text(uuid.uuid4().hex + "\n")
    return path.read_text().strip()
