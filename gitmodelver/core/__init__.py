"""The pure core: the manifest, its validation and file references, pins, SemVer, the diff and its
levels, digests, evaluation results, and the formats of DVC's own files (read as YAML).

No I/O beyond reading through a ``Tree`` it is handed (``filerefs.Tree``) and the package's schemas.
May import: nothing of the package but ``gitmodelver.errors``.
"""
