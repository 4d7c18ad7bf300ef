"""The web console, the resident web chat and the JSON API (FastAPI, server-rendered)."""
