"""Bisect: the binary search over versions, probes materialized in one worktree, hybrid states, and
delta debugging (ddmin) for the culprit components inside one step.

May import: ``core``, ``gitstore``, ``release``, ``dvc``.
"""
