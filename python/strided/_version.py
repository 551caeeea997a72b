"""The package version, in one place (strided.__version__, and the one checkpoints record)."""
__version__ = "0.1.0"
