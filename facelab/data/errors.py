"""Errors of the data layer: each one names the file (and line) it is about."""
from __future__ import annotations


class DataError(Exception):
    """Base class for every data-layer error."""


class DataNotFoundError(DataError, FileNotFoundError):
    """The LFW folder, a protocol file or an image is not where it should be."""


class ProtocolFormatError(DataError, ValueError):
    """A protocol file line does not have the official format."""

    def __init__(self, path, line_no: int, message: str):
        self.path, self.line_no = str(path), line_no
        super().__init__(f"{path} line {line_no}: {message}")


class DownloadError(DataError):
    """A download failed: bad checksum, truncated transfer, unsafe archive member."""
