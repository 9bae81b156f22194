"""A project's link to a standalone cluster's network: how a driver that runs on this
host (a SQL job's, in client mode) reaches the cluster's master and is reached by its
executors on the workers, while the project's namespace stays shut to everything else.

A link is a veth pair: one end in the project's network namespace with an address of
the cluster's network (from the cluster's ``link_addresses``), the other end a port of
the bridge on this host that the cluster's network is reached through
(``link_bridge``). Rules in the project's namespace, which its processes cannot change
(they run as an unprivileged user), let through that interface only:

- to the master, its Spark port (not its REST server or web UI, which take commands
  and answer without authentication), and the answers to what the master asks;
- to and from the rest of the cluster's network, the workers;
- never this host's own addresses on the bridge (the service, its database), nor
  the other links' addresses (other projects' drivers), nor anything off the network
  or IPv6.

The pair goes away with the namespace. Each link's address is written in its host
end's alias, which is how a new link finds the addresses in use (under a host-wide
lock, so that services on one host never hand out one address twice).
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .tenants import Tenant

LOCK_FILE = Path("/run/lock/mrsjobs-links.lock")
#: Host ends of links are named ``mrsl<hash>``; their alias holds the address.
HOST_PREFIX = "mrsl"
ALIAS = "mrsjobs-link "


class LinkError(Exception):
    """A project's link to a cluster's network could not be made."""


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """Where a cluster's network is on this host, and what of it a link may reach."""

    bridge: str
    addresses: str
    master_host: str
    master_port: int


@dataclass(frozen=True, slots=True)
class Link:
    """A project's end of a link: its address (what its drivers bind and advertise)."""

    address: str
    device: str


def _run(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30,
                          check=False)


def _must(*argv: str, stdin: str | None = None) -> str:
    done = _run(*argv, stdin=stdin)
    if done.returncode != 0:
        raise LinkError(f"{' '.join(argv[:4])}...: {done.stderr.strip() or done.stdout}")
    return done.stdout


def _names(tenant: Tenant, bridge: str) -> tuple[str, str]:
    """The host end's name (unique per project and bridge) and the project end's
    (unique per bridge in the namespace); both within Linux's 15 characters."""
    pair = hashlib.sha256(f"{tenant.user}/{bridge}".encode()).hexdigest()[:11]
    inside = hashlib.sha256(bridge.encode()).hexdigest()[:10]
    return HOST_PREFIX + pair, "cl" + inside


def ruleset(table: str, device: str, spec: LinkSpec, network: ipaddress.IPv4Network,
            own: list[str]) -> str:
    """The nftables table that confines ``device`` (see the module's docstring)."""
    shut = ", ".join([*own, spec.addresses])
    return f"""
table inet {table} {{
  chain out {{
    type filter hook output priority 0; policy accept;
    oifname != "{device}" accept
    ct state established,related accept
    ip daddr {spec.master_host} tcp dport {spec.master_port} accept
    ip daddr {{ {shut} }} drop
    ip daddr {spec.master_host} drop
    ip daddr {network} accept
    drop
  }}
  chain in {{
    type filter hook input priority 0; policy accept;
    iifname != "{device}" accept
    ct state established,related accept
    ip saddr {{ {shut} }} drop
    ip saddr {network} accept
    drop
  }}
}}
"""


class Links:
    """Makes (once) each project's link to each cluster network it runs drivers on."""

    def __init__(self, lock_file: Path = LOCK_FILE) -> None:
        self.lock_file = lock_file

    def ensure(self, tenant: Tenant, spec: LinkSpec) -> Link:
        """The project's link to ``spec``'s network, made if it has none."""
        if tenant.netns is None:
            raise LinkError("jobs are not contained per project on this host: a link "
                            "needs the project's own network namespace")
        host_end, device = _names(tenant, spec.bridge)
        with self._locked():
            found = self._address(host_end)
            if found is not None and self._inside(tenant, device):
                return Link(found, device)
            if found is not None:  # half made by a start that crashed: again
                _run("ip", "link", "delete", host_end)
            return self._make(tenant, spec, host_end, device)

    # -- internals -----------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _make(self, tenant: Tenant, spec: LinkSpec, host_end: str, device: str) -> Link:
        network, own = self._bridge(spec)
        block = ipaddress.IPv4Network(spec.addresses)
        taken = {*own, spec.master_host, *self._taken()}
        free = next((str(a) for a in block.hosts() if str(a) not in taken), None)
        if free is None:
            raise LinkError(f"no address of {block} is free for another link")
        ns = tenant.netns
        assert ns is not None
        table = f"mrsjobs_{device}"
        try:
            _must("ip", "link", "add", host_end, "type", "veth", "peer", "name", device,
                  "netns", ns)
            _must("ip", "link", "set", host_end, "alias", ALIAS + free)
            _must("ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                  f"net.ipv6.conf.{device}.disable_ipv6=1")
            # The rules are in place before the interface is up.
            _run("ip", "netns", "exec", ns, "nft", "delete", "table", "inet", table)
            _must("ip", "netns", "exec", ns, "nft", "-f", "-",
                  stdin=ruleset(table, device, spec, network, own))
            _must("ip", "-n", ns, "addr", "add", f"{free}/{network.prefixlen}", "dev", device)
            _must("ip", "-n", ns, "link", "set", device, "up")
            _must("ip", "link", "set", host_end, "master", spec.bridge, "up")
        except (LinkError, OSError, subprocess.SubprocessError) as exc:
            _run("ip", "link", "delete", host_end)
            raise LinkError(f"the link of {tenant.user} to {spec.bridge}: {exc}") from exc
        return Link(free, device)

    def _bridge(self, spec: LinkSpec) -> tuple[ipaddress.IPv4Network, list[str]]:
        """The network the bridge is on (the one holding the link addresses) and this
        host's own addresses on it."""
        out = _run("ip", "-j", "-4", "addr", "show", "dev", spec.bridge)
        if out.returncode != 0:
            raise LinkError(f"the bridge {spec.bridge} does not exist on this host")
        entries = [a for link in json.loads(out.stdout or "[]")
                   for a in link.get("addr_info", [])]
        own = [str(a["local"]) for a in entries]
        block = ipaddress.IPv4Network(spec.addresses)
        for a in entries:
            network = ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}").network
            if block.subnet_of(network):
                return network, own
        raise LinkError(f"{spec.bridge} has no address on a network holding {block}")

    def _address(self, host_end: str) -> str | None:
        out = _run("ip", "-j", "link", "show", "dev", host_end)
        if out.returncode != 0:
            return None
        alias = str((json.loads(out.stdout or "[{}]") or [{}])[0].get("ifalias", ""))
        return alias.removeprefix(ALIAS) if alias.startswith(ALIAS) else None

    def _taken(self) -> list[str]:
        out = _run("ip", "-j", "link", "show")
        links = json.loads(out.stdout or "[]") if out.returncode == 0 else []
        return [str(link["ifalias"]).removeprefix(ALIAS) for link in links
                if str(link.get("ifname", "")).startswith(HOST_PREFIX)
                and str(link.get("ifalias", "")).startswith(ALIAS)]

    @staticmethod
    def _inside(tenant: Tenant, device: str) -> bool:
        assert tenant.netns is not None
        return _run("ip", "-n", tenant.netns, "link", "show", "dev", device).returncode == 0
