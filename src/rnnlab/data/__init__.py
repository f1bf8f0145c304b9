"""Parsing, validation and encoding of each kind of data, one module per kind."""
