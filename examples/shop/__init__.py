"""A small shop application used to demonstrate pytest-memguard.

Some of its modules leak memory on purpose; see ``examples/test_shop.py``.
"""
