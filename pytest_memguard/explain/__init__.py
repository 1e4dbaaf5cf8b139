"""Explaining confirmed leaks: retainer chains, kinds, and roots across the session."""
