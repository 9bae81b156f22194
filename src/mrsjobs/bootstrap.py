"""Opening a data directory: the store, the default project and cluster, the instance id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from .accounts import Accounts
from .crypto import SecretBox, load_server_key
from .domain import Component
from .settings import Settings
from .store import Store
from .store.identity import IdentityStore

DEFAULT_COMPONENTS = (Component.HADOOP, Component.SPARK, Component.HIVE)


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
    box = SecretBox(load_server_key(settings.secret_key_file, given))
    # One writer queue for the whole database (see Store._write).
    identities = IdentityStore(store.engine, store._write)
    return Accounts(identities, box, token_ttl_s=settings.token_ttl_s,
                    sign_window_s=settings.signature_window_s)


def ensure_defaults(store: Store) -> Defaults:
    """The first project and its first cluster, created on first start."""
    projects = store.project_ids()
    created = not projects
    if created:
        project_id = uuid.uuid4().hex
        store.ensure_project(project_id, "default")
    else:
        project_id = projects[0]
    clusters = store.clusters(project_id)
    if clusters:
        return Defaults(project_id, clusters[0].id, created)
    cluster = store.add_cluster(project_id, "local", DEFAULT_COMPONENTS, str(uuid.uuid4()))
    return Defaults(project_id, cluster.id, True)


def instance_id(settings: Settings) -> str:
    """A stable name for the supervisor of this data directory: it owns the jobs it
    launched, and a restarted service finds them again under the same name."""
    if settings.instance_id:
        return settings.instance_id
    path = settings.data_dir / "instance-id"
    if not path.exists():
        path.write_text(uuid.uuid4().hex + "\n")
    return path.read_text().strip()
