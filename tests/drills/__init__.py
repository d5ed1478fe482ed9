"""Fault drills: what an operator does to a sweep (kill it, starve it, break its database,
feed it garbage), each checked against what must hold. See ``conftest.py`` for the table."""
