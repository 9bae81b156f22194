"""A project's link to a cluster network, attacked from the project's namespace (as
root, with real namespaces, veths and nftables): it reaches the master's Spark port and
the workers, and nothing else on that network or on this host."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mrsjobs.containment.links import Link, LinkError, Links, LinkSpec
from mrsjobs.containment.tenants import Tenant, Tenants, connects, in_netns
from tests.support.netns import NETNS_DIR, Host, Network, ip

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="needs root, iproute2 and nftables (CI has all three)")

SPARK, REST, EXECUTOR, SERVICE, DRIVER = 7077, 6066, 41000, 42000, 43000
BLOCK = "10.215.0.128/26"


@pytest.fixture(scope="module")
def network() -> Iterator[Network]:
    net = Network("mrslk", "10.215.0.0/24", ["master", "w1"])
    net.create()
    yield net
    net.destroy()


@pytest.fixture
def tenants() -> Iterator[tuple[Tenants, list[str]]]:
    made: list[str] = []
    found = Tenants()
    yield found, made
    for project in made:
        found.remove(project)


def new_tenant(tenants: tuple[Tenants, list[str]]) -> Tenant:
    registry, made = tenants
    project = f"test-{uuid.uuid4().hex}"
    made.append(project)
    return registry.get(project)


def spec(network: Network) -> LinkSpec:
    return LinkSpec(network.bridge, BLOCK, network.hosts["master"].address, SPARK)


def listen(netns: Path | None, host: str, port: int) -> socket.socket:
    def make() -> socket.socket:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(8)
        return s

    return in_netns(netns, make)


def ns(host: Host) -> Path:
    return NETNS_DIR / host.netns


def test_a_link_reaches_the_master_s_spark_port_and_the_workers_only(
        network: Network, tenants: tuple[Tenants, list[str]]) -> None:
    master, worker = network.hosts["master"], network.hosts["w1"]
    a, b = new_tenant(tenants), new_tenant(tenants)
    links = Links()
    link_a, link_b = links.ensure(a, spec(network)), links.ensure(b, spec(network))
    assert link_a.address != link_b.address
    assert {link_a.address, link_b.address} <= {f"10.215.0.{i}" for i in range(129, 191)}
    listeners = [listen(ns(master), master.address, SPARK),
                 listen(ns(master), master.address, REST),
                 listen(ns(worker), worker.address, EXECUTOR),
                 listen(None, network.gateway, SERVICE),
                 listen(a.netns_path, link_a.address, DRIVER),
                 listen(b.netns_path, link_b.address, DRIVER)]
    try:
        # What a driver needs: the master's Spark port, the executors, and the
        # executors reaching it back.
        assert connects(a.netns_path, master.address, SPARK)
        assert connects(a.netns_path, worker.address, EXECUTOR)
        assert connects(ns(worker), link_a.address, DRIVER)
        assert connects(ns(master), link_a.address, DRIVER)
        # The attacks: the master's unauthenticated REST server, this host (where the
        # service listens) on the bridge, another project's driver, either way.
        assert not connects(a.netns_path, master.address, REST, 0.5)
        assert not connects(a.netns_path, network.gateway, SERVICE, 0.5)
        assert not connects(a.netns_path, link_b.address, DRIVER, 0.5)
        assert not connects(b.netns_path, link_a.address, DRIVER, 0.5)
        # This host's side sees the driver (it is not part of the project's network),
        # but the project's namespace answers nothing from it.
        assert not connects(None, link_a.address, DRIVER, 0.5)
    finally:
        for s in listeners:
            s.close()


def test_a_link_has_no_ipv6_and_its_rules_cannot_be_changed_by_the_project(
        network: Network, tenants: tuple[Tenants, list[str]]) -> None:
    tenant = new_tenant(tenants)
    link = Links().ensure(tenant, spec(network))
    assert tenant.netns is not None
    v6 = ip("-n", tenant.netns, "-6", "addr", "show", "dev", link.device)
    assert "inet6" not in v6
    # The project's user, inside its namespace, tries to drop the rules.
    done = subprocess.run(
        ["nsenter", f"--net={tenant.netns_path}", "--", "setpriv", f"--reuid={tenant.uid}",
         f"--regid={tenant.gid}", "--clear-groups", "nft", "flush", "ruleset"],
        capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode != 0
    rules = subprocess.run(["ip", "netns", "exec", tenant.netns, "nft", "list", "ruleset"],
                           capture_output=True, text=True, timeout=30, check=True).stdout
    assert f'oifname != "{link.device}" accept' in rules


def test_a_link_is_made_once_and_again_after_its_namespace_is_gone(
        network: Network, tenants: tuple[Tenants, list[str]]) -> None:
    registry, made = tenants
    tenant = new_tenant(tenants)
    links = Links()
    first = links.ensure(tenant, spec(network))
    assert links.ensure(tenant, spec(network)) == first
    # The namespace goes (nothing ran in it): its link goes with it.
    registry.release_idle()
    assert tenant.netns is not None and not (NETNS_DIR / tenant.netns).exists()
    again = registry.get(made[-1])
    remade: Link = links.ensure(again, spec(network))
    assert remade.device == first.device
    worker = network.hosts["w1"]
    with listen(ns(worker), worker.address, EXECUTOR):
        assert connects(again.netns_path, worker.address, EXECUTOR)


def test_a_link_off_the_bridge_s_network_or_to_no_bridge_is_refused(
        network: Network, tenants: tuple[Tenants, list[str]]) -> None:
    tenant = new_tenant(tenants)
    master = network.hosts["master"].address
    with pytest.raises(LinkError, match="no address on a network holding"):
        Links().ensure(tenant, LinkSpec(network.bridge, "10.99.0.0/28", master, SPARK))
    with pytest.raises(LinkError, match="does not exist"):
        Links().ensure(tenant, LinkSpec("mrslk-none", BLOCK, master, SPARK))
