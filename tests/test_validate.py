from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest

from gitmodelver.core.validate import SCHEMA_PATH, check, parse_toml, validate
from gitmodelver.errors import ManifestError

SHA = "0e9e39f249a16976918f6564b8830bc894c89659"
H64 = "a" * 64
M32 = "b" * 32
FILE = "modelver.toml"

# The SPEC §2 example with real pins.
VALID = f"""\
[system]
name = "support-bot"            # tag prefix; [a-z0-9][a-z0-9._-]*
version = "1.4.0"               # written by `release`; a person never edits it

[base_model]                    # the foundation model
id = "meta-llama/Llama-3.1-8B-Instruct"
revision = "{SHA}"   # must be an immutable id (commit sha / digest)

[weights.adapter]               # a fine-tune checkpoint tracked by DVC
dvc = "models/adapter.safetensors.dvc"
md5 = "{M32}"
trained_on = ["data/train.jsonl.dvc"]   # lineage (optional)

[prompts.system]                # a prompt template tracked in Git
path = "prompts/system.j2"
sha256 = "{H64}"

[retrieval]
embedding_model = "BAAI/bge-small-en-v1.5"
chunk_size = 512
chunk_overlap = 64
index = {{ dvc = "indexes/faq.dvc", md5 = "{M32}.dir" }}

[parameters]                    # generation parameters
temperature = 0.2
top_p = 0.9

[serving]
quantization = "awq-int4"
hardware = "nvidia-h100"
max_batch_size = 32

[evaluation]
suite   = {{ path = "evals/suite.yaml",   sha256 = "{H64}" }}
results = {{ path = "evals/results.json", sha256 = "{H64}" }}
gates   = {{ accuracy = ">= 0.85", toxicity = "<= 0.01" }}

[policy]                        # all optional
require_signed = true
require_eval = true
prompt_globs = ["prompts/**"]
bump = {{ "serving.quantization" = "minor", "parameters.*" = "patch" }}

[rollout]
steps = [5, 25, 50, 100]
min_samples = 200
failure_limit = 0
[rollout.metrics.thumbs_up]
direction = "higher"
max_regression = 0.02
test = "proportion"
confidence = 0.95
"""


def _edit(old: str, new: str, text: str = VALID) -> str:
    assert text.count(old) == 1, f"{old!r} must appear exactly once"
    return text.replace(old, new)


def _problems(text: str, **paths: Path) -> list[str]:
    return validate(tomllib.loads(text), text, FILE, **paths)


