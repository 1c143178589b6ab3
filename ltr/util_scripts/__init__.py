"""Command-line utilities for preparing training data (e.g. packing datasets into LMDB)."""
