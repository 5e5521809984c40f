"""API handlers: one function per KMS operation, thin, over the domain and the store.

`trent.api.handlers` binds each operation to its handler. This package imports nothing itself, so that a command
that needs one module (`trent admin` needs `identity`) does not pay for importing every handler.
"""
