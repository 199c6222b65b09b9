"""Shared vocabulary at the bottom of the package: errors, file I/O, runs and qrels (the one tie rule), TREC I/O, metrics, system names, config access, run records."""
