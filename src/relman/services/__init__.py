"""Use cases: one function per thing a user or CI does. Called by the API, CLI and bot."""
