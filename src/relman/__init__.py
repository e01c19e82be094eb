"""relman — a self-hosted release manager for small teams (see README.md)."""

__version__ = "0.1.0"
