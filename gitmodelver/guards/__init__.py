"""The guards: the pre-commit checks judged on the staged state (prompt guard, manifest, raw weights),
and the ref update rules of ``pre-push`` and the server's ``pre-receive``.

Fast by contract: nothing here imports DVC, jsonschema or anything heavy at module level.
May import: ``core``, ``gitstore``, ``release``, ``deploy`` (the ledger's rules, for the server), ``attest``
(the attestations branch's rules, imported only when a push carries it).
"""
