"""The registry as a static site: every system, version, prompt diff, metric, environment and lineage,
as HTML pages built from the repository, rebuilt incrementally, readable offline and from any static host.

May import: everything ``audit`` may (``core`` … ``deploy``), and ``audit`` itself (its timeline and
lineage drawings, its BOM).
"""
