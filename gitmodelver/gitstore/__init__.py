"""Git as storage: the repository and its one subprocess wrapper, trees read from commits, the index
and the working tree, version tags and their messages, signatures, systems and their snapshots, locks.

May import: ``core`` (and ``errors``).
"""
