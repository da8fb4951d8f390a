"""modeltest: what is evaluated (tasks) and how it is scored (scorers, reports)."""

__version__ = "0.1.0"
