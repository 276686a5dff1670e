"""The tools teams already use, fed from the versions: evaluation harnesses' result files turned into
evaluation results (``harness_run``, one reader per harness, ``eval_import``), and the MLflow Model Registry
fed from the releases and the ledger (``mlflow_plan``, ``mlflow_registry``, ``mlflow_export``).

May import ``core``, ``gitstore``, ``release``, ``dvc`` (lazily: weights copied on request) and ``deploy``.
MLflow is imported lazily, by ``mlflow_registry`` alone; no harness is imported at all: their files are read
as JSON.
"""
