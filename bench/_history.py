"""A repository with a long release history, built with ``git fast-import`` in seconds, for the scale
benchmarks: one commit per version (a parameter changes in ``modelver.toml``), an annotated tag
``bench@vX.Y.Z`` on it whose message ``release`` would have written (summary, changes, the four trailers,
digests that match the manifest), every 100th version a minor one. Refs end up packed, as after a clone or
``git gc``.

    python bench/_history.py DIR --versions 10000
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import time
from pathlib import Path

from gitmodelver.core import digest, manifest
from gitmodelver.core.diff import diff
from gitmodelver.gitstore import tagmsg

NAME = "bench"
PROMPT = b"You are a support assistant. Answer about {{ topic }} in one paragraph.\n"


def version_at(i: int) -> tuple[str, str]:
    """The i-th version (from 0) and its level: patches, every 100th a minor."""
    if i == 0:
        return "1.0.0", "initial"
    minor, patch = divmod(i, 100)
    return f"1.{minor}.{patch}", ("minor" if patch == 0 else "patch")


def manifest_text(version: str, i: int) -> str:
    return (
        f'[system]\nname = "{NAME}"\nversion = "{version}"\n\n'
        '[base_model]\nid = "meta-llama/Llama-3.1-8B-Instruct"\n'
        'revision = "0e9e39f249a16976918f6564b8830bc894c89659"\n\n'
        f'[prompts.system]\npath = "prompts/system.j2"\nsha256 = "{hashlib.sha256(PROMPT).hexdigest()}"\n\n'
        f"[parameters]\ntemperature = 0.2\nmax_tokens = {256 + i}\n"
        + ('new = "minor"\n' if i % 100 == 0 and i else "")
    )


def _data(payload: bytes) -> bytes:
    return b"data %d\n" % len(payload) + payload + b"\n"


def stream(versions: int, start: int) -> bytes:
    """The fast-import stream: blobs, commits and annotated tags, oldest first."""
    out = [b"blob\nmark :1\n", _data(PROMPT)]
    previous: tuple[str, dict[str, object]] | None = None
    for i in range(versions):
        version, level = version_at(i)
        text = manifest_text(version, i)
        data = manifest.parse(text, "modelver.toml").data
        when = b"%d +0000" % (start + i * 60)
        who = b"Bench <bench@example.com> " + when
        mark = 2 + 2 * i
        out += [b"blob\nmark :%d\n" % mark, _data(text.encode())]
        out += [b"commit refs/heads/main\nmark :%d\n" % (mark + 1), b"author " + who + b"\n"]
        out += [b"committer " + who + b"\n", _data(f"Tune for v{version}".encode())]
        if i == 0:
            out.append(b"M 100644 :1 prompts/system.j2\n")
        out += [b"M 100644 :%d modelver.toml\n\n" % mark]
        trailers = {
            "Modelver-Digest": digest.version_digest(data),
            "Modelver-State": digest.state_digest(data),
            "Modelver-Bump": level,
        }
        if previous is not None:
            trailers["Modelver-Previous"] = previous[0]
        changes = diff(previous[1] if previous else None, data)
        message = tagmsg.compose(NAME, version, level, changes, trailers)
        tag = f"{NAME}@v{version}"
        out += [f"tag {tag}\nfrom :{mark + 1}\n".encode(), b"tagger " + who + b"\n", _data(message.encode())]
        previous = (tag, data)
    return b"".join(out)


def build(path: Path, versions: int) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    for key, value in (("user.name", "Bench"), ("user.email", "bench@example.com")):
        subprocess.run(["git", "-C", str(path), "config", key, value], check=True)
    start = int(time.time()) - versions * 60 - 3600
    fast_import = ["git", "-C", str(path), "fast-import", "--quiet"]
    subprocess.run(fast_import, input=stream(versions, start), check=True)
    subprocess.run(["git", "-C", str(path), "pack-refs", "--all"], check=True)
    subprocess.run(["git", "-C", str(path), "checkout", "-q", "main"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--versions", type=int, default=10_000)
    args = parser.parse_args()
    began = time.perf_counter()
    build(args.directory, args.versions)
    print(f"built {args.versions} versions in {time.perf_counter() - began:.1f}s")


if __name__ == "__main__":
    main()
