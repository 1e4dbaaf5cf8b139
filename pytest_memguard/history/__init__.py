"""The run history: saved runs (SQLite), comparison of two runs, the known-leak baseline and
the ``memguard`` command that reads them."""


class HistoryError(Exception):
    """The history database or a baseline file cannot be used; the message says why."""
