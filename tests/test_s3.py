"""Weights on S3: real DVC (dvc-s3) against an S3-compatible server on 127.0.0.1 that checks credentials.

`push` uploads to the bucket before any Git ref moves; a fresh clone with an empty DVC cache verifies,
reproduces and loads from it; a missing or changed object on the bucket is named exactly by
`verify --remote`; wrong credentials are a one-line usage error, with a fix that works when pasted.

The server and one pushed project are shared by the module; a test that damages the bucket gets a
server-side copy of it, and each test reads through a fresh clone of its own.
"""

from __future__ import annotations

import hashlib
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import SigningKey
from dvc_helpers import TAG, DvcProject, dvc, isolated
from helpers import GitRepo, Result
from servers import CLIENT_ENV, Credentials, S3Server, free_port

import gitmodelver
from gitmodelver.errors import CheckFailed

V1 = TAG.format("1.0.0")
ALL_TAGS = [TAG.format(v) for v in ("1.0.0", "1.1.0", "1.2.0", "1.2.1")]
PREFIX = "support-bot"

pytest_plugins = ["dvc_fixtures"]  # its fixtures: built (shared), project (a copy)


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server.start(tmp_path_factory.mktemp("moto"))
    try:
        yield server
    finally:
        server.stop()


def aws_env(s3: S3Server, mp: pytest.MonkeyPatch, credentials: Credentials | None = None) -> None:
    """A releaser's credentials in the environment, as CI would set them; nothing else of AWS's."""
    for name, value in {**CLIENT_ENV, **(credentials or s3.credentials).env()}.items():
        mp.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
        mp.delenv(name, raising=False)
    mp.delenv("AWS_SHARED_CREDENTIALS_FILE", raising=False)


