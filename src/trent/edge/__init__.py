"""The HTTP edge: AWS JSON 1.1 and STS query protocols, SigV4, request validation, error rendering."""
