"""The course above the library: one module per lab holding its recipe (the configurations and the
training functions that a lab's notebook and its asset command share). The library never imports it."""
