"""The Release API (FastAPI): parse, call one service function, render."""
