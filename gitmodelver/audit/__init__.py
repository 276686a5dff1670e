"""Audit and export: the compliance report (Markdown, HTML with SVG drawings, JSON) and its own
digest, the lineage graph, and the CycloneDX ML-BOM.

May import: any capability folder above it (``core`` … ``deploy``).
"""
