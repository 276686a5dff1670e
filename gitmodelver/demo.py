"""``git modelver demo DIR``: a sample system walked through its whole lifecycle, with real tools."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

from gitmodelver import advice, output
from gitmodelver.errors import CheckFailed, UsageError

PROMPTS = {
    "system.j2": "You are the support assistant for {{ product }}. Answer from the retrieved passages.\n",
    "greeting.j2": "Hello {{ customer_name }}, how can I help you today?\n",
    "refusal.j2": "I'm sorry, I can't help with that. Please contact {{ support_email }}.\n",
}


class Demo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = root / "repo"
        self.keys = root / "keys"
        self.remote = root / "dvc-remote"
        self.started = time.monotonic()
        self.section = self.started  # when the current section began
        self.moment = ""
        self.env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_TERMINAL_PROMPT": "0"}

    def step(self, title: str) -> None:
        self.close()
        print(f"\n== {title}")

    def close(self) -> None:
        """End a section with how long it took (not the time since the start)."""
        now = time.monotonic()
        if now - self.section > 0.05 and now != self.started:
            print(f"   ({now - self.section:.1f}s)")
        self.section = now

    def run(
        self,
        *args: str,
        show: bool = True,
        ok: tuple[int, ...] = (0,),
        quiet: bool = False,
        only: str | None = None,
    ) -> str:
        """Run a command in the demo repository as a user would, printing it and what it said (stdout and
        stderr interleaved as the command wrote them; ``only``: just the lines containing that text)."""
        names = {"<modelver>": "git modelver", sys.executable: "python"}
        shown = " ".join(names.get(a, a.replace(sys.executable, "python")) for a in args)
        argv = [sys.executable, "-m", "gitmodelver", *args[1:]] if args[0] == "<modelver>" else list(args)
        if show:
            print(f"$ {shown}")
        proc = subprocess.run(
            argv,
            cwd=self.repo,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        text = proc.stdout.rstrip()
        lines = [line for line in text.splitlines() if only is None or only in line]
        if show and lines and not quiet:
            print("\n".join(f"  {line}" for line in lines))
        sys.stdout.flush()
        if proc.returncode not in ok:
            raise CheckFailed(
                f"demo step `{shown}` exited {proc.returncode}: {text.splitlines()[-1] if text else ''}"
            )
        return proc.stdout

    def modelver(self, *args: str, ok: tuple[int, ...] = (0,)) -> str:
        return self.run("<modelver>", *args, ok=ok)

    def write(self, rel: str, text: str | bytes) -> None:
        path = self.repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, "utf-8")

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.repo / rel
        path.write_text(path.read_text("utf-8").replace(old, new), "utf-8")

    def evaluate_and_commit(self, message: str) -> None:
        self.run(sys.executable, "evals/check.py", ok=(0, 1))
        self.modelver("lock")
        self.run("git", "add", "-A", show=False)
        self.run("git", "commit", "-q", "-m", message)


def _asset(name: str) -> str:
    return resources.files("gitmodelver.demo_files").joinpath(name).read_text("utf-8")


def setup(d: Demo) -> None:
    d.step("a sample system: three prompts, retrieval config, DVC-tracked weights, an eval harness")
    d.repo.mkdir(parents=True)
    d.keys.mkdir()
    key = d.keys / "releaser"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "releaser@demo", "-f", str(key)],
        check=True,
        capture_output=True,
    )
    (d.keys / "allowed_signers").write_text(f"releaser@demo {key.with_suffix('.pub').read_text().strip()}\n")
    d.run("git", "init", "-q", "-b", "main", show=False)
    for k, v in (
        ("user.name", "Demo Releaser"),
        ("user.email", "releaser@demo"),
        ("gpg.format", "ssh"),
        ("user.signingkey", str(key)),
        ("gpg.ssh.allowedSignersFile", str(d.keys / "allowed_signers")),
    ):
        d.run("git", "config", k, v, show=False)
    for name, text in PROMPTS.items():
        d.write(f"prompts/{name}", text)
    d.write("modelver.toml", _asset("modelver.toml"))
    d.write("evals/check.py", _asset("check.py"))
    d.write("evals/suite.yaml", _asset("suite.yaml"))
    d.write("evals/traffic.py", _asset("traffic.py"))
    d.write("data/train.jsonl", "".join(f'{{"q": "question {i}", "a": "answer {i}"}}\n' for i in range(200)))
    d.write("models/adapter.safetensors", os.urandom(64 * 1024))
    d.run("dvc", "init", "-q")
    d.run("dvc", "remote", "add", "-d", "local", str(d.remote), quiet=True)
    d.run("dvc", "add", "-q", "data/train.jsonl", "models/adapter.safetensors")
    d.edit("modelver.toml", 'trained_on = ["data/train.jsonl"]', 'trained_on = ["data/train.jsonl.dvc"]')
    d.run("dvc", "push", "-q")
    d.evaluate_and_commit("Support bot: first cut")


def lifecycle(d: Demo) -> None:
    d.step("native git hooks: unpinned prompt edits and raw weights cannot be committed")
    d.modelver("install-hooks")
    d.write("models/extra.safetensors", os.urandom(4096))
    d.run("git", "add", "models/extra.safetensors", show=False)
    d.run("git", "commit", "-q", "-m", "Add more weights", ok=(1,))
    d.run("git", "rm", "-q", "--cached", "models/extra.safetensors", show=False)
    (d.repo / "models" / "extra.safetensors").unlink()
    d.step("release v1.0.0, signed with a throwaway SSH key")
    d.modelver("release", "-m", "first release")
    d.run("git", "tag", "-v", "support-bot@v1.0.0", only="signature")  # git's own check of the signature

    d.step("a prompt edit: status computes the bump from the manifest diff")
    d.edit(
        "prompts/system.j2",
        "Answer from the retrieved passages.",
        "Be concise and cite the retrieved passages.",
    )
    d.modelver("status")
    d.step("committing the prompt without re-pinning it: the hook blocks it")
    d.run("git", "add", "prompts/system.j2", show=False)
    d.run("git", "commit", "-q", "-m", "Tweak the system prompt", ok=(1,))
    d.evaluate_and_commit("System prompt: concise answers with citations")
    d.modelver("release", "-m", "concise answers with citations")

    d.step("a generation parameter: patch")
    d.edit("modelver.toml", "top_p = 0.9", "top_p = 0.85")
    d.evaluate_and_commit("Narrower nucleus sampling")
    d.modelver("release")

    d.step("a base-model swap: major")
    d.edit("modelver.toml", 'id = "meta-llama/Llama-3.1-8B-Instruct"', 'id = "Qwen/Qwen2.5-7B-Instruct"')
    d.edit(
        "modelver.toml",
        "0e9e39f249a16976918f6564b8830bc894c89659",
        "a09a35458c702b33eeacc393d103063234e8bc28",
    )
    d.evaluate_and_commit("Swap the base model")
    d.modelver("release", "-m", "new base model")

    d.step("the history: every release, its level, its signer")
    d.modelver("log")
    d.modelver("diff", "v1.0.0", "v2.0.0")


def deployments(d: Demo) -> None:
    feedback = f"{sys.executable} evals/traffic.py prod"
    d.step("deploy v2.0.0 to prod: one event on the ledger branch modelver/ledger")
    d.modelver("deploy", "v2.0.0", "--env", "prod", "--reason", "launch")

    d.step("a better candidate (finer retrieval chunks), rolled out step by step and promoted")
    d.edit("modelver.toml", "chunk_size = 512", "chunk_size = 256")
    d.evaluate_and_commit("Finer retrieval chunks")
    d.modelver("release", "-m", "finer retrieval chunks")
    d.modelver("rollout", "start", "v2.1.0", "--env", "prod")
    d.modelver("rollout", "watch", "--env", "prod", "--interval", "0", "--metrics-cmd", feedback)
    time.sleep(0.01)
    d.moment = _utc_now()

    d.step("a worse candidate (hotter sampling): passes the offline gates, fails in production, rolled back")
    d.edit("modelver.toml", "temperature = 0.2", "temperature = 0.8")
    d.evaluate_and_commit("More creative answers")
    d.modelver("release", "-m", "more creative answers")
    d.modelver("rollout", "start", "v2.1.1", "--env", "prod")
    d.modelver("rollout", "watch", "--env", "prod", "--interval", "0", "--metrics-cmd", feedback, ok=(1,))
    d.modelver("envs")

    d.step("what was serving in prod between the two rollouts?")
    d.modelver("asof", d.moment, "--env", "prod")


def regression(d: Demo) -> None:
    d.step("a hurried release: the eval gate switched off, one prompt edit among harmless tuning")
    d.edit("modelver.toml", "require_eval = true", "require_eval = false")
    d.edit("prompts/system.j2", "Be concise", "ALWAYS AGREE with the customer. Be concise")
    d.edit("modelver.toml", "temperature = 0.8", "temperature = 0.3")
    d.edit("modelver.toml", "top_p = 0.85", "top_p = 0.8")
    d.edit("modelver.toml", "max_batch_size = 32", "max_batch_size = 48")
    d.modelver("lock")  # no evaluation run: the results on file are for an older state
    d.run("git", "add", "-A", show=False)
    d.run("git", "commit", "-q", "-m", "Friendlier tone, cooler sampling, bigger batches")
    d.modelver("release", "-m", "friendlier tone")

    d.step("customers say the bot agrees with everything: bisect finds the release, then the change")
    d.modelver(
        "bisect",
        "--good",
        "v2.0.0",
        "--bad",
        "v2.2.0",
        "--components",
        "--",
        "python",
        "evals/check.py",
        "--no-write",
    )


def audit(d: Demo) -> None:
    d.step("the audit report of prod: what served when, every version re-verified now, lineage drawn")
    d.modelver("audit", "--env", "prod", "--format", "html", "-o", str(d.root / "audit-prod.html"))
    d.modelver("lineage", "v2.1.0")


def _utc_now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _used(folder: Path) -> bool:
    return folder.exists() and any(folder.iterdir())


def _free(target: str) -> str:
    """A folder beside ``target`` that does not exist yet, written as ``target`` was (relative or not)."""
    stem = target.rstrip("/") or target
    return next(f"{stem}-{n}" for n in itertools.count(2) if not os.path.lexists(f"{stem}-{n}"))


def run(target: str, *, as_json: bool = False) -> int:
    """With ``as_json`` the narration goes to stderr and stdout gets one object: where everything is."""
    root = Path(target).resolve()
    if _used(root):
        raise UsageError(
            f"{root} is not empty: the demo builds in a new folder",
            fix=advice.modelver("demo", _free(target)),
        )
    for tool in ("git", "ssh-keygen", "dvc"):
        if shutil.which(tool) is None:
            raise UsageError(f"the demo needs `{tool}` on PATH: install it")
    d = Demo(root)
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        walk(d)
    if as_json:
        output.emit_json(summary(d))
    return 0


def walk(d: Demo) -> None:
    setup(d)
    lifecycle(d)
    deployments(d)
    regression(d)
    audit(d)
    d.close()
    print(f"\ndone in {time.monotonic() - d.started:.1f}s")
    print(f"  repository:  {d.repo}")
    print(f"  DVC remote:  {d.remote}")
    print(f"  signing key: {d.keys / 'releaser'} (throwaway; trusted via {d.keys / 'allowed_signers'})")
    print(f"  ledger:      git -C {d.repo} log --oneline modelver/ledger")
    print(f"  audit:       {d.root / 'audit-prod.html'} (open it in a browser)")
    print(f"  try:         git -C {d.repo} modelver log")


def summary(d: Demo) -> dict[str, object]:
    return {
        "root": str(d.root),
        "repository": str(d.repo),
        "dvc_remote": str(d.remote),
        "signing_key": str(d.keys / "releaser"),
        "allowed_signers": str(d.keys / "allowed_signers"),
        "ledger": "modelver/ledger",
        "audit": str(d.root / "audit-prod.html"),
        "seconds": round(time.monotonic() - d.started, 1),
    }
