"""The processes of a hub, by role, and the HAProxy configuration in front of them.

``make run`` (scripts/run.sh) and the scale-out test write their Procfile and
``haproxy.cfg`` from here, so that what is tested is what runs::

    python -m config.topology --procfile var/Procfile --haproxy var/haproxy.cfg

The public port (``HUB_PORT``) is HAProxy's. Behind it, on loopback:
``HUB_API_PROCESSES`` API processes (Daphne) from ``HUB_PORT + 2000``,
``HUB_WS_PROCESSES`` WebSocket processes (Daphne) from ``HUB_PORT + 2100``, and
``HUB_VIDEO_PROCESSES`` video nodes (``manage.py video --node videoN``: Daphne, WHEP and the
cameras' pipelines, each holding its share of the cameras) from ``HUB_PORT + 2200``. Each
serves its own ``/metrics`` on its port; the relay and its standby on ``HUB_PORT + 2300``
and ``+ 2301`` (docs/deployment.md, "Supervision"). With ``seaweed`` (``HUB_SEAWEED=1``, set by
``make run`` when the recordings go to S3 and no store is named), SeaweedFS on the eight ports
from ``HUB_PORT + 2400``, its S3 gateway on ``+ 2406`` (config/seaweed.py).
No Django import: this runs before the hub does.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

TEMPLATE = Path(__file__).with_name("haproxy.cfg.in")

# What the video process answers: WHEP sessions, and what needs a camera's pipeline.
VIDEO_PATHS = r"^/api/streaming/(cameras/[0-9]+/(whep|snapshots/|preset/|ptz)|whep/|pipelines/)"


def daphne(port: int | str, name: str) -> str:
    # Access lines (HAProxy's health checks among them, every second) go to a file per
    # process, var/log/<name>.access.log: the console keeps what an operator must read.
    return f"daphne -b 127.0.0.1 -p {port} --access-log var/log/{name}.access.log config.asgi:application"


def video_node(port: int | str, name: str) -> str:
    """A video node: Daphne as above, in the process that holds the node's cameras."""
    return (f"python manage.py video --node {name} --bind 127.0.0.1 --port {port}"
            f" --access-log var/log/{name}.access.log")


