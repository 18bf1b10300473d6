"""A replicated Redis on loopback: a primary, replicas and Sentinels, all real redis-server
processes (the same binary started with `--sentinel`), for the failover test and the bench."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from redis import Redis

from shared.lifetime import terminate_with_parent
from shared.queue.redis_server import find_redis_server, free_port
from tests.support.processes import wait_for

MASTER = "trackhouse"
DOWN_AFTER_MS = 1000
"""How long the Sentinels wait before they call the primary down (Redis's default is 30 s)."""


def _wait(check: Callable[..., object], what: str, timeout_seconds: float = 30.0) -> None:
    # Any error counts as not yet: a server restarting, a Sentinel still discovering its peers.
    wait_for(check, timeout_seconds=timeout_seconds, what=what, interval=0.05, ignoring=(Exception,))


class LinkProxy:
    """A TCP relay between a replica and its primary that can stop delivering the primary's
    stream (`cut`) while both ends stay connected: a lagging or partitioned link, which is when
    asynchronous replication loses writes. (SIGSTOPping the replica would not do: the kernel
    still buffers the stream for it.) The replica's acknowledgements still flow back."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self._target = target_port
        self._cut = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self._cut.set()

    def _accept(self) -> None:
        while True:
            try:
                replica, _ = self._listener.accept()
                primary = socket.create_connection(("127.0.0.1", self._target))
            except OSError:
                return
            for end in (replica, primary):  # as Redis does: no Nagle delay on small replies (ACKs)
                end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pump, args=(primary, replica, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(replica, primary, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_primary: bool) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                if not (from_primary and self._cut.is_set()):  # cut: read and drop
                    sink.sendall(chunk)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.close()

    def close(self) -> None:
        self._listener.close()


class ReplicatedRedis:
    """`replicas` replicas of one primary and `sentinels` Sentinels (quorum: a majority)."""

    def __init__(self, directory: Path, *, replicas: int = 1, sentinels: int = 3) -> None:
        self.directory = directory
        self.ports = [free_port() for _ in range(1 + replicas)]
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self._servers: dict[int, subprocess.Popen[bytes]] = {}
        self._sentinels: list[subprocess.Popen[bytes]] = []
        self._links: list[LinkProxy] = []

    @property
    def primary_port(self) -> int:
        return self.ports[0]

    @property
    def sentinel_addresses(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.sentinel_ports]

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        workdir = self.directory / name
        workdir.mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(
            [find_redis_server(), *args],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=terminate_with_parent,
            start_new_session=True,
        )

    def _server_args(self, port: int) -> list[str]:
        workdir = self.directory / f"redis-{port}"
        return [
            "--bind", "127.0.0.1", "--port", str(port), "--dir", str(workdir),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
            "--logfile", str(workdir / "redis.log"),
        ]  # fmt: skip

    def start(self) -> ReplicatedRedis:
        primary, *replicas = self.ports
        self._servers[primary] = self._spawn(f"redis-{primary}", self._server_args(primary))
        for port in replicas:
            self._links.append(link := LinkProxy(primary))  # the first primary's stream, through a relay
            args = [*self._server_args(port), "--replicaof", "127.0.0.1", str(link.port)]
            self._servers[port] = self._spawn(f"redis-{port}", args)
        for port in replicas:
            _wait(lambda p=port: self._info(p).get("master_link_status") == "up", f"replica {port} in sync")
        quorum = len(self.sentinel_ports) // 2 + 1
        for port in self.sentinel_ports:
            workdir = self.directory / f"sentinel-{port}"
            workdir.mkdir(parents=True, exist_ok=True)
            conf = workdir / "sentinel.conf"  # Sentinel rewrites its config: a file of its own
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {workdir}\nlogfile {workdir / 'sentinel.log'}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {primary} {quorum}\n"
                f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
                # Also how long Sentinel tolerates a replica that names another primary (the relay)
                # before it "fixes" it; a failover itself is as quick either way.
                f"sentinel failover-timeout {MASTER} 120000\n"
                f"sentinel parallel-syncs {MASTER} 1\n"
            )
            self._sentinels.append(self._spawn(f"sentinel-{port}", [str(conf), "--sentinel"]))
        # A failover needs a majority of Sentinels that know each other and the replicas.
        for port in self.sentinel_ports:
            _wait(lambda p=port: self._sentinel_ready(p), f"Sentinel {port} to see its peers and replicas")
        return self

    def _info(self, port: int) -> dict[str, object]:
        with Redis(port=port, socket_timeout=1) as client:
            return dict(client.info("replication"))

    def _sentinel_ready(self, port: int) -> bool:
        with Redis(port=port, socket_timeout=1) as client:
            peers = client.execute_command("SENTINEL", "SENTINELS", MASTER)
            replicas = client.execute_command("SENTINEL", "REPLICAS", MASTER)
        return len(peers) == len(self.sentinel_ports) - 1 and len(replicas) == len(self.ports) - 1

    def current_primary(self) -> int:
        with Redis(port=self.sentinel_ports[0], socket_timeout=1) as client:
            _, port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)
        return int(port)

    def cut_replication(self) -> None:
        """From now on the first primary's replicas get nothing more (see LinkProxy)."""
        for link in self._links:
            link.cut()

    def kill_primary(self) -> int:
        """SIGKILL the current primary (no AOF flush, no goodbye); returns its port."""
        port = self.current_primary()
        process = self._servers.pop(port)
        process.send_signal(signal.SIGKILL)
        process.wait()
        return port

    def restart(self, port: int) -> None:
        """Start a killed server again on its port and data (as a supervisor would): the
        Sentinels turn it into a replica of the new primary."""
        self._servers[port] = self._spawn(f"redis-{port}", self._server_args(port))

    def wait_replica_synced(self, port: int, timeout_seconds: float = 90.0) -> None:
        # The Sentinels turn a restarted primary into a replica on their own schedule, slower on
        # a loaded machine (seen past 30 s in a full suite); the chaos stack waits as long.
        _wait(
            lambda: (
                self._info(port).get("role") == "slave" and self._info(port).get("master_link_status") == "up"
            ),
            f"{port} to replicate the new primary",
            timeout_seconds,
        )

    def wait_promoted(self, old_port: int, timeout_seconds: float = 30.0) -> int:
        """Wait until the Sentinels name another primary and it takes writes; returns its port."""
        _wait(
            lambda: (
                self.current_primary() != old_port and self._info(self.current_primary())["role"] == "master"
            ),
            "a replica to be promoted",
            timeout_seconds,
        )
        return self.current_primary()

    def stop(self) -> None:
        for link in self._links:
            link.close()
        for process in [*self._sentinels, *self._servers.values()]:
            if process.poll() is None:
                process.terminate()
        for process in [*self._sentinels, *self._servers.values()]:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> ReplicatedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
