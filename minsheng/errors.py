"""Domain errors. Each message is Chinese and meant to be shown to the person acting."""
from __future__ import annotations


class DomainError(Exception):
    """A request the case domain refuses; ``str(error)`` is safe to show to users."""


class NotFound(DomainError):
    pass


class NotAllowed(DomainError):
    pass


class IllegalTransition(DomainError):
    pass


class InvalidInput(DomainError):
    pass


class QuotaExceeded(DomainError):
    """A resident reached today's number of online reports (a flood, or a script)."""
