"""User-facing errors.

Anything a user can fix (a bad file, a bad config value, a missing model) raises a
subclass of ``RerankftError``. The scripts print its message and exit with code 2
instead of a traceback; set ``RERANKFT_DEBUG=1`` (or ``debug=true``) to see the traceback.
"""

from __future__ import annotations


class RerankftError(Exception):
    """An error caused by user input; the message says what is wrong and how to fix it."""


class DataError(RerankftError):
    """Bad or missing data: the message names the file and line."""


class ConfigError(RerankftError):
    """A bad config value: the message names the key."""


class ModelError(RerankftError):
    """A model path or name that cannot be used for the job asked of it."""
