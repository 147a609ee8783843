"""User-facing errors: each carries a one-line message the CLI and GUI show as is."""


class SdhdError(Exception):
    """Base of every error a user can cause or fix; the message is meant to be shown."""


class ProjectError(SdhdError):
    """The project folder or its document cannot be used."""


class SettingError(SdhdError):
    """A setting name or value is not valid."""


class MediaError(SdhdError):
    """A media file is missing, unreadable or has no usable video."""


class SourceChangedError(MediaError):
    """The project's source file was replaced by different content."""


class FrameDecodeError(MediaError):
    """One frame of the source could not be decoded; the other frames are unaffected."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"frame {index} could not be decoded: {reason}")
        self.index = index


class BackendError(SdhdError):
    """A backend is unknown or cannot run on this machine."""


class CacheWriteError(SdhdError):
    """A finished frame could not be stored (disk full, permissions)."""


class ExportError(SdhdError):
    """The output video could not be written."""


class Cancelled(SdhdError):
    """The user cancelled the operation."""


class FarmError(SdhdError):
    """The render farm cannot be reached or used."""