def _line(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_spec_example_is_valid() -> None:
    assert _problems(VALID) == []


@pytest.mark.parametrize(
    "text",
    [
        _edit(f'revision = "{SHA}"', f'revision = "{H64}"'),
        _edit(f'revision = "{SHA}"', f'revision = "sha256:{H64}"'),
        _edit('version = "1.4.0"', 'version = "1.5.0-rc.1+build.7"'),
        _edit('version = "1.4.0"', "# version = none yet"),  # a system before its first release
        VALID + "\n[future_section]\nanything = { goes = [1, 2] }\n",
        VALID + f'\n[datasets.train]\ndvc = "data/train.jsonl.dvc"\nmd5 = "{M32}"\n',
        VALID + "\n[extra]\nwhen = 2024-05-01T10:00:00Z\n",  # TOML datetimes outside the known fields
        _edit('path = "prompts/system.j2"', 'path = "prompts/./sub/../system.j2"'),
    ],
)
def test_other_valid_manifests(text: str) -> None:
    assert _problems(text) == []


# (old, new, location, message fragment[, line needle]); the expected line is wherever `new` landed,
# or the needle's line: a missing key is reported at its table.
BAD = [
    (
        'revision = "' + SHA + '"',
        'revision = "main"',
        "/base_model/revision",
        "'main' is not an immutable revision (use a commit sha or sha256 digest)",
    ),
    (
        'revision = "' + SHA + '"',
        'revision = "' + SHA[:12] + '"',
        "/base_model/revision",
        "is not an immutable revision",
    ),
    ('name = "support-bot"', 'name = "Support Bot"', "/system/name", "is not a valid system name"),
    ('version = "1.4.0"', 'version = "v1.4.0"', "/system/version", "is not a SemVer 2.0.0 version"),
    ('version = "1.4.0"', 'version = "1.4"', "/system/version", "is not a SemVer 2.0.0 version"),
    ('accuracy = ">= 0.85"', 'accuracy = "at least 0.85"', "/evaluation/gates/accuracy", "is not a gate"),
    (
        "require_eval = true",
        "requre_eval = true",
        "/policy/requre_eval",
        "unknown key 'requre_eval' (did you mean 'require_eval'?)",
    ),
    (
        '"serving.quantization" = "minor"',
        '"serving.quantization" = "huge"',
        "/policy/bump/serving.quantization",
        "'huge' is not a bump level",
    ),
    (
        "require_signed = true",
        'require_signed = "yes"',
        "/policy/require_signed",
        "expected true or false, got string 'yes'",
    ),
    (f'sha256 = "{H64}"\n', f'sha256 = "{H64[:63]}"\n', "/prompts/system/sha256", "is not a sha256 pin"),
    (f'md5 = "{M32}"\n', f'md5 = "{M32.upper()}"\n', "/weights/adapter/md5", "is not an md5 pin"),
    (f'md5 = "{M32}.dir"', f'md5 = "{M32}.zip"', "/retrieval/index/md5", "is not an md5 pin"),
    (
        'path = "prompts/system.j2"',
        'path = "../../etc/passwd"',
        "/prompts/system/path",
        "leaves the repository",
    ),
    (
        'dvc = "models/adapter.safetensors.dvc"',
        'dvc = "/models/adapter.safetensors.dvc"',
        "/weights/adapter/dvc",
        "is absolute",
    ),
    (
        'dvc = "models/adapter.safetensors.dvc"',
        'dvc = "C:/models/adapter.dvc"',
        "/weights/adapter/dvc",
        "is absolute",
    ),
    (
        'path = "prompts/system.j2"',
        "path = 'prompts\\system.j2'",
        "/prompts/system/path",
        "write paths with '/'",
    ),
    ('path = "prompts/system.j2"', 'path = ""', "/prompts/system/path", "empty path"),
    (
        'trained_on = ["data/train.jsonl.dvc"]',
        'trained_on = ["../outside.jsonl"]',
        "/weights/adapter/trained_on/0",
        "leaves the repository",
    ),
    ('path = "evals/suite.yaml"', 'path = "/evals/suite.yaml"', "/evaluation/suite/path", "is absolute"),
    ("temperature = 0.2", "temperature = -0.1", "/parameters/temperature", "must be at least 0"),
    ("top_p = 0.9", "top_p = 1.5", "/parameters/top_p", "must be at most 1"),
    ("max_batch_size = 32", "max_batch_size = 0", "/serving/max_batch_size", "must be at least 1"),
    ("max_batch_size = 32", "max_batch_size = 32.0", "/serving/max_batch_size", "expected an integer"),
    (
        'dvc = "models/adapter.safetensors.dvc"',
        'path = "models/adapter.safetensors"',
        "/weights/adapter",
        "weights are tracked by DVC",
        "[weights.adapter]",
    ),
    ('suite   = { path = "evals/suite.yaml", ', "suite   = { ", "/evaluation/suite", "needs `path`"),
    ("steps = [5, 25, 50, 100]", "steps = [0, 25, 50, 100]", "/rollout/steps/0", "is not a traffic step"),
    ('test = "proportion"', 'test = "t-test"', "/rollout/metrics/thumbs_up/test", "is not a test"),
    ("confidence = 0.95", "confidence = 1", "/rollout/metrics/thumbs_up/confidence", "less than 1"),
    ("min_samples = 200", "min_samples = -1", "/rollout/min_samples", "must be at least 0"),
]


@pytest.mark.parametrize("case", BAD, ids=[case[2] for case in BAD])
def test_each_problem_has_its_line_and_location(case: tuple[str, ...]) -> None:
    old, new, location, message = case[:4]
    text = _edit(old, new)
    line = _line(text, case[4] if len(case) > 4 else new.split("\n")[0])
    problems = _problems(text)
    assert len(problems) == 1, problems
    prefix = f"{FILE}:{line}: {location}: "
    assert problems[0].startswith(prefix), problems
    assert message in problems[0]


def test_missing_keys_point_at_their_table_and_missing_sections_have_no_line() -> None:
    text = _edit(f'revision = "{SHA}"   # must be an immutable id (commit sha / digest)\n', "")
    text = _edit(VALID[: VALID.index("[base_model]")], "", text)  # no [system] at all
    assert _problems(text) == [
        f"{FILE}:{_line(text, '[base_model]')}: /base_model: missing required key 'revision'",
        f"{FILE}: /: missing required key 'system'",  # unknown lines sort last
    ]


def test_three_problems_are_all_reported_sorted_by_line() -> None:
    # Edited bottom-up in the file so that generation order differs from line order.
    text = _edit("top_p = 0.9", "top_p = 2")
    text = _edit('revision = "' + SHA + '"', 'revision = "main"', text)
    text = _edit('name = "support-bot"', 'name = "-bot"', text)
    problems = _problems(text)
    assert [p.split(": ")[1] for p in problems] == [
        "/system/name",
        "/base_model/revision",
        "/parameters/top_p",
    ]
    lines = [int(p.split(":")[1]) for p in problems]
    assert lines == sorted(lines) == [_line(text, "-bot"), _line(text, '"main"'), _line(text, "top_p")]


def test_check_raises_with_every_problem() -> None:
    text = _edit("top_p = 0.9", "top_p = 2")
    text = _edit('name = "support-bot"', 'name = "-bot"', text)
    with pytest.raises(ManifestError) as caught:
        check(tomllib.loads(text), text, FILE)
    assert len(caught.value.problems) == 2
    assert caught.value.fix is None
    check(tomllib.loads(VALID), VALID, FILE)  # a valid manifest passes quietly


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('[system]\nname = "x"\nversion = 1.2.3\n', 3),
        ('[system]\nname = "x"\n[system]\nname = "y"\n', 3),
        ('[system]\nname = "x"\ntags = [\n  "a",\n', 4),  # "at end of document": its last line
    ],
)
def test_malformed_toml_is_one_problem_with_its_line(text: str, line: int) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_toml(text, FILE)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{FILE}:{line}: malformed TOML: ")
    assert "(at line" not in problem
    assert parse_toml(VALID, FILE)["system"]["name"] == "support-bot"


