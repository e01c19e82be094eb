"""Clients of remote services relman drives (GitHub's REST API)."""
