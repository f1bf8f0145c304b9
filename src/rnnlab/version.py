"""rnnlab's version, in a module of its own so that any layer can read it (run
directories record it) without importing the package's public names."""

__version__ = "0.1.0"
