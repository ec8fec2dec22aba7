"""newswatch: ingest news, classify it against YAML watchlists, deliver what matters."""

__version__ = "0.1.0"
