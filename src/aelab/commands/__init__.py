"""The verbs of the ``aelab`` command that are course tooling rather than library: each module
exposes ``main(argv: list[str]) -> int`` (see :mod:`aelab.cli`)."""