# --------------------------------------------------------------------------- working-tree checks


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "prompts").mkdir(parents=True)
    (root / "prompts" / "system.j2").write_text("hi")
    (tmp_path / "outside").mkdir()
    return root


def _tree_problems(text: str, root: Path, base: Path | None = None) -> list[str]:
    return _problems(text, root=root, base=base or root)


def test_symlink_to_etc_leaves_the_repository(repo: Path) -> None:
    link = repo / "prompts" / "system.j2"
    link.unlink()
    link.symlink_to("/etc/passwd")
    assert _tree_problems(VALID, repo) == [
        f"{FILE}:{_line(VALID, 'prompts/system.j2')}: /prompts/system/path: symlink leaves the repository: "
        f"'prompts/system.j2' -> '{Path('/etc/passwd').resolve()}'"
    ]


def test_symlinked_parent_directory_leaves_the_repository(repo: Path) -> None:
    (repo / "models").symlink_to(repo.parent / "outside", target_is_directory=True)
    (problem,) = _tree_problems(VALID, repo)
    assert problem.startswith(f"{FILE}:{_line(VALID, 'adapter.safetensors')}: /weights/adapter/dvc: ")
    assert "symlink leaves the repository: 'models' -> " in problem


def test_broken_symlink_out_of_the_repository_is_still_caught(repo: Path) -> None:
    (repo / "evals").symlink_to(repo.parent / "outside" / "missing")
    problems = _tree_problems(VALID, repo)
    assert [p.split(": ")[1] for p in problems] == ["/evaluation/suite/path", "/evaluation/results/path"]


def test_dot_dot_after_a_symlink_is_resolved_like_the_os_does(repo: Path) -> None:
    # prompts/up -> the repository root, so prompts/up/../x is above the root though it reads as inside.
    (repo / "prompts" / "up").symlink_to(repo, target_is_directory=True)
    text = _edit('path = "prompts/system.j2"', 'path = "prompts/up/../system.j2"')
    (problem,) = _tree_problems(text, repo)
    assert "/prompts/system/path: symlink leaves the repository" in problem


