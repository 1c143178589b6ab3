"""Necks between backbone and head."""
from .adjust import AdjustAllLayer, AdjustLayer

__all__ = ["AdjustAllLayer", "AdjustLayer"]
