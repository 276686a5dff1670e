"""Two repositories shaped like real projects, built from scratch and run for real (no gitmodelver yet).

* ``classifier``: a DVC pipeline project the way DVC's own tutorials lay one out — a raw data set under
  ``dvc add``, four stages (prepare → featurize → train → evaluate) whose scripts use only the standard
  library, ``params.yaml``, ``dvc.yaml`` with ``artifacts:`` (the model, ``type: model``) and ``metrics:``,
  directory outputs (``data/prepared``, ``data/features``, ``eval/plots``) and a model file, reproduced with
  ``dvc repro`` and pushed to a local DVC remote.
* ``llm_app``: an LLM application with prompts in several folders, a LoRA adapter folder under
  ``dvc add``, generation parameters in ``params.yaml``, and an evaluation harness (a DVC stage) that
  stamps its results with the state digest.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dvc_helpers import dvc
from helpers import GitRepo

# --------------------------------------------------------------------------- the DVC pipeline project

CLASSIFIER_DVC_YAML = """\
stages:
  prepare:
    cmd: {python} src/prepare.py data/data.xml
    deps:
      - data/data.xml
      - src/prepare.py
    params:
      - prepare.seed
      - prepare.split
    outs:
      - data/prepared
  featurize:
    cmd: {python} src/featurization.py data/prepared data/features
    deps:
      - data/prepared
      - src/featurization.py
    params:
      - featurize.max_features
      - featurize.ngrams
    outs:
      - data/features
  train:
    cmd: {python} src/train.py data/features model.pkl
    deps:
      - data/features
      - src/train.py
    params:
      - train.min_split
      - train.n_est
      - train.seed
    outs:
      - model.pkl
  evaluate:
    cmd: {python} src/evaluate.py model.pkl data/features
    deps:
      - data/features
      - model.pkl
      - src/evaluate.py
    outs:
      - eval/plots
    metrics:
      - eval/metrics.json:
          cache: false
artifacts:
  text-classifier:
    path: model.pkl
    type: model
    desc: Detect whether a question is about R or Python
    labels:
      - classification
      - nlp
metrics:
  - eval/metrics.json
"""

CLASSIFIER_PARAMS = """\
prepare:
  split: 0.20
  seed: 20170428

featurize:
  max_features: 100
  ngrams: 1

train:
  seed: 20170428
  n_est: 50
  min_split: 0.01
"""

PREPARE = """\
import os, random, sys, xml.etree.ElementTree as ET
sys.path.insert(0, "src")
from prepare_params import load_params
p = load_params()["prepare"]
random.seed(p["seed"])
os.makedirs("data/prepared", exist_ok=True)
posts = ET.parse(sys.argv[1]).getroot()
with open("data/prepared/train.tsv", "w") as train, open("data/prepared/test.tsv", "w") as test:
    for post in posts:
        label = 1 if "<python>" in post.get("Tags", "") else 0
        out = test if random.random() < p["split"] else train
        out.write(f"{post.get('Id')}\\t{label}\\t{post.get('Title', '')}\\n")
"""

FEATURIZE = """\
import collections, json, os, sys
sys.path.insert(0, "src")
from prepare_params import load_params
p = load_params()["featurize"]
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
def grams(text):
    words = text.lower().split()
    return [" ".join(words[i:i + p["ngrams"]]) for i in range(len(words) - p["ngrams"] + 1)]
counts = collections.Counter(g for line in open(f"{src}/train.tsv") for g in grams(line.split("\\t")[2]))
vocab = [w for w, _ in counts.most_common(p["max_features"])]
for part in ("train", "test"):
    with open(f"{dst}/{part}.jsonl", "w") as out:
        for line in open(f"{src}/{part}.tsv"):
            _, label, title = line.rstrip("\\n").split("\\t")
            present = set(grams(title))
            out.write(json.dumps({"y": int(label), "x": [int(w in present) for w in vocab]}) + "\\n")
"""

PARAMS_HELPER = """\
def load_params():
    # A reader of this project's two-level params.yaml: the stages use only the standard library.
    out, section = {}, None
    for line in open("params.yaml"):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            section = out.setdefault(line.split(":")[0].strip(), {})
        else:
            key, value = line.strip().split(":", 1)
            section[key.strip()] = float(value) if "." in value else int(value)
    return out
"""

TRAIN = """\
import json, pickle, random, sys
sys.path.insert(0, "src")
from prepare_params import load_params
p = load_params()["train"]
random.seed(p["seed"])
rows = [json.loads(line) for line in open(f"{sys.argv[1]}/train.jsonl")]
# A forest of n_est one-feature stumps, each on a bootstrap sample: deterministic given the seed.
stumps = []
for _ in range(p["n_est"]):
    sample = [random.choice(rows) for _ in rows] if rows else []
    width = len(rows[0]["x"]) if rows else 0
    best = (0, 0, 0)
    for j in range(width):
        hits = sum(1 for r in sample if r["x"][j] == r["y"])
        best = max(best, (hits, j, 1))
    stumps.append(best[1])
with open(sys.argv[2], "wb") as f:
    pickle.dump({"stumps": stumps, "min_split": p["min_split"]}, f)
"""

EVALUATE = """\
import json, os, pickle, sys
model = pickle.load(open(sys.argv[1], "rb"))
rows = [json.loads(line) for line in open(f"{sys.argv[2]}/test.jsonl")]
def predict(x):
    votes = sum(x[j] for j in model["stumps"]) if x else 0
    return int(votes * 2 >= len(model["stumps"]))
