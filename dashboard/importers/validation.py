"""What every importer shares: reading a file safely, and reporting what is wrong with it.

Importers validate every row first and collect ``RowError``s into an ``ImportReport``; only a
report the user has seen (and confirmed) is written, in one transaction. Whole-file problems
(empty, too big, a zip bomb, wrong kind) raise ``ImportRefused`` before any row is read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import pandas as pd

from dashboard.errors import ImportRefused

DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024  # one named file (a 1M-row police.uk CSV is ~225 MB)
DEFAULT_MAX_UNZIPPED_BYTES = 2 * 1024 * 1024 * 1024  # what a zip may expand to, in all
ROWS_SHOWN_ON_SCREEN = 100
BLANK_FILE = re.compile(rb"(\xef\xbb\xbf)?\s*")  # nothing but a byte-order mark and spaces
REUSED_NOT_LEFT_OUT = {"months already fetched"}  # counted in ``skipped``, but nothing is lost
_ZIP_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class RowError:
    """One rejected row: where it is, which column, the value, and why."""

    line: int  # 1-based line in the file, the header being line 1
    column: str
    value: str
    reason: str
    file_name: str = ""


@dataclass
class ImportReport:
    """Everything a preview shows before anything is written."""

    kind: str
    file_names: list[str]
    file_sha256: str
    rows_read: int = 0
    rows_accepted: int = 0
    rejected: list[RowError] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> rows left out, not errors
    warnings: list[str] = field(default_factory=list)
    already_imported_as: int | None = None  # the import id of the same file, if loaded before
    borough_code: str | None = None  # whose data it loads (the import log is kept per borough)

    @property
    def rows_rejected(self) -> int:
        """How many rows were refused."""
        return len(self.rejected)

    def skip(self, reason: str, count: int = 1) -> None:
        """Count rows left out on purpose (outside the borough, a duplicate, not violence...)."""
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + count

    def summary_lines(self) -> list[str]:
        """The report in a few plain lines, for the CLI and the page."""
        lines = [
            f"{self.kind}: {', '.join(self.file_names)} (sha256 {self.file_sha256[:12]})",
            f"rows read {self.rows_read:,}, to load {self.rows_accepted:,}, "
            f"rejected {self.rows_rejected:,}",
        ]
        lines += [
            f"left out, {reason}: {count:,}" for reason, count in sorted(self.skipped.items())
        ]
        lines += [f"warning: {warning}" for warning in self.warnings]
        if self.already_imported_as is not None:
            lines.append(f"this file was already imported (import {self.already_imported_as})")
        return lines

    def rejected_csv(self) -> str:
        """Every rejected row as CSV: file, line, column, value, reason."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["file", "line", "column", "value", "reason"])
        for error in self.rejected:
            writer.writerow([error.file_name, error.line, error.column, error.value, error.reason])
        return out.getvalue()


def sha256_of(*contents: bytes) -> str:
    """SHA-256 of one or more files' bytes, in order: the identity of an import."""
    digest = hashlib.sha256()
    for content in contents:
        digest.update(content)
    return digest.hexdigest()