@pytest.fixture(autouse=True)
def releaser_env(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    aws_env(s3, monkeypatch)


class Bucket:
    """A bucket seen through boto3 (the test's eyes, not the tool's)."""

    def __init__(self, s3: S3Server, copy_of: Bucket | None = None) -> None:
        self.name = f"weights-{uuid.uuid4().hex[:12]}"
        self.client: Any = s3.client()
        self.client.create_bucket(Bucket=self.name)
        for key in copy_of.keys() if copy_of else ():
            self.client.copy_object(
                Bucket=self.name, Key=key, CopySource={"Bucket": copy_of.name, "Key": key}
            )

    @property
    def url(self) -> str:
        return f"s3://{self.name}/{PREFIX}"

    def key(self, md5: str) -> str:
        return f"{PREFIX}/files/md5/{md5[:2]}/{md5[2:]}"

    def keys(self) -> set[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return {o["Key"] for page in pages for o in page.get("Contents", [])}

    def objects(self) -> set[str]:
        """md5s of the DVC objects on the bucket."""
        return {k.split("/")[-2] + k.split("/")[-1] for k in self.keys()}

    def read(self, md5: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.name, Key=self.key(md5))["Body"].read())

    def put(self, md5: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=self.key(md5), Body=data)

    def delete(self, md5: str) -> None:
        self.client.delete_object(Bucket=self.name, Key=self.key(md5))


def use_bucket(project: DvcProject, bucket: Bucket, s3: S3Server, origin: Path) -> None:
    """Commit the bucket as the team's DVC remote (what `dvc remote add -d` and `dvc remote modify …
    endpointurl` write), with an empty bare repository as origin."""
    (project.repo.path / ".dvc" / "config.local").unlink()
    remote = f"['remote \"storage\"']\n    url = {bucket.url}\n    endpointurl = {s3.url}\n"
    (project.repo.path / ".dvc" / "config").write_text("[core]\n    remote = storage\n" + remote)
    project.repo.commit_all("DVC remote: S3")
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    project.repo.git("remote", "add", "origin", str(origin))


@dataclass(frozen=True)
class Published:
    project: DvcProject
    bucket: Bucket
    origin: Path
    pushed: dict[str, Any]  # what `push --json` said


@pytest.fixture(scope="module")
def published(
    built: DvcProject, s3: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Published]:
    """Four releases pushed with `git modelver push` to a bare origin and the bucket, once per module."""
    folder = tmp_path_factory.mktemp("published")
    with isolated(tmp_path_factory.mktemp("home")), pytest.MonkeyPatch.context() as mp:
        aws_env(s3, mp)
        project = built.copy(folder)
        bucket = Bucket(s3)
        use_bucket(project, bucket, s3, folder / "origin.git")
        result = project.repo.modelver("push", "origin", "--json")
        assert result.code == 0, result.out + result.err
        yield Published(project, bucket, folder / "origin.git", result.json())


@pytest.fixture
def damaged(published: Published, s3: S3Server) -> Bucket:
    """A copy of the published bucket for a test to damage."""
    return Bucket(s3, copy_of=published.bucket)


def fresh_clone(published: Published, dest: Path, key: SigningKey, bucket: Bucket | None = None) -> GitRepo:
    """A teammate's clone: no DVC cache, trusts the releaser's key; ``bucket`` overrides the committed one."""
    clone = GitRepo(dest)
    subprocess.run(["git", "clone", "-q", str(published.origin), str(dest)], check=True)
    assert not (dest / ".dvc" / "cache").exists()
    clone.git("config", "gpg.ssh.allowedSignersFile", str(key.allowed_signers))
    if bucket is not None:
        (dest / ".dvc" / "config.local").write_text(f"['remote \"storage\"']\n    url = {bucket.url}\n")
    return clone


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def checks(result: Result, tag: str) -> dict[str, dict[str, Any]]:
    version = next(v for v in result.json()["versions"] if v["tag"] == tag)
    return {c["name"]: c for c in version["checks"]}


# --------------------------------------------------------------------------- the round trip


def test_push_uploads_to_the_bucket_and_a_fresh_clone_verifies_reproduces_and_loads(
    published: Published, tmp_path: Path, ssh_key: SigningKey
) -> None:
    project, bucket = published.project, published.bucket
    there = subprocess.run(["git", "-C", str(published.origin), "tag"], capture_output=True, text=True)
    assert sorted(there.stdout.split()) == sorted(ALL_TAGS)
    assert published.pushed["objects_pushed"] == len(bucket.objects()) == 7  # 2 adapters, 2 listings, 3 files
    adapter = md5(project.versions[V1].adapter)
    assert bucket.read(adapter) == project.versions[V1].adapter

    clone = fresh_clone(published, tmp_path / "clone", ssh_key)
    result = clone.modelver("verify", "--all", "--remote", "--json")
    assert result.code == 0, result.out + result.err
    remote = checks(result, V1)["dvc-remote"]
    assert remote["ok"] and bucket.url in remote["detail"], remote
    assert "their MD5 as the storage states it" in remote["detail"]  # S3's ETags, compared for free
    deep = clone.modelver("verify", V1, "--remote", "--deep")  # reads every object back from the bucket
    assert deep.code == 1 and "not in the DVC cache" in deep.out  # the clone's cache is empty: --deep says so
    assert "ok    dvc-remote" in deep.out and "each rehashed" in deep.out

    out = tmp_path / "v1"
    result = clone.modelver("reproduce", V1, "--to", str(out))
    assert result.code == 0, result.out + result.err
    assert f"from DVC remote {bucket.url}" in result.err
    expected = project.versions[V1]
    assert (out / "models" / "adapter.safetensors").read_bytes() == expected.adapter
    assert {p.name: p.read_bytes() for p in (out / "indexes" / "faq").iterdir()} == expected.index

    serving = fresh_clone(published, tmp_path / "serving", ssh_key)  # load() fetches for itself
    latest = TAG.format("1.2.1")
    v = gitmodelver.load(latest, repo=serving.path)
    assert v.weights("adapter").read_bytes() == project.versions[latest].adapter
    index = v.weights("retrieval.index")
    assert {p.name: p.read_bytes() for p in index.iterdir()} == project.versions[latest].index


def test_pushing_again_uploads_nothing(published: Published, tmp_path: Path, ssh_key: SigningKey) -> None:
    clone = fresh_clone(published, tmp_path / "clone", ssh_key)  # HEAD's weights are on the bucket already
    before = published.bucket.keys()
    again = clone.modelver("push", "origin", "--json")
    assert again.code == 0, again.err
    assert again.json()["objects_pushed"] == 0 and again.json()["tags"] == []
    assert published.bucket.keys() == before


# --------------------------------------------------------------------------- damage on the bucket


def test_a_missing_object_is_named_by_component_and_object(
    published: Published, damaged: Bucket, tmp_path: Path, ssh_key: SigningKey
) -> None:
    versions = published.project.versions
    adapter = md5(versions[V1].adapter)
    faq_a = md5(versions[V1].index["a.txt"])
    damaged.delete(adapter)
    damaged.delete(faq_a)  # a.txt is in every version's index
    clone = fresh_clone(published, tmp_path / "clone", ssh_key, damaged)
    result = clone.modelver("verify", "--all", "--remote", "--json")
    assert result.code == 1
    detail = checks(result, V1)["dvc-remote"]["detail"]
    assert f"not on DVC remote {damaged.url}: " in detail
    assert f"weights.adapter: models/adapter.safetensors ({adapter})" in detail
    assert f"retrieval.index: indexes/faq/a.txt ({faq_a})" in detail
    later = checks(result, TAG.format("1.1.0"))["dvc-remote"]["detail"]
    assert adapter not in later and f"indexes/faq/a.txt ({faq_a})" in later
    # Reproducing it says what is lost, and leaves nothing behind.
    out = tmp_path / "v1"
    failed = clone.modelver("reproduce", V1, "--to", str(out))
    assert failed.code == 1 and not out.exists()
    assert f"weights.adapter: models/adapter.safetensors ({adapter})" in failed.err, failed.err


def test_a_changed_object_is_named_without_downloading_it(
    published: Published, damaged: Bucket, tmp_path: Path, ssh_key: SigningKey
) -> None:
    versions = published.project.versions
    adapter = md5(versions[V1].adapter)
    size = len(versions[V1].adapter)
    damaged.put(adapter, b"\0" * size)  # same size, other bytes
    clone = fresh_clone(published, tmp_path / "clone", ssh_key, damaged)
    for args in (("--remote",), ("--remote", "--deep")):
        result = clone.modelver("verify", V1, *args, "--json")
        assert result.code == 1, result.out
        detail = checks(result, V1)["dvc-remote"]["detail"]
        assert f"changed on DVC remote {damaged.url}: weights.adapter: models/adapter.safetensors" in detail
        assert md5(b"\0" * size)[:12] in detail and adapter[:12] in detail
    later = TAG.format("1.1.0")
    assert checks(clone.modelver("verify", later, "--remote", "--json"), later)["dvc-remote"]["ok"]
    # Serving refuses the bytes the bucket now holds.
    with pytest.raises(CheckFailed, match=f"changed on DVC remote {damaged.url}: weights.adapter"):
        gitmodelver.load(V1, repo=clone.path).weights("adapter")


def test_reproducing_from_a_changed_object_keeps_nothing(
    published: Published, damaged: Bucket, tmp_path: Path, ssh_key: SigningKey
) -> None:
    adapter = md5(published.project.versions[V1].adapter)
    damaged.put(adapter, b"\0" * len(published.project.versions[V1].adapter))
    clone = fresh_clone(published, tmp_path / "clone", ssh_key, damaged)
    out = tmp_path / "v1"
    result = clone.modelver("reproduce", V1, "--to", str(out))
    assert result.code == 1
    assert f"changed on DVC remote {damaged.url}: weights.adapter: models/adapter.safetensors" in result.err
    assert not out.exists()
    cached = clone.path / ".dvc" / "cache" / "files" / "md5" / adapter[:2] / adapter[2:]
    assert not cached.exists()  # the wrong bytes never became a trusted cache object


def test_an_object_uploaded_in_parts_is_checked_by_deep_only(
    published: Published, damaged: Bucket, tmp_path: Path, ssh_key: SigningKey
) -> None:
    adapter = md5(published.project.versions[V1].adapter)
    client, key = damaged.client, damaged.key(adapter)
    upload = client.create_multipart_upload(Bucket=damaged.name, Key=key)["UploadId"]
    part = client.upload_part(Bucket=damaged.name, Key=key, UploadId=upload, PartNumber=1, Body=b"\1" * 1024)
    client.complete_multipart_upload(
        Bucket=damaged.name,
        Key=key,
        UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    assert "-" in client.head_object(Bucket=damaged.name, Key=key)["ETag"]  # an ETag that is no MD5
    clone = fresh_clone(published, tmp_path / "clone", ssh_key, damaged)
    assert (
        clone.modelver("verify", V1, "--remote").code == 0
    )  # neither an existence query nor the ETag can tell
    deep = clone.modelver("verify", V1, "--remote", "--deep", "--json")
    detail = checks(deep, V1)["dvc-remote"]["detail"]
    assert f"changed on DVC remote {damaged.url}: weights.adapter: models/adapter.safetensors" in detail


# --------------------------------------------------------------------------- credentials


def run_cli(repo: GitRepo, *args: str) -> Result:
    """As a user runs it: its own process, where nothing this test process set up helps or hides."""
    return repo.modelver_proc(*args)


def one_line_error(result: Result) -> str:
    assert result.code == 2, result.out + result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.err  # progress lines may come before it
    assert "Traceback" not in result.err
    return errors[0]


def test_wrong_credentials_in_the_environment_are_a_usage_error(
    published: Published, tmp_path: Path, ssh_key: SigningKey, monkeypatch: pytest.MonkeyPatch, s3: S3Server
) -> None:
    clone = fresh_clone(published, tmp_path / "clone", ssh_key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTAKNOWNKEY0000")
    for args in (("verify", "--all", "--remote"), ("reproduce", V1, "--to", str(tmp_path / "v1")), ("push",)):
        line = one_line_error(run_cli(clone, *args))
        assert f"DVC remote storage ({published.bucket.url} at {s3.url}) refused access key " in line, line
        assert "AKIANOTAKNOWNKEY0000 from the environment (AWS_ACCESS_KEY_ID): InvalidAccessKeyId" in line, (
            line
        )
        assert line.endswith("(fix: unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY)"), line
    assert not (tmp_path / "v1").exists()


def test_wrong_credentials_in_config_local_are_named_and_the_fix_works(
    published: Published, tmp_path: Path, ssh_key: SigningKey, s3: S3Server
) -> None:
    clone = fresh_clone(published, tmp_path / "clone", ssh_key)
    # as `dvc remote modify --local storage access_key_id …` (and secret_access_key) write them
    (clone.path / ".dvc" / "config.local").write_text(
        f"['remote \"storage\"']\n    access_key_id = {s3.credentials.access_key_id}\n"
        "    secret_access_key = not-the-secret\n"
    )
    line = one_line_error(run_cli(clone, "verify", "--all", "--remote"))
    assert f"refused access key {s3.credentials.access_key_id} from .dvc/config.local: " in line, line
    assert "SignatureDoesNotMatch" in line and "not-the-secret" not in line, line  # a secret is never shown
    fix = line.split("(fix: ", 1)[1].removesuffix(")")
    for part in fix.split(" && "):
        subprocess.run(shlex.split(part), cwd=clone.path, check=True, capture_output=True)
    assert clone.modelver("verify", "--all", "--remote").code == 0  # the environment's keys apply again


def test_a_key_that_may_only_read_cannot_push_and_no_ref_moves(
    project: DvcProject, tmp_path: Path, s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = Bucket(s3)
    use_bucket(project, bucket, s3, tmp_path / "origin.git")
    aws_env(s3, monkeypatch, s3.reader)
    line = one_line_error(run_cli(project.repo, "push", "origin"))
    assert f"refused access key {s3.reader.access_key_id} from the environment (AWS_ACCESS_KEY_ID)" in line
    assert "AccessDenied" in line, line
    refs = subprocess.run(
        ["git", "-C", str(tmp_path / "origin.git"), "for-each-ref"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert refs.stdout == "" and bucket.keys() == set()  # no tag without its weights


def test_no_credentials_at_all_say_where_to_put_them(
    published: Published, tmp_path: Path, ssh_key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    clone = fresh_clone(published, tmp_path / "clone", ssh_key)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = clone.modelver("verify", V1, "--remote")
    assert result.code == 2, result.out + result.err
    assert "no credentials found" in result.err, result.err
    assert "dvc remote modify --local storage access_key_id" in result.err


def test_an_endpoint_nobody_listens_on_is_named(
    published: Published, tmp_path: Path, ssh_key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    clone = fresh_clone(published, tmp_path / "clone", ssh_key)
    closed = f"http://127.0.0.1:{free_port()}"
    dvc(clone, "remote", "modify", "--local", "storage", "endpointurl", closed)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # fail fast: the message is the point, not the retries
    result = clone.modelver("reproduce", V1, "--to", str(tmp_path / "v1"))
    assert result.code == 2, result.out + result.err
    assert f"cannot reach DVC remote storage ({published.bucket.url} at {closed}): " in result.err, result.err
    assert "dvc remote modify storage endpointurl" in result.err
    assert not (tmp_path / "v1").exists()


def test_without_the_s3_plugin_the_message_says_what_to_install(
    published: Published, tmp_path: Path, ssh_key: SigningKey
) -> None:
    clone = fresh_clone(published, tmp_path / "clone", ssh_key)
    # A Python where dvc-s3 is not installed: importing it fails, as it does there.
    code = (
        "import sys\n"
        "sys.modules['dvc_s3'] = None\n"
        "from gitmodelver.cli import main\n"
        f"raise SystemExit(main(['-C', {str(clone.path)!r}, 'verify', {V1!r}, '--remote']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    line = one_line_error(Result(proc.returncode, proc.stdout, proc.stderr))
    assert (
        "DVC needs dvc-s3 for s3:// remotes, and it is not installed here (fix: pip install dvc-s3)" in line
    )


def test_a_bucket_that_does_not_exist_is_named(
    project: DvcProject, tmp_path: Path, s3: S3Server, published: Published
) -> None:
    use_bucket(project, published.bucket, s3, tmp_path / "origin.git")
    missing = f"s3://weights-{uuid.uuid4().hex[:12]}/{PREFIX}"  # nobody made it
    (project.repo.path / ".dvc" / "config.local").write_text(f"['remote \"storage\"']\n    url = {missing}\n")
    result = project.repo.modelver("push", "origin")
    assert result.code == 2, result.err
    assert f"DVC remote storage ({missing} at {s3.url}): the bucket does not exist" in result.err, result.err
    refs = subprocess.run(
        ["git", "-C", str(tmp_path / "origin.git"), "for-each-ref"], capture_output=True, text=True
    )
    assert refs.stdout == ""


def test_a_profile_that_does_not_exist_is_named_and_the_fix_works(
    published: Published, tmp_path: Path, ssh_key: SigningKey
) -> None:
    clone = fresh_clone(published, tmp_path / "clone", ssh_key)
    dvc(clone, "remote", "modify", "--local", "storage", "profile", "nosuch")
    result = clone.modelver("verify", V1, "--remote")
    assert result.code == 2, result.out + result.err
    assert "The config profile (nosuch) could not be found (named by .dvc/config.local)" in result.err
    fix = result.err.strip().split("(fix: ", 1)[1].removesuffix(")")
    assert fix == "dvc remote modify --local storage --unset profile"
    subprocess.run(shlex.split(fix), cwd=clone.path, check=True, capture_output=True)
    assert clone.modelver("verify", V1, "--remote").code == 0
