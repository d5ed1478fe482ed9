"""The CaP-X-compatible robot API over a simulator, the curated-9 helpers and the API docs text."""