@dataclass
class Topology:
    bind: str = "127.0.0.1"
    port: int = 8000
    api: int = 2
    ws: int = 1
    video: int = 1
    check_interval: str = "1s"
    # Ports of the pools; by default derived from ``port`` (see the module's docstring).
    api_ports: list[int] = field(default_factory=list)
    ws_ports: list[int] = field(default_factory=list)
    video_ports: list[int] = field(default_factory=list)
    relay_metrics_ports: list[int] = field(default_factory=list)
    seaweed: bool = False

    def __post_init__(self) -> None:
        if self.api < 1 or self.ws < 1 or self.video < 1:
            raise ValueError("HUB_API_PROCESSES, HUB_WS_PROCESSES and HUB_VIDEO_PROCESSES must be at least 1")
        self.api_ports = self.api_ports or [self.port + 2000 + n for n in range(self.api)]
        self.ws_ports = self.ws_ports or [self.port + 2100 + n for n in range(self.ws)]
        self.video_ports = self.video_ports or [self.port + 2200 + n for n in range(self.video)]
        self.relay_metrics_ports = self.relay_metrics_ports or [self.port + 2300, self.port + 2301]

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Topology:
        environ = dict(os.environ if environ is None else environ)
        return cls(bind=environ.get("HUB_BIND") or "127.0.0.1", port=int(environ.get("HUB_PORT") or 8000),
                   api=int(environ.get("HUB_API_PROCESSES") or 2),
                   ws=int(environ.get("HUB_WS_PROCESSES") or 1),
                   video=int(environ.get("HUB_VIDEO_PROCESSES") or 1),
                   seaweed=environ.get("HUB_SEAWEED") == "1")

    @property
    def seaweed_base(self) -> int:
        """SeaweedFS's first port (config/seaweed.py: its S3 gateway is 6 above)."""
        return self.port + 2400

    @property
    def video_names(self) -> list[str]:
        """The video nodes' names: their servers' names in HAProxy too."""
        return [f"video{n + 1}" for n in range(len(self.video_ports))]

    def haproxy_cfg(self) -> str:
        text = Template(TEMPLATE.read_text()).substitute(
            BIND=self.bind, PORT=self.port, CHECK_INTERVAL=self.check_interval,
            VIDEO_PATHS=VIDEO_PATHS)

        def servers(prefix: str, ports: list[int]) -> str:
            return "\n".join(f"    server {prefix}{n + 1} 127.0.0.1:{p} check"
                             for n, p in enumerate(ports))

        # A request naming a video node (``?node=NAME``) goes to that node's server.
        routes = "\n".join(f"    use-server {name} if {{ urlp(node) -m str {name} }}"
                            for name in self.video_names)
        return (text.replace("@API_SERVERS@", servers("api", self.api_ports))
                .replace("@WS_SERVERS@", servers("ws", self.ws_ports))
                .replace("@VIDEO_NODES@", routes)
                .replace("@VIDEO_SERVERS@", servers("video", self.video_ports)))

    def procfile(self, *, haproxy_cfg: str, symbolic: bool = False) -> str:
        """The Procfile; ``symbolic`` writes the ports as offsets of ``$HUB_PORT`` (the
        repository's Procfile, for the default counts)."""

        def port(p: int) -> int | str:
            return f"$((HUB_PORT + {p - self.port}))" if symbolic else p

        lines = [f"haproxy: haproxy -W -db -f {haproxy_cfg}"]
        lines += [f"api{n + 1}: {daphne(port(p), f'api{n + 1}')}" for n, p in enumerate(self.api_ports)]
        lines += [f"ws{n + 1}: {daphne(port(p), f'ws{n + 1}')}" for n, p in enumerate(self.ws_ports)]
        lines += [f"{name}: {video_node(port(p), name)}"
                  for name, p in zip(self.video_names, self.video_ports, strict=True)]
        lines += [
            f"relay: python manage.py relay --metrics-port {port(self.relay_metrics_ports[0])}",
            f"relay_standby: python manage.py relay --metrics-port {port(self.relay_metrics_ports[1])}",
            # Periodic tasks run every few seconds: their INFO lines would bury the rest.
            "worker: celery -A config worker --loglevel=WARNING --concurrency=2 --without-gossip"
            " --without-mingle",
            "beat: celery -A config beat --loglevel=WARNING --schedule var/celerybeat-schedule",
            "recorder: python manage.py record",
            'syslog: /usr/sbin/rsyslogd -n -f "$PWD/var/syslog/rsyslog.conf"'
            ' -i "$PWD/var/syslog/rsyslogd.pid"',
        ]
        if self.seaweed:
            # The recordings' object store; the bucket is created (Object Lock on) once it answers.
            lines.append(f"seaweed: python -m config.seaweed serve --dir var/seaweed"
                         f" --base {port(self.seaweed_base)}")
        return "\n".join(lines) + "\n"


def haproxy_stats(stats_socket: Path | str) -> list[dict[str, str]]:
    """HAProxy's ``show stat``, one row per frontend, backend and server (columns by name: ``pxname``,
    ``svname``, ``status``, ``chkfail``…), read from its stats socket (``stats socket <path>`` in
    its ``global`` section)."""
    import socket

    with socket.socket(socket.AF_UNIX) as unix:
        unix.connect(str(stats_socket))
        unix.sendall(b"show stat\n")
        raw = b""
        while chunk := unix.recv(65536):
            raw += chunk
    lines = raw.decode().splitlines()
    names = lines[0].lstrip("# ").split(",")
    return [dict(zip(names, line.split(","), strict=False)) for line in lines[1:] if line.strip()]


def haproxy_servers_down(stats_socket: Path | str) -> list[str]:
    """The servers HAProxy does not route to now (``backend/server:STATUS``): what a test or a
    benchmark waits on before it starts."""
    return [f"{row['pxname']}/{row['svname']}:{row['status']}" for row in haproxy_stats(stats_socket)
            if row.get("svname") not in {"FRONTEND", "BACKEND"} and row.get("status") != "UP"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--procfile", type=Path, required=True)
    parser.add_argument("--haproxy", type=Path, required=True)
    args = parser.parse_args(argv)
    topology = Topology.from_env()
    args.haproxy.parent.mkdir(parents=True, exist_ok=True)
    args.haproxy.write_text(topology.haproxy_cfg())
    args.procfile.write_text(topology.procfile(haproxy_cfg=str(args.haproxy)))


if __name__ == "__main__":
    main()