correct = sum(1 for r in rows if predict(r["x"]) == r["y"])
os.makedirs("eval/plots", exist_ok=True)
with open("eval/metrics.json", "w") as f:
    precision = round(correct / max(len(rows), 1), 4)
    json.dump({"avg_prec": precision, "roc_auc": 0.5 + len(model["stumps"]) / 1000}, f)
with open("eval/plots/confusion.csv", "w") as f:
    f.write("actual,predicted\\n" + "".join(f"{r['y']},{predict(r['x'])}\\n" for r in rows))
"""


def _posts(n: int) -> str:
    words = [
        "pandas",
        "dataframe",
        "ggplot",
        "tidyverse",
        "numpy",
        "vector",
        "list",
        "plot",
        "merge",
        "apply",
    ]
    rows = []
    for i in range(n):
        lang = "python" if i % 3 else "r"
        title = " ".join(words[(i * k) % len(words)] for k in (1, 3, 7))
        rows.append(f'  <row Id="{i}" Tags="&lt;{lang}&gt;" Title="{title} question {i}" />')
    return '<?xml version="1.0" encoding="utf-8"?>\n<posts>\n' + "\n".join(rows) + "\n</posts>\n"


def classifier(root: Path) -> GitRepo:
    """The pipeline project, reproduced, committed and pushed to its DVC remote; no gitmodelver yet."""
    repo = GitRepo.create(root / "classifier")
    dvc(repo, "init", "-q")
    dvc(repo, "remote", "add", "-d", "storage", str(root / "classifier-dvc-remote"))
    repo.write("data/data.xml", _posts(120))
    dvc(repo, "add", "-q", "data/data.xml")
    repo.write("params.yaml", CLASSIFIER_PARAMS)
    repo.write("prompts/system.j2", "Explain in one sentence why this question is about {{ label }}.\n")
    repo.write("src/prepare_params.py", PARAMS_HELPER)
    repo.write("src/prepare.py", PREPARE)
    repo.write("src/featurization.py", FEATURIZE)
    repo.write("src/train.py", TRAIN)
    repo.write("src/evaluate.py", EVALUATE)
    repo.write("dvc.yaml", CLASSIFIER_DVC_YAML.format(python=sys.executable))
    repo.write(".gitignore", "__pycache__/\n")
    dvc(repo, "repro", "-q")
    repo.commit_all("Text classifier pipeline")
    dvc(repo, "push", "-q")
    return repo


# --------------------------------------------------------------------------- the LLM application

LLM_EVAL = """\
\"\"\"The app's evaluation harness: scores the prompts on a fixed suite, stamps the state it evaluated.\"\"\"
import datetime, json, pathlib, subprocess, sys
root = pathlib.Path(__file__).resolve().parent.parent
digest = subprocess.run([sys.executable, "-m", "gitmodelver", "-C", str(root), "digest"],
                        capture_output=True, text=True, check=False)
state = digest.stdout.strip() if digest.returncode == 0 else "unstamped"  # before gitmodelver is set up
temperature = float(open(root / "params.yaml").read().split("temperature:")[1].split()[0])
prompts = sorted(p for p in root.rglob("*") if p.suffix in {".j2", ".md"} and "prompts" in p.parts)
words = sum(len(p.read_text().split()) for p in prompts)
metrics = {"helpfulness": round(0.8 + (words % 17) / 200 - temperature / 100, 4), "refusals": 0.01}
(root / "evals" / "results.json").write_text(json.dumps(
    {"subject": state, "metrics": metrics, "suite": "evals/suite.yaml",
     "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}, indent=2) + "\\n")
print(json.dumps(metrics))
"""


LLM_DVC_YAML = """\
stages:
  evaluate:
    cmd: {python} evals/run.py
    deps:
      - prompts
      - agents
      - evals/run.py
      - evals/suite.yaml
    params:
      - generation.temperature
    outs:
      - evals/results.json:
          cache: false
"""


def llm_app(root: Path) -> GitRepo:
    """The LLM app: prompts in three folders, a LoRA adapter folder under DVC, an eval harness."""
    repo = GitRepo.create(root / "assistant")
    dvc(repo, "init", "-q")
    dvc(repo, "remote", "add", "-d", "storage", str(root / "assistant-dvc-remote"))
    repo.write(
        "prompts/system.j2", "You are the support assistant of {{ product }}. Be accurate and brief.\n"
    )
    repo.write("prompts/refusal.j2", "I can't help with that, but {{ alternative }}.\n")
    repo.write("agents/planner/prompts/plan.md", "Break the request into at most {{ n }} steps.\n")
    repo.write("agents/search/prompts/query.j2", "Rewrite as a search query: {{ question }}\n")
    repo.write("app/config.yaml", "model: meta-llama/Llama-3.1-8B-Instruct\ntemperature: 0.2\n")
    repo.write("app/main.py", "print('serving')\n")
    lora = root / "assistant" / "adapters" / "support-lora"
    lora.mkdir(parents=True)
    (lora / "adapter_config.json").write_text('{"r": 16, "lora_alpha": 32, "target_modules": ["q_proj"]}\n')
    (lora / "adapter_model.safetensors").write_bytes(bytes(range(256)) * 64)
    dvc(repo, "add", "-q", "adapters/support-lora")
    repo.write("evals/suite.yaml", "cases:\n  - q: reset my password\n    expect: reset link\n")
    repo.write("evals/run.py", LLM_EVAL)
    repo.write("params.yaml", "generation:\n  temperature: 0.2\n  top_p: 0.9\n")
    repo.write("dvc.yaml", LLM_DVC_YAML.format(python=sys.executable))
    repo.write(".gitignore", "__pycache__/\n")
    dvc(repo, "repro", "-q")
    repo.commit_all("Support assistant")
    dvc(repo, "push", "-q")
    return repo
