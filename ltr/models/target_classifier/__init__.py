"""DiMP / TrDiMP target classification: features, filter initialiser and optimiser, transformer."""
