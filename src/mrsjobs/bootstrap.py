"""The service put together from its settings: the data directory's store, the default
project and cluster, the instance id, and (:func:`build`) the engine, the local
cluster's commands, the supervisor, the purger and the use cases the API serves."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass

from .containment.links import Links
from .domain.clusters import ClusterConfig, ClusterEngine
from .domain.errors import JobTypeNotSupported
from .domain.jobs import SQL_FILE_TYPES, SQL_TEXT_TYPES, Component, JobSpec
from .engines.local.commands import RUNNABLE, LocalCluster
from .engines.local.engine import ProcessEngine
from .engines.router import CommandsRouter, EngineRouter
from .engines.spark_connect.commands import SqlCommands
from .engines.spark_connect.engine import ENGINE as SQL_ENGINE
from .engines.spark_connect.engine import SparkConnectEngine
from .engines.spark_standalone.capacity import Capacity, StandaloneRoom, check_fits
from .engines.spark_standalone.client import ClientMode
from .engines.spark_standalone.commands import SparkStandaloneCommands
from .engines.spark_standalone.engine import SparkStandaloneEngine
from .identity.accounts import Accounts
from .identity.crypto import SecretBox, load_server_key
from .identity.throttle import Limits
from .service.clusters import ClusterService
from .service.files import FileService
from .service.jobs import JobService
from .settings import Settings
from .store import Cluster, Store
from .store.identity import IdentityStore
from .store.notify import KillListener
from .store.serverkey import agree_on_key
from .supervisor import Supervisor, SupervisorConfig
from .supervisor.purger import Purger, RetentionConfig

DEFAULT_COMPONENTS = (Component.HADOOP, Component.SPARK, Component.HIVE)
SQL_JOB_TYPES = SQL_TEXT_TYPES | SQL_FILE_TYPES


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


@dataclass
class Runtime:
    """A running service's parts, made by :func:`build`: :meth:`start` sets them to work,
    :meth:`stop` stops them and closes the store."""

    store: Store
    cluster: LocalCluster
    supervisor: Supervisor
    accounts: Accounts
    jobs: JobService
    files: FileService
    clusters: ClusterService
    purger: Purger | None
    listener: KillListener | None = None

    def start(self) -> None:
        self.supervisor.start()
        if self.store.is_postgres:
            self.listener = KillListener(self.store.url, self.supervisor.config.owner,
                                         self.supervisor.kill_requested)
        for helper in (self.listener, self.purger):
            if helper is not None:
                helper.start()

    def stop(self) -> None:
        for helper in (self.purger, self.listener):
            if helper is not None:
                helper.stop()
        self.supervisor.stop()
        # A metastore may serve another instance's jobs (a shared clusters_dir).
        self.cluster.stop_metastores(keep=self.store.busy_clusters())
        self.cluster.containment.release()
        self.store.close()


def check_link(found: Cluster) -> None:
    """A standalone cluster runs SQL jobs only with a link for their drivers."""
    if not found.link_bridge:
        raise JobTypeNotSupported(
            f"The operation is not supported: cluster {found.id} has no link for SQL "
            "drivers on this host (cluster create --link-bridge and --link-addresses).")


def build(settings: Settings) -> Runtime:
    """The service's parts, wired to one another; nothing runs until :meth:`Runtime.start`."""
    store = open_store(settings)
    defaults = ensure_defaults(store)

    # A cluster's record never changes (it is created and deleted whole), and one whose
    # jobs have not all ended cannot be deleted: dispatching a job reads it from memory.
    known: dict[str, Cluster] = {}

    def cluster_by_id(cluster_id: str) -> Cluster | None:
        found = known.get(cluster_id)
        if found is None and (found := store.cluster_by_id(cluster_id)) is not None:
            known[cluster_id] = found
        return found

    def files_root_of(cluster_id: str) -> str | None:
        found = cluster_by_id(cluster_id)
        return found.files_root if found else None

    cluster = LocalCluster(settings, files_root_of=files_root_of)

    def engine_of(cluster_id: str) -> ClusterEngine | None:
        found = cluster_by_id(cluster_id)
        return found.engine if found else None

    def config_of(cluster_id: str) -> ClusterConfig | None:
        found = cluster_by_id(cluster_id)
        return found.config if found else None

    capacity = Capacity()
    spark = SparkStandaloneEngine(poll_s=settings.cluster_poll_s,
                                  unreachable_timeout_s=settings.cluster_unreachable_s,
                                  max_log_bytes=settings.max_log_bytes)
    # SQL jobs go to a warm engine per project and cluster (or run cold); on a standalone
    # cluster their drivers join its network through their project's link.
    client = ClientMode(cluster, Links(), settings.sql_engine_files_umask)
    sql = (SqlCommands(cluster, settings, config_of=config_of, client=client)
           if settings.sql_engine == "on" else None)
    engine = EngineRouter({
        ClusterEngine.LOCAL: ProcessEngine(settings.python, settings.poll_interval_s,
                                           max_log_bytes=settings.max_log_bytes),
        ClusterEngine.SPARK_STANDALONE: spark,
        **({SQL_ENGINE: SparkConnectEngine(
            sql.server, store, slots=settings.sql_engine_slots,
            max_rows=settings.sql_result_max_rows, idle_s=settings.sql_engine_idle_s)}
           if sql is not None else {}),
    })
    standalone = SparkStandaloneCommands(
        config_of, lambda job: cluster.area(job.project_id, job.cluster_id).root,
        settings.python, max_log_bytes=settings.max_log_bytes, client=client)
    commands = CommandsRouter({
        ClusterEngine.LOCAL: sql or cluster,
        ClusterEngine.SPARK_STANDALONE: sql.beside(standalone) if sql else standalone,
    }, engine_of, {kind: sql.lane for kind in ClusterEngine} if sql is not None else None)
    supervisor = Supervisor(
        store,
        engine,
        commands,
        SupervisorConfig(
            owner=instance_id(settings),
            runs_dir=settings.runs_dir.resolve(),
            max_running=settings.max_running,
            kill_grace_s=settings.kill_grace_s,
            kill_attempts=settings.kill_attempts,
            kill_confirm_s=settings.kill_confirm_s,
            poll_interval_s=settings.poll_interval_s,
            host=settings.hostname,
            instance_timeout_s=settings.instance_timeout_s,
            lost_timeout_s=settings.lost_timeout_s,
        ),
        room=StandaloneRoom(capacity, config_of),
        lanes=commands.engine_lane,
    )
    accounts = open_accounts(settings, store)

    def admit(found: Cluster, spec: JobSpec) -> None:
        if found.engine is not ClusterEngine.SPARK_STANDALONE:
            return
        if spec.type in SQL_JOB_TYPES:
            check_link(found)  # its driver runs here, its executors on the workers
        else:
            check_fits(capacity, found.config, spec.arguments, spec.properties)

    runnable = {ClusterEngine.LOCAL: RUNNABLE,
                ClusterEngine.SPARK_STANDALONE: spark.capabilities.job_types | SQL_JOB_TYPES}
    jobs = JobService(
        store, runnable, supervisor, audit=accounts.store,
        read_roots=settings.read_roots,
        sole_project=None if cluster.containment.per_project else defaults.project_id,
        admit=admit)
    files = FileService(store, lambda c: cluster.area(c.project_id, c.id),
                        settings.max_upload_bytes)
    purger = (Purger(store, RetentionConfig(
        settings.retention_s, settings.retention_interval_s,
        settings.runs_dir.resolve(), settings.retention_batch))
        if settings.retention_s > 0 else None)
    return Runtime(store, cluster, supervisor, accounts, jobs, files, ClusterService(store),
                   purger)
