"""Errors the service turns into problem documents (status codes in :mod:`pyosi.service.app`)."""

from __future__ import annotations

from pyosi.errors import PyosiError


class NotFoundError(PyosiError):
    """No such item or other resource."""


class InvalidRequestError(PyosiError):
    """A request that cannot be carried out as given (the message says why)."""

    exit_code = 2


class ConflictError(PyosiError):
    """The request clashes with the current state (an old policy version, a duplicate id)."""

    exit_code = 2


class ForbiddenError(PyosiError):
    """Authenticated, but the role may not do this (or the CSRF token is missing)."""


class RateLimitedError(PyosiError):
    """Too many requests from one key or address."""

    def __init__(self, message: str, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after
