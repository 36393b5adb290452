"""Errors a user can act on: the CLI prints their message alone and exits non-zero."""


class C360Error(Exception):
    """A problem with input, configuration or set-up, described for the user."""


class ConfigError(C360Error):
    """A config file names an unknown key, has a wrong type or misses a value."""


class SetupError(C360Error):
    """The installation is incomplete (for example the Delta jars are missing)."""


class TableError(C360Error):
    """A lake table name, schema change or write was refused."""
