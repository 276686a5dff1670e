"""Attestations: OpenSSF model signing (OMS) signatures over every file of a version, kept on an
append-only branch tied to the version tags, checked by ``verify`` and guarded on the server.

May import: ``core``, ``gitstore``, ``release``, ``dvc``.
"""
