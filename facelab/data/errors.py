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


class ProtocolMismatchError(ProtocolFormatError):
    """A well-formed protocol file line disagrees with the images on disk (a person or an image count)."""


class DataWarning(UserWarning):
    """Something wrong with the data that facelab works around; the message names the file."""


class TruncatedImageWarning(DataWarning):
    """A JPEG ends before its end-of-image marker: libjpeg decodes the part that is there and greys the rest."""


class CacheWriteWarning(DataWarning):
    """The preprocessing cache could not be written (a full disk, a path that is not a folder): the run
    goes on without it, since the cache only saves time."""
