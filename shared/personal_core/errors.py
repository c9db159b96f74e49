"""Typed errors raised by Personal. Every public failure is a subclass of :class:`PersonalError`."""

from __future__ import annotations


class PersonalError(Exception):
    """Base class of every error Personal raises on purpose."""


class InvalidInputError(PersonalError, ValueError):
    """A public entry point received input it cannot accept (nothing was stored)."""


class StoreError(PersonalError):
    """The underlying Chroma store failed or holds something unexpected."""


class StoreLockedError(StoreError):
    """Another process already writes to this embedded store path."""


class EmbedderMismatchError(StoreError):
    """The store was created with a different embedder than the one supplied."""


class ClosedError(PersonalError):
    """The object was used after ``close()``."""


class ConfigurationError(PersonalError):
    """Personal was set up in a way that cannot do what was asked (e.g. ``ask()`` without an LLM)."""


class LLMError(PersonalError):
    """The LLM call failed, timed out, or returned something that is not text."""


class OutputError(PersonalError, ValueError):
    """The LLM's reply holds no usable JSON object (the deriver then re-asks once)."""


# -- journal and lock errors (reliability: journal)
class StoreFullError(StoreError):
    """The disk holding the store or its journal is full (or Chroma's database is out of space): the write was
    not made; journaled data stays pending."""


class JournalCorruptError(StoreError):
    """The journal file is damaged; :func:`personal_core.journal.salvage` keeps every readable entry."""


class StoreUnavailableError(StoreError):
    """The Chroma server cannot be reached or did not answer in time."""


class StoreReadOnlyError(StoreError):
    """The store's files cannot be written (permissions or a read-only file system)."""


class EmbedderError(InvalidInputError):
    """The embedder returned vectors of the wrong shape, or not finite numbers (nothing was stored)."""
