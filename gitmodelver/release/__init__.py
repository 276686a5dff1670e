"""Releasing and verifying: the plan (what changed, at which level, the next version), the atomic
release itself (commit, signed tag, compare-and-swap of the branch), and ``verify`` of a version's
every claim from Git objects alone.

May import: ``core``, ``gitstore``.
"""