def test_symlinks_inside_the_repository_and_missing_files_are_fine(repo: Path) -> None:
    (repo / "shared").mkdir()
    (repo / "shared" / "system.j2").write_text("hi")
    link = repo / "prompts" / "system.j2"
    link.unlink()
    link.symlink_to(os.path.join("..", "shared", "system.j2"))
    (repo / "models").symlink_to(repo / "shared", target_is_directory=True)
    # models/adapter.safetensors.dvc, evals/* and data/* do not exist: other code reports that.
    assert _tree_problems(VALID, repo) == []


def test_paths_are_relative_to_the_manifest_folder_inside_the_repository(repo: Path) -> None:
    base = repo / "systems" / "bot"
    base.mkdir(parents=True)
    inside = _edit('path = "prompts/system.j2"', 'path = "../../prompts/system.j2"')
    outside = _edit('path = "prompts/system.j2"', 'path = "../../../prompts/system.j2"')
    assert _tree_problems(inside, repo, base) == []
    (problem,) = _tree_problems(outside, repo, base)
    assert "/prompts/system/path: '../../../prompts/system.j2' leaves the repository" in problem


@pytest.mark.parametrize("target", [".", "./", "prompts/..", "./prompts/../."])
def test_a_path_that_is_the_manifest_folder_names_no_file(repo: Path, target: str) -> None:
    text = _edit('path = "prompts/system.j2"', f'path = "{target}"')
    expected = f"/prompts/system/path: '{target}' is the manifest's own folder; name a file in it"
    for problems in (_tree_problems(text, repo), _problems(text)):
        (problem,) = problems
        assert problem.endswith(expected)


def test_a_directory_is_no_file_but_a_dvc_output_may_be_one(repo: Path) -> None:
    text = _edit('path = "prompts/system.j2"', 'path = "prompts"')
    (problem,) = _tree_problems(text, repo)
    assert problem.endswith("/prompts/system/path: 'prompts' is a directory; a path reference names one file")
    # a pipeline's output folder (DVC's `….dir` md5) is a directory by nature
    index = _edit('dvc = "indexes/faq.dvc"', 'dvc = "indexes/faq"')
    (repo / "indexes" / "faq").mkdir(parents=True)
    assert _tree_problems(index, repo) == []


def test_without_a_working_tree_a_relative_base_places_the_manifest() -> None:
    text = _edit('path = "prompts/system.j2"', 'path = "../shared/system.j2"')
    assert _problems(text, base=Path("systems/bot")) == []
    (problem,) = _problems(text)  # no base: the manifest is taken to sit at the repository root
    assert "/prompts/system/path: '../shared/system.j2' leaves the repository" in problem


# --------------------------------------------------------------------------- the schemas themselves


def test_schemas_are_valid_json_schema_2020_12() -> None:
    from jsonschema import Draft202012Validator

    for name in ("manifest.schema.json", "eval-results.schema.json"):
        Draft202012Validator.check_schema(json.loads((SCHEMA_PATH.parent / name).read_text()))


@pytest.mark.parametrize(
    ("results", "valid"),
    [
        (
            {"subject": f"sha256:{H64}", "metrics": {"accuracy": 0.91}, "created_at": "2024-05-01T10:00:00Z"},
            True,
        ),
        (
            {
                "subject": f"sha256:{H64}",
                "metrics": {"a": 1},
                "created_at": "2024-05-01T10:00:00Z",
                "suite": "evals/suite.yaml",
                "harness": {"name": "lm-eval"},
                "notes": "n",
                "extra": [1],
            },
            True,
        ),
        ({"subject": H64, "metrics": {"accuracy": 0.91}, "created_at": "2024-05-01T10:00:00Z"}, False),
        ({"subject": f"sha256:{H64}", "metrics": {}, "created_at": "2024-05-01T10:00:00Z"}, False),
        ({"subject": f"sha256:{H64}", "metrics": {"accuracy": "high"}, "created_at": "2024-05-01"}, False),
        ({"subject": f"sha256:{H64}", "metrics": {"accuracy": 0.9}}, False),
    ],
)
def test_eval_results_schema(results: dict[str, object], valid: bool) -> None:
    from jsonschema import Draft202012Validator

    schema = json.loads((SCHEMA_PATH.parent / "eval-results.schema.json").read_text())
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert validator.is_valid(results) is valid
