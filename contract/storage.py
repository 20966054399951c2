"""Where a sweep folder lives: a local path, or a folder in object storage (s3://, gs://).

Object storage goes through pyarrow's filesystem layer, the one Ray Tune itself uses for
`storage_path`, so the same URI, credentials and endpoint settings work for both: AWS's
environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL` for an
S3-compatible server such as MinIO) or the URI's own options
(`s3://bucket/prefix?endpoint_override=host:9000&scheme=http`), and Google's default
credentials for gs://. The sweep writes locally and copies to the bucket (see
`sweeps.folder.bucket`); readers copy the tables down. Both sides share this module.

    remote = RemoteFolder.open("s3://bucket/results")     # StorageError if unreachable
    remote.child("scaling").download(Path("/tmp/scaling"))
    remote.child("scaling").upload(Path("results/scaling"), seen={})
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

REMOTE_SCHEMES = ("s3", "gs", "gcs")
"""URI schemes that name object storage rather than a local or mounted path."""

Seen = dict[str, tuple[int, int]]
"""Files already copied to the bucket: relative path -> (size, mtime_ns) when copied."""


class StorageError(OSError, ValueError):
    """Object storage that cannot be used (unreachable, refused, not a folder): the message
    is one line that names the storage URI. Both an OSError (the network or the service) and
    a ValueError (the URI or credentials the user gave), so every command's one-line handler
    for either reports it without a traceback."""


def is_remote(location: str | os.PathLike[str]) -> bool:
    """Whether `location` is an object-storage URI (s3://, gs://), not a filesystem path."""
    return re.match(rf"^({'|'.join(REMOTE_SCHEMES)})://", str(location)) is not None


def _reason(err: Exception) -> str:
    """pyarrow's AWS/GCS message cut to the part a user acts on (what failed, and why)."""
    text = " ".join(str(err).split())
    found = re.search(r"AWS Error (.*?)(?:;|$)", text)
    short = found.group(1) if found else text
    return short[:200]


@dataclass(frozen=True)
class RemoteFolder:
    """A folder in object storage: the filesystem, the path inside it, and the URI it came
    from (for messages)."""

    fs: pafs.FileSystem
    path: str
    uri: str

    @classmethod
    def open(cls, uri: str) -> RemoteFolder:
        """Resolve the URI and ask the storage about it once, so bad credentials or an
        unreachable endpoint fail here, before anything is written anywhere."""
        try:
            fs, path = pafs.FileSystem.from_uri(uri)
        except (OSError, ValueError) as err:
            raise StorageError(f"{uri}: not a usable storage URI ({_reason(err)})") from None
        folder = cls(fs, path.rstrip("/"), uri.rstrip("/"))
        bucket = folder.path.split("/", 1)[0]
        if folder._info(bucket).type == pafs.FileType.NotFound:
            raise StorageError(f"{uri}: no bucket named {bucket!r} at this storage endpoint")
        info = folder._info(folder.path)
        if info.type == pafs.FileType.File:
            raise StorageError(f"{uri}: is a file in the bucket, not a folder")
        return folder

    def _info(self, path: str) -> pafs.FileInfo:
        try:
            return self.fs.get_file_info(path)
        except OSError as err:
            raise StorageError(f"{self.uri}: cannot use the storage ({_reason(err)})") from None

    def child(self, name: str) -> RemoteFolder:
        """The folder `name` under this one (no request is made)."""
        return RemoteFolder(self.fs, f"{self.path}/{name}", f"{self.uri}/{name}")

    def exists(self, relative: str = "") -> bool:
        """Whether the folder (or a file under it) holds anything."""
        path = f"{self.path}/{relative}" if relative else self.path
        return self._info(path).type != pafs.FileType.NotFound

    def files(self) -> dict[str, pafs.FileInfo]:
        """Every file under the folder by its path relative to it."""
        if not self.exists():
            return {}
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(self.path, recursive=True))
        except OSError as err:
            raise StorageError(f"{self.uri}: cannot list the storage ({_reason(err)})") from None
        start = len(self.path) + 1
        return {i.path[start:]: i for i in infos if i.type == pafs.FileType.File}

    def download(self, local: Path, skip: tuple[str, ...] = (), top_only: bool = False) -> int:
        """Copy the folder's files to `local` where the local copy is missing, of another size
        or older; entries named in `skip` (at any depth), and with `top_only` everything in
        subfolders, stay behind. Returns the files copied."""
        copied = 0
        for rel, info in self.files().items():
            parts = rel.split("/")
            if set(parts) & set(skip) or (top_only and len(parts) > 1):
                continue
            target = local / rel
            if target.is_file():
                same_size = target.stat().st_size == info.size
                newer = info.mtime_ns is not None and info.mtime_ns > target.stat().st_mtime_ns
                if same_size and not newer:
                    continue
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            try:
                with self.fs.open_input_stream(info.path) as src, partial.open("wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
            except OSError as err:
                partial.unlink(missing_ok=True)
                raise StorageError(f"{self.uri}/{rel}: cannot download ({_reason(err)})") from None
            os.replace(partial, target)
            copied += 1
        return copied

    def upload(self, local: Path, seen: Seen, skip: tuple[str, ...] = ()) -> int:
        """Copy the files under `local` that changed since `seen` recorded them (and record
        them); names in `skip` (any depth) stay local. Returns the files copied."""
        copied = 0
        for path in sorted(local.rglob("*")):
            rel = path.relative_to(local).as_posix()
            # *.tmp / *.part: a file being written, renamed into place when complete
            if not path.is_file() or path.name in skip or path.name.endswith((".part", ".tmp")):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:  # removed while we walked (a temporary file)
                continue
            stamp = (stat.st_size, stat.st_mtime_ns)
            if seen.get(rel) == stamp:
                continue
            try:
                data = path.read_bytes()
                with self.fs.open_output_stream(f"{self.path}/{rel}") as dst:
                    dst.write(data)
            except FileNotFoundError:
                continue
            except OSError as err:
                raise StorageError(f"{self.uri}/{rel}: cannot upload ({_reason(err)})") from None
            seen[rel] = stamp
            copied += 1
        return copied
