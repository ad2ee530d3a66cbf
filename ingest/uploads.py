"""Contributed files: their type decided by content, stored by content, and fetched from URLs that
cannot reach the server's own network.

A contribution's bytes land in ``<data>/uploads/<sha256><suffix>``, so the same file submitted twice
is one file, and no name from a request ever reaches the file system. The suffix is the one the
content shows, whatever the uploaded name says: a "report.pdf" that is really HTML is loaded as HTML.

>>> sniff_suffix(b"%PDF-1.7 ...", "report.bin")
'.pdf'
>>> sniff_suffix("# Ley de vivienda\\n".encode(), "ley.md")
'.md'
>>> sniff_suffix(b"<!DOCTYPE html><html>", "page.txt")
'.html'
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import os
import re
import socket
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlsplit

import httpx

#: Where contributions live under the data directory, and the prefix of their manifest paths.
UPLOADS_DIR = "uploads"
SUPPORTED = "PDF, DOCX, HTML, Markdown or plain text"
_HTML_START = re.compile(rb"^\s*(<!doctype\s+html|<html|<head|<body|<!--)", re.IGNORECASE)
_MARKDOWN_SIGNS = re.compile(r"^(#{1,6} |\s*[-*] |\s*\d+\. |> )", re.MULTILINE)
MAX_REDIRECTS = 3


class UploadError(ValueError):
    """A contribution that cannot be taken; ``status`` is the HTTP status that says why (413, 415, 422)."""

    def __init__(self, message: str, *, status: int = 422, parameter: str = "file") -> None:
        self.status = status
        self.parameter = parameter
        super().__init__(message)


def sniff_suffix(head: bytes, filename: str | None = None) -> str:
    """The loader suffix for a file whose first bytes are ``head`` (a few kilobytes suffice).

    Binary content is a PDF or a DOCX or nothing. Text is HTML when it opens like HTML, Markdown when
    it is named .md or shows Markdown structure, else plain text."""
    if head.startswith(b"%PDF-"):
        return ".pdf"
    if head.startswith(b"PK\x03\x04"):
        return ".docx"  # the loader checks it is a Word document, within the zip limits
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not a character cut at the end of the sample
            raise UploadError(
                f"the file is neither a {SUPPORTED} file (unrecognised binary content)", status=415
            ) from None
        text = head[: exc.start].decode("utf-8")
    if "\x00" in text:
        raise UploadError(f"the file is neither a {SUPPORTED} file (binary content)", status=415)
    if _HTML_START.match(head):
        return ".html"
    named = PurePosixPath(filename or "").suffix.lower()
    if named in (".md", ".markdown") or _MARKDOWN_SIGNS.search(text):
        return ".md"
    return ".txt"


def check_docx(path: Path) -> None:
    """A zip that is not a Word document is refused here, before it is stored as one."""
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except zipfile.BadZipFile:
        raise UploadError("the file starts like a DOCX (zip) but is damaged", status=422) from None
    if "word/document.xml" not in names:
        raise UploadError(
            f"the file is a zip archive, not a Word document; send a {SUPPORTED} file", status=415
        )


def store_upload(
    chunks: Iterable[bytes], uploads_dir: Path, *, filename: str | None, max_bytes: int
) -> tuple[str, str]:
    """Write the streamed bytes under ``uploads_dir`` by their sha256; returns (sha256, manifest path).

    The file is written to a temporary name and renamed into place, so a reader never sees half of
    it; a file already stored is kept as it is."""
    uploads_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    head = b""
    fd, tmp_name = tempfile.mkstemp(dir=uploads_dir, prefix=".incoming-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise UploadError(
                        f"the file is over the upload limit of {max_bytes // (1024 * 1024)} MB (HOUSING_KB_MAX_UPLOAD_MB)",
                        status=413,
                    )
                if len(head) < 8192:
                    head += chunk[: 8192 - len(head)]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise UploadError("the file is empty")
        suffix = sniff_suffix(head, filename)
        if suffix == ".docx":
            check_docx(tmp)
        sha = digest.hexdigest()
        final = uploads_dir / f"{sha}{suffix}"
        if final.exists():
            tmp.unlink()
        else:
            os.replace(tmp, final)
        return sha, f"{UPLOADS_DIR}/{final.name}"
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def public_address(host: str) -> None:
    """Refuse a host that resolves to loopback, link-local, private or reserved addresses: a URL to
    fetch must not let a contributor reach the server's own network (SSRF)."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        raise UploadError(f"the host {host!r} of the url cannot be resolved", parameter="url") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise UploadError(
                f"the url's host {host!r} is a {_kind(address)} address ({address}); only public"
                " addresses are fetched (HOUSING_KB_ALLOW_PRIVATE_URLS=1 allows others)",
                parameter="url",
            )


def _kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_private:
        return "private"
    return "reserved"


def fetch_url(
    url: str, uploads_dir: Path, *, max_bytes: int, allow_private: bool = False, timeout: float = 30.0
) -> tuple[str, str, str]:
    """Download ``url`` into the uploads; returns (sha256, manifest path, the name its path gives).

    Only http(s); every redirect is checked like the first address, and at most MAX_REDIRECTS are
    followed."""
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UploadError(f"the url must be http(s) with a host (got {url[:100]!r})", parameter="url")
        if not allow_private:
            public_address(parts.hostname)
        try:
            with httpx.stream("GET", url, timeout=timeout, follow_redirects=False) as response:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                if response.status_code >= 400:
                    raise UploadError(
                        f"fetching the url failed: HTTP {response.status_code}", parameter="url"
                    )
                name = PurePosixPath(parts.path).name or None
                sha, path = store_upload(
                    response.iter_bytes(), uploads_dir, filename=name, max_bytes=max_bytes
                )
                return sha, path, name or parts.hostname
        except httpx.TimeoutException:
            raise UploadError(f"fetching the url took longer than {timeout:.0f} s", parameter="url") from None
        except httpx.HTTPError as exc:
            raise UploadError(f"fetching the url failed: {exc}", parameter="url") from None
    raise UploadError(f"the url redirects more than {MAX_REDIRECTS} times", parameter="url")


def read_in_chunks(handle: io.BufferedIOBase | object, size: int = 1 << 20) -> Iterable[bytes]:
    """The bytes of a file-like object, a megabyte at a time."""
    while chunk := handle.read(size):  # type: ignore[attr-defined]
        yield chunk
