"""DVC's side: the adapter that opens a DVC repository (imported lazily: DVC is heavy), the checks of
objects in the cache and on a remote, ``reproduce``, ``push`` and ``load`` of a version.

May import: ``core``, ``gitstore``, ``release``.
"""
