"""Deployments: the ledger branch (append-only, compare-and-swap), rollouts and their statistical
gates, what served when (the timeline), and the ``Router`` serving code resolves versions with.

May import: ``core``, ``gitstore``, ``release``, ``dvc`` (the router hands out loaded versions).
"""
