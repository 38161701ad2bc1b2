"""Exceptions of the m4cxr binding: one class per C status code (``m4cxr_status``).

Every failing C call raises an :class:`Error` subclass whose message is the library's
``m4cxr_last_error()`` text, read on the calling thread right after the call.
Subclasses also inherit the matching built-in exception where one fits (``ValueError``
for bad arguments and malformed data, ``OSError``/``FileNotFoundError`` for files,
``MemoryError``), so ordinary ``except`` clauses work too.
"""

from __future__ import annotations

import enum
import errno
import os
from typing import Optional


class Status(enum.IntEnum):
    """``m4cxr_status`` codes of include/m4cxr/m4cxr.h."""

    OK = 0
    INVALID_ARGUMENT = 1
    IO = 2
    FORMAT = 3
    UNSUPPORTED = 4
    LIMIT = 5
    OUT_OF_MEMORY = 6
    CANCELLED = 7
    BUSY = 8
    MODEL = 9
    INTERNAL = 10
    INVALID_HANDLE = 11
    DONE = 100


class Error(Exception):
    """Base of all m4cxr errors.

    Attributes: ``status`` (:class:`Status`), ``status_name`` (``m4cxr_status_string``),
    ``message`` (the C library's message; also ``str(error)``).
    """

    status: Status = Status.INTERNAL

    def __init__(self, message: str, status: Optional[int] = None, status_name: Optional[str] = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = Status(status)
        self.status_name = status_name or self.status.name.lower().replace("_", " ")
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidArgumentError(Error, ValueError):
    """A bad value: empty prompt, wrong image count, invalid generation option, ..."""

    status = Status.INVALID_ARGUMENT


class FileError(Error, OSError):
    """A file or folder is missing or unreadable (``M4CXR_ERR_IO``)."""

    status = Status.IO


class NotFoundError(FileError, FileNotFoundError):
    """``M4CXR_ERR_IO`` for a path that does not exist."""


class FormatError(Error, ValueError):
    """Malformed file content: image, checkpoint, JSON."""

    status = Status.FORMAT


class UnsupportedError(Error):
    """Well-formed but not supported (e.g. a CUDA device without CUDA libtorch)."""

    status = Status.UNSUPPORTED


class LimitError(Error, ValueError):
    """Input over a configured limit (image pixels, prompt tokens, context)."""

    status = Status.LIMIT


class OutOfMemoryError(Error, MemoryError):
    status = Status.OUT_OF_MEMORY


class CancelledError(Error):
    """A model load aborted by its progress callback."""

    status = Status.CANCELLED


class BusyError(Error):
    """The session is in use by another thread or still has an unfinished task."""

    status = Status.BUSY


class ModelError(Error):
    """The checkpoint does not match the architecture."""

    status = Status.MODEL


class InternalError(Error):
    status = Status.INTERNAL


class InvalidHandleError(Error, ValueError):
    """Use of a closed Model, Session, Image or stream (like I/O on a closed file)."""

    status = Status.INVALID_HANDLE


_BY_STATUS = {
    cls.status: cls
    for cls in (InvalidArgumentError, FileError, FormatError, UnsupportedError, LimitError, OutOfMemoryError,
                CancelledError, BusyError, ModelError, InternalError, InvalidHandleError)
}


def from_status(status: int, message: str, status_name: Optional[str] = None, filename: Optional[str] = None) -> Error:
    """The exception for a C status (used by the extension module)."""
    known = status in Status._value2member_map_
    cls = _BY_STATUS.get(Status(status), InternalError) if known else InternalError
    if cls is FileError and filename is not None and not os.path.exists(filename):
        cls = NotFoundError
    err = cls(message, status if known else None, status_name)
    if isinstance(err, OSError) and filename is not None:
        err.filename = filename
        if isinstance(err, FileNotFoundError):
            err.errno, err.strerror = errno.ENOENT, message
    return err
