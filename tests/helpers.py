"""Test helpers: a real git repository driven by the real CLI."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodelver.cli import main

MANIFEST = """\
# support bot
[system]
name = "support-bot"

[base_model]
id = "meta-llama/Llama-3.1-8B-Instruct"
revision = "0e9e39f249a16976918f6564b8830bc894c89659"

[prompts.system]
path = "prompts/system.j2"

[prompts.greeting]
path = "prompts/greeting.j2"

[retrieval]
embedding_model = "BAAI/bge-small-en-v1.5"
chunk_size = 512

[parameters]
temperature = 0.2
top_p = 0.9

[serving]
quantization = "awq-int4"
max_batch_size = 32
"""


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class GitRepo:
    path: Path

    @classmethod
    def create(cls, path: Path) -> GitRepo:
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
        return cls(path)

    def git(self, *args: str, check: bool = True, input: str | None = None) -> str:
        proc = subprocess.run(
            ["git", "-C", str(self.path), *args], capture_output=True, text=True, input=input, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout

    def write(self, rel: str, text: str | bytes) -> Path:
        path = self.path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, "utf-8")
        return path

    def read(self, rel: str) -> str:
        return (self.path / rel).read_text("utf-8")

    def commit_all(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--no-verify", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    def modelver(self, *args: str) -> Result:
        """The CLI in this process (fast); stdout/stderr captured."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["-C", str(self.path), *args])
        return Result(code, out.getvalue(), err.getvalue())

    def modelver_proc(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """The CLI as a separate process, as a user runs it."""
        proc = subprocess.run(
            [sys.executable, "-m", "gitmodelver", "-C", str(self.path), *args],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def tags(self) -> list[str]:
        return self.git("tag", "--list").split()


def ledger_bytes(path: Path, env: str, rev: str = "modelver/ledger") -> bytes:
    """An environment's events as raw git sees them: its shards in order, or an older version's file."""

    def git(*args: str, check: bool = False) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["git", "-C", str(path), *args], capture_output=True, check=check)

    folder = git("ls-tree", "--name-only", "-z", f"{rev}:events/{env}")
    if folder.returncode != 0:
        return git("cat-file", "blob", f"{rev}:events/{env}.jsonl", check=True).stdout
    names = sorted(name for name in folder.stdout.decode().split("\0") if name)
    return b"".join(git("cat-file", "blob", f"{rev}:events/{env}/{n}", check=True).stdout for n in names)


def ledger_lines(path: Path, env: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in ledger_bytes(path, env).splitlines()]


def seed(repo: GitRepo, manifest: str = MANIFEST) -> None:
    """A committed system with two prompts."""
    repo.write("modelver.toml", manifest)
    repo.write("prompts/system.j2", "You are a helpful support bot for {{ product }}.\n")
    repo.write("prompts/greeting.j2", "Hello {{ name }}!\n")
    repo.commit_all("seed")
    result = repo.modelver("lock")
    assert result.code == 0, result.err
    repo.commit_all("lock")


def make_ssh_key(folder: Path, email: str) -> tuple[Path, Path, Path]:
    private = folder / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", email, "-f", str(private)], check=True
    )
    public = private.with_suffix(".pub")
    allowed = folder / "allowed_signers"
    allowed.write_text(f'{email} namespaces="git" {public.read_text().strip()}\n')
    return private, public, allowed


def fix_in(err: str) -> str:
    """The command a one-line error offers after ``(fix: `` (the last one, when several lines have one)."""
    assert "(fix: " in err, err
    return err.rsplit("(fix: ", 1)[1].rstrip().removesuffix(")")


def run_fix(repo: GitRepo, fix: str) -> None:
    """The fix as pasted: `A && B` runs B only when A succeeded; no shell is involved."""
    for part in fix.split(" && "):
        proc = subprocess.run(shlex.split(part), cwd=repo.path, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"{part!r} failed ({proc.returncode}): {proc.stderr}{proc.stdout}"
