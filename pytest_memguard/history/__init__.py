"""The run history: saved runs (SQLite), comparison of two runs, the known-leak baseline and
the ``memguard`` command that reads them."""
