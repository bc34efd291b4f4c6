"""The one exception type of lstmzip."""


class LstmzipError(OSError, ValueError):
    """Raised for every bad input: not an lstmzip file, truncated, corrupted,
    unknown format version, wrong or missing model, invalid model file.

    It is an ``OSError`` like ``gzip.BadGzipFile`` and a ``ValueError`` like
    ``lzma.LZMAError``'s typical callers expect, so either ``except`` clause works.
    The message is one line that names the problem (and the block, or the model
    needed, where that applies).
    """
