"""One module per command; each exposes ``run(args) -> int``. Helpers they share are in ``_arguments``
(what arguments name) and ``_serving``; this package imports nothing itself, so a hook pays only for what
it uses."""
