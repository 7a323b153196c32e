"""The eight RoboBEV camera corruptions (numpy in, numpy out; no torch, no devkit)."""

from corruptions.spec import CORRUPTIONS, LEVELS, SEVERITY, canonical_level, canonical_name, severity_of

__all__ = ["CORRUPTIONS", "LEVELS", "SEVERITY", "canonical_level", "canonical_name", "severity_of"]
