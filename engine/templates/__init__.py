"""Sweep configs that ``autocapx init`` writes where the user is (``examples/`` links here)."""
