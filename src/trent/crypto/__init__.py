"""Cryptography recipes. The only package of Trent that imports `cryptography.hazmat`."""
