"""The ``aelab`` command's verbs, one module each, each exposing ``main(argv) -> int`` (see :mod:`aelab.cli`)."""
