"""One error family, so the CLI can print any failure as one line without a traceback."""


class RezwheelError(Exception):
    """Base class: the message is one line naming the package, file or URL at fault."""

    exit_code = 1


class NotAPackageError(RezwheelError):
    """A path holds no rez package (or cannot be loaded as one)."""


class ConversionError(RezwheelError):
    """A variant cannot become a wheel (name clash, bad definition, ...)."""


class UnsafeDefinitionError(RezwheelError):
    """An embedded definition holds something rez's serializer never writes."""


class InvalidWheelError(RezwheelError):
    """A wheel is damaged or unsafe (RECORD mismatch, path escape, zip bomb, ...)."""


class PublishError(RezwheelError):
    """The index already holds a different file, or refuses the upload."""


class InstallError(RezwheelError):
    """A variant cannot be restored into a rez repository."""


class UsageError(RezwheelError):
    """A command line no grammar reads (exit status 2, like argparse's)."""

    exit_code = 2


class Unreachable(RezwheelError):
    """The index cannot be reached (and, for a page, nothing about the request is kept)."""
