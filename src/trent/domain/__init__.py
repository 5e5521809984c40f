"""The domain: keys, identities, identifiers and their rules. Pure Python, no I/O, no web framework."""
