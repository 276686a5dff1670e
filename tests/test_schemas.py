"""Every schema we ship is valid JSON Schema 2020-12, and the package sees the same files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

SCHEMAS = sorted((Path(__file__).parent.parent / "schemas").glob("*.schema.json"))


def test_all_four_schemas_ship() -> None:
    assert {p.name for p in SCHEMAS} >= {
        "manifest.schema.json",
        "eval-results.schema.json",
        "ledger-event.schema.json",
        "audit.schema.json",
    }


@pytest.mark.parametrize("path", SCHEMAS, ids=[p.name for p in SCHEMAS])
def test_schema_is_valid_2020_12(path: Path) -> None:
    schema = json.loads(path.read_text("utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    packaged = Path(__file__).parent.parent / "gitmodelver" / "schemas" / path.name
    assert packaged.read_bytes() == path.read_bytes()


def test_import_gitmodelver_is_light() -> None:
    """`import gitmodelver` (serving code, hooks) loads neither pygit2 nor the Router until asked."""
    code = (
        "import sys, gitmodelver\n"
        "heavy = [m for m in ('pygit2', 'dvc', 'jsonschema',"
        " 'gitmodelver.deploy.router', 'gitmodelver.dvc.loading')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
        "gitmodelver.Router\n"
        "print('gitmodelver.deploy.router' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["", "True"]
