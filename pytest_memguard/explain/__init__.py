"""The explain stage: what a confirmed leak retains, who holds it, where it was made."""
