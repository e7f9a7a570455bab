"""Three local Kafka nodes in one KRaft cluster, for broker fault tests (tests/chaos/test_broker_faults.py).

Each node is a combined broker and controller from the plain broker's jars; the quorum has all three as voters,
topics are replicated three times and a write needs two in-sync replicas, so any one node can be killed without
losing a write or stopping the pipeline. Node 1, 2 and 3 take clients on 127.0.0.1:19092, 19102 and 19112, and
controllers on the port above each. Not part of `seamline stack up`: whoever starts the
cluster kills and purges it; its data is in <state>/kafka-cluster.
"""

from __future__ import annotations

import shutil
import signal
from pathlib import Path
from string import Template

from seamline.stack import processes
from seamline.stack.kafka import TEMPLATES, Kafka, new_cluster_id
from seamline.stack.service import ensure_ports_free, launch, wait_healthy

NODE_IDS = (1, 2, 3)


def _ports(node_id: int) -> tuple[int, int]:
    return 19082 + 10 * node_id, 19083 + 10 * node_id


class ClusterNode(Kafka):
    """One node of the cluster: broker and controller."""

    def __init__(self, root: Path, node_id: int, cluster_id: str) -> None:
        self.name = f"kafka-node{node_id}"  # type: ignore[misc]
        self.ports = _ports(node_id)  # type: ignore[misc]
        super().__init__(root)
        self.node_id = node_id
        self.cluster_id = cluster_id
        self.libs = root / "kafka" / "libs"
        self.home = root / "kafka-cluster" / f"node{node_id}"
        self.data = self.home / "data"
        self.config = self.home / "server.properties"

    def prepare(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        voters = ",".join(f"{node}@127.0.0.1:{_ports(node)[1]}" for node in NODE_IDS)
        template = Template((TEMPLATES / "cluster.properties").read_text())
        self.config.write_text(
            template.substitute(
                node_id=self.node_id,
                voters=voters,
                port=self.ports[0],
                controller_port=self.ports[1],
                data_dir=self.data,
            )
        )
        if not (self.data / "meta.properties").is_file():
            self._format_storage(self.cluster_id)

    def _format_options(self) -> list[str]:
        return []  # the voters are in the configuration (a static quorum)

    def kill(self) -> None:
        """SIGKILL the node, as a machine or JVM crash would end it."""
        pid = self.pid()
        if pid is not None:
            processes.stop(pid, signal.SIGKILL)


class KafkaCluster:
    """The three nodes, started together; the broker's jars must be installed (`seamline stack up`)."""

    def __init__(self, root: Path) -> None:
        self.home = root / "kafka-cluster"
        self.home.mkdir(parents=True, exist_ok=True)
        id_file = self.home / "cluster-id"
        if not id_file.is_file():
            id_file.write_text(new_cluster_id())
        cluster_id = id_file.read_text().strip()
        self.nodes = [ClusterNode(root, node_id, cluster_id) for node_id in NODE_IDS]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.address for node in self.nodes)

    def node(self, node_id: int) -> ClusterNode:
        return self.nodes[NODE_IDS.index(node_id)]

    def start(self, *nodes: ClusterNode) -> None:
        """Start the given nodes (all when none is given) and wait until each serves clients."""
        nodes = nodes or tuple(self.nodes)
        for node in nodes:
            if node.pid() is None:
                ensure_ports_free(node)
                launch(node)
        for node in nodes:
            wait_healthy(node)

    def purge(self) -> None:
        """Delete the cluster's data and logs (kill the nodes first)."""
        shutil.rmtree(self.home, ignore_errors=True)
        for node in self.nodes:
            node.log_file.unlink(missing_ok=True)