def check_size(name: str, size: int, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> None:
    """Refuse an empty file or one over the limit."""
    if size == 0:
        raise ImportRefused(f"{name} is empty; choose the file again or check the download")
    if size > max_bytes:
        raise ImportRefused(
            f"{name} is {size / 1e6:,.1f} MB, over the {max_bytes / 1e6:,.0f} MB limit; "
            "split it (for example by month) and import the parts"
        )


def text_encoding(name: str, content: bytes) -> str:
    """The encoding of a CSV: UTF-8 (with or without a byte-order mark), else Windows-1252.

    Excel on Windows saves CSVs as Windows-1252; both are accepted. Bytes that are neither, such
    as a spreadsheet or a zip given as a CSV, are refused. The text is not kept, so a large
    file is held once, as bytes, while pandas reads it.
    """
    if b"\x00" in content[:4096]:
        raise ImportRefused(
            f"{name} is not a text file (it looks like a spreadsheet or an archive); "
            "save it as CSV first"
        )
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            content.decode(encoding)
        except UnicodeDecodeError as error:
            failure = error
        else:
            return encoding
    raise ImportRefused(
        f"{name} is neither UTF-8 nor Windows-1252 text (byte {failure.start}); "
        "save it again as CSV UTF-8"
    ) from failure


def decode_text(name: str, content: bytes) -> str:
    """Text of a CSV, in the encoding ``text_encoding`` finds (and refusing what it refuses)."""
    return content.decode(text_encoding(name, content))


def read_csv_header(
    name: str, content: bytes, file_kind: str, where_from: str = "download"
) -> tuple[str, list[str]]:
    """The encoding and the stripped column names of a CSV, before any row is read.

    Raises ImportRefused for a file of nothing but spaces (``where_from`` says where to look
    again: the download, the export) and for a header pandas cannot read.
    """
    encoding = text_encoding(name, content)
    if BLANK_FILE.fullmatch(content):
        raise ImportRefused(f"{name} is empty; choose the file again or check the {where_from}")
    try:
        header = pd.read_csv(io.BytesIO(content), nrows=0, dtype=str, encoding=encoding).columns
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ImportRefused(f"{name} is not a {file_kind} file: {error}") from error
    return encoding, [str(column).strip() for column in header]


def iter_csv_chunks(
    name: str, content: bytes, encoding: str, header: list[str], chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """The rows of a CSV as text, ``chunk_rows`` at a time, so memory stays bounded.

    Blank lines are kept as rows so that the index plus two is the real line number; columns
    are named by ``header`` (from ``read_csv_header``). A line pandas cannot split raises
    ImportRefused.
    """
    try:
        chunks = pd.read_csv(
            io.BytesIO(content),  # shares the bytes: no decoded copy of the whole file
            encoding=encoding,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            skip_blank_lines=False,  # so the index gives the real line number
            chunksize=chunk_rows,
        )
        for chunk in chunks:
            chunk.columns = header
            yield chunk
    except pd.errors.ParserError as error:
        raise ImportRefused(
            f"{name} could not be read as CSV ({error}); check that line has {len(header)} fields"
        ) from error


def iter_zip_members(
    name: str,
    content: bytes,
    suffix: str | None = ".csv",
    max_unzipped_bytes: int = DEFAULT_MAX_UNZIPPED_BYTES,
) -> Iterator[tuple[str, bytes]]:
    """Yield ``(member name, bytes)`` for each ``suffix`` file in a zip (every file when None).

    Members come sorted by name; folders, hidden files and macOS resource forks are skipped.
    Decompression is streamed and counted as it goes, so a zip bomb is refused once the
    running total passes ``max_unzipped_bytes``, whatever its headers claim. A zip with no
    ``suffix`` file is refused.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile as error:
        raise ImportRefused(f"{name} is not a readable zip file: {error}") from error
    members = sorted(
        (
            info
            for info in archive.infolist()
            if not info.is_dir()
            and (suffix is None or info.filename.lower().endswith(suffix))
            and not PurePosixPath(info.filename).name.startswith(".")
            and "__MACOSX" not in info.filename
        ),
        key=lambda info: info.filename,
    )
    if not members and suffix is not None:
        raise ImportRefused(f"{name} holds no {suffix} file")
    total = 0
    for info in members:
        parts: list[bytes] = []
        with archive.open(info) as member:
            while chunk := member.read(_ZIP_READ_CHUNK):
                total += len(chunk)
                if total > max_unzipped_bytes:
                    raise ImportRefused(
                        f"{name} expands to more than {max_unzipped_bytes / 1e6:,.0f} MB; it was "
                        "refused while unpacking (a damaged or malicious archive?)"
                    )
                parts.append(chunk)
        yield info.filename, b"".join(parts)


def require_columns(name: str, header: list[str], expected: list[str], kind: str) -> None:
    """Refuse a file whose header lacks columns the importer needs, naming them."""
    present = {column.strip() for column in header}
    missing = [column for column in expected if column not in present]
    if missing:
        raise ImportRefused(
            f"{name} is not a {kind} file: it lacks the column(s) {', '.join(missing)} "
            f"(its header is: {', '.join(column.strip() for column in header) or 'empty'})"
        )


@dataclass
class PreparedImport:
    """A validated import, not yet written: the report the user sees and what would be written.

    Every importer has a ``prepare_*`` function that returns one without touching the store, and
    a ``commit_*`` function that writes it in one transaction and returns the import id.
    """

    report: ImportReport
    payload: object  # the importer's own rows, ready to write
