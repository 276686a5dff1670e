"""Real servers on 127.0.0.1 for the tests: an S3-compatible one (moto) and `git daemon`.

Each runs as a child process in its own process group, is waited for until it accepts connections, and is
stopped (the whole group) by ``stop``. Generous timeouts: the machine may be busy with other test workers.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

START_TIMEOUT = 60.0  # seconds for a server to accept connections on a loaded machine
HOST = "127.0.0.1"
REGION = "us-east-1"

# A server that prints its port (it binds port 0 itself: no race for a free port) and runs until its
# standard input closes, so it also ends when the test process dies without stopping it.
# moto checks a signature against the query string as its web server decoded it ("delimiter=/"), where
# the client signed the encoded form ("delimiter=%2F"): every listing DVC makes would be refused. The
# query is encoded again, as SigV4 says, before moto checks it.
_MOTO = """\
import sys
from urllib.parse import quote, unquote

from moto.iam import access_control
from moto.server import ThreadedMotoServer

_request = access_control.IAMRequestBase._create_aws_request


def _encode(part):
    return quote(unquote(part), safe="-_.~")


def _create_aws_request(self):
    path, _, query = self._path.partition("?")
    if query:
        pairs = (pair.partition("=") for pair in query.split("&"))
        self._path = path + "?" + "&".join(_encode(k) + eq + _encode(v) for k, eq, v in pairs)
    return _request(self)


access_control.IAMRequestBase._create_aws_request = _create_aws_request

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


def _die_with_parent() -> None:
    """In the child, before exec: end with the test process, should it die without stopping us (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_for_port(
    port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = START_TIMEOUT
) -> None:
    """Until ``port`` accepts a connection; fails with the server's log when it exits or never listens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text(errors='replace')}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {HOST}:{port} in {timeout:.0f} s: {log.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End the server's whole process group: TERM, then KILL if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):  # it ended by itself
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):  # it ended by itself
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


# --------------------------------------------------------------------------- S3 (moto)


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}


@dataclass
class S3Server:
    """moto's S3 on 127.0.0.1 that checks credentials: one IAM user may use S3, nobody else may."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    credentials: Credentials = field(default_factory=lambda: Credentials("", ""))  # may do anything on S3
    reader: Credentials = field(default_factory=lambda: Credentials("", ""))  # may only read

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @classmethod
    def start(cls, folder: Path) -> S3Server:
        log = folder / "moto.log"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-c", _MOTO],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env={**os.environ, **CLIENT_ENV},
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the port, once it listens; "" if it died
        if not line.strip().isdigit():
            stop(proc)
            raise RuntimeError(f"moto did not start: {log.read_text(errors='replace')}")
        server = cls(proc, int(line), log)
        try:
            wait_for_port(server.port, proc, log)
            server.credentials = server._user("releaser", ["s3:*"])
            server.reader = server._user("reader", ["s3:GetObject", "s3:ListBucket"])
            server._authenticate()
        except BaseException:
            server.stop()
            raise
        return server

    def _user(self, name: str, actions: list[str]) -> Credentials:
        """An IAM user allowed ``actions`` on S3 (made while moto still answers anyone)."""
        iam: Any = self.client("iam", Credentials("AKIABOOTSTRAP0000000", "bootstrap"))
        iam.create_user(UserName=name)
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }
        iam.put_user_policy(UserName=name, PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return Credentials(key["AccessKeyId"], key["SecretAccessKey"])

    def _authenticate(self) -> None:
        """From now on every request must be signed by a known key and allowed by its user's policy."""
        request = urllib.request.Request(
            f"{self.url}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200

    def client(self, service: str = "s3", credentials: Credentials | None = None) -> Any:
        import boto3

        creds = credentials or self.credentials
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
        )

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        stop(self.proc)


# Never ask a cloud's metadata service for credentials: it is no address of this machine. (A person's own
# AWS files are out of reach already: the tests' HOME is a new folder.)
CLIENT_ENV = {"AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": REGION}


# --------------------------------------------------------------------------- git daemon


@dataclass
class GitDaemon:
    """`git daemon` serving every bare repository under ``base`` at git://127.0.0.1:PORT/NAME, pushes on."""

    proc: subprocess.Popen[bytes]
    port: int
    base: Path
    log: Path

    def url(self, name: str) -> str:
        return f"git://{HOST}:{self.port}/{name}"

    @classmethod
    def start(cls, base: Path, folder: Path, env: dict[str, str] | None = None) -> GitDaemon:
        log = folder / "git-daemon.log"
        for _ in range(5):  # another process may take the free port before the daemon binds it
            port = free_port()
            with log.open("wb") as err:
                proc = subprocess.Popen(
                    [
                        "git",
                        "daemon",
                        "--reuseaddr",
                        "--export-all",
                        "--enable=receive-pack",
                        "--informative-errors",
                        f"--listen={HOST}",
                        f"--port={port}",
                        f"--base-path={base}",
                        str(base),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    env={**os.environ, **(env or {})},
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            try:
                wait_for_port(port, proc, log)
            except RuntimeError:
                exited = proc.poll() is not None  # it could not bind the port: try another one
                stop(proc)
                if exited:
                    continue
                raise
            return cls(proc, port, base, log)
        raise RuntimeError(f"git daemon found no free port: {log.read_text(errors='replace')}")

    def stop(self) -> None:
        stop(self.proc)
