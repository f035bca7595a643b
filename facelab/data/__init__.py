"""The data room: find LFW, parse its protocol, preprocess and cache, sample, feed tf.data."""
from .archive import safe_extract
from .download import DEFAULT_BASE_URL, RemoteFile, download_lfw
from .errors import (
    CacheWriteWarning, DataError, DataNotFoundError, DataWarning, DownloadError, ProtocolFormatError,
    ProtocolMismatchError, TruncatedImageWarning,
)
from .fetching import fetch
from .layout import ENV_VAR, LFWLayout, find_lfw, resolve_data_root
from .lfw import LFW, PairSet
from .manifest import ManifestFormatError, ManifestReport, verify_manifest, write_manifest
from .preprocess import PreprocessConfig, load_or_build, preprocess_image, read_image

__all__ = [
    "DataError", "DataNotFoundError", "DownloadError", "ProtocolFormatError", "ProtocolMismatchError",
    "DataWarning", "TruncatedImageWarning", "CacheWriteWarning", "ENV_VAR", "LFWLayout",
    "find_lfw", "resolve_data_root", "LFW", "PairSet", "PreprocessConfig", "load_or_build",
    "preprocess_image", "read_image", "DEFAULT_BASE_URL", "ManifestFormatError", "ManifestReport", "RemoteFile",
    "download_lfw", "fetch", "safe_extract", "verify_manifest", "write_manifest",
]
