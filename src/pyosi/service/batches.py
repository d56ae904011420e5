"""Batches: many files in one request (loose files and ZIP archives of them), scanned in the
background, one item per media file.

Election monitors collect hundreds of files at a time; a batch stores every file, queues one job
and answers 202 at once. Archives are read with a budget (member count, each member's size, the
total), counted from the bytes actually read, never from the sizes an archive claims: a ZIP bomb
stops at the budget. Each file's item id is fixed when the batch is queued, so a job run again
after its worker died makes no second item.
"""

from __future__ import annotations

import dataclasses
import io
import secrets
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyosi.errors import MediaError
from pyosi.media.sniff import HEAD_BYTES, sniff_mime
from pyosi.service import jobs
from pyosi.service.errors import InvalidRequestError
from pyosi.service.items import UploadContext, create_item

if TYPE_CHECKING:
    from pyosi.service.app import Service

JOB_KIND = "batch"
RENEW_SECONDS = 30.0
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # an archive, or an empty one


@dataclass(frozen=True)
class Limits:
    max_files: int
    max_file_bytes: int
    max_total_bytes: int


@dataclass(frozen=True)
class Member:
    """One file of a batch: its name, and its bytes or why it is refused."""

    filename: str
    data: bytes | None = None
    mime: str | None = None  # sniffed from the content
    error: str | None = None


def is_archive(data: bytes) -> bool:
    return data.startswith(ZIP_MAGIC)


def expand(uploads: Iterable[tuple[str, bytes]], limits: Limits) -> list[Member]:
    """Loose files and the files inside ZIP archives, in order; too many files or too many
    bytes in all refuse the whole batch, a bad file only itself."""
    members: list[Member] = []
    total = 0
    for name, data in uploads:
        found = _archive(name, data, limits) if is_archive(data) else [_loose(name, data)]
        for member in found:
            members.append(member)
            total += len(member.data or b"")
            if len(members) > limits.max_files:
                raise InvalidRequestError(
                    f"a batch holds at most {limits.max_files} files (archives count their files)"
                )
            if total > limits.max_total_bytes:
                raise InvalidRequestError(
                    f"a batch holds at most {limits.max_total_bytes} bytes once unpacked"
                )
    if not members:
        raise InvalidRequestError("the batch holds no files")
    return members


def _loose(name: str, data: bytes) -> Member:
    if not data:
        return Member(name, error="the file is empty")
    mime = sniff_mime(data[:HEAD_BYTES])
    if mime is None:
        return Member(name, error="not a media file pyosi reads (checked from its content)")
    return Member(name, data, mime)


def _archive(name: str, data: bytes, limits: Limits) -> Iterator[Member]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        yield Member(name, error=f"unreadable ZIP archive: {e}")
        return
    with archive:
        for info in infos:
            inner = info.filename.replace("\\", "/")
            parts = inner.split("/")
            if info.is_dir() or parts[0] == "__MACOSX" or parts[-1].startswith("."):
                continue  # folders and the metadata files archivers add
            label = f"{name}/{inner}"
            try:
                with archive.open(info) as f:
                    content = f.read(limits.max_file_bytes + 1)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as e:
                # RuntimeError: an encrypted member; NotImplementedError: an unknown method.
                yield Member(label, error=f"cannot read it from the archive: {e}")
                continue
            if len(content) > limits.max_file_bytes:
                yield Member(label, error=f"larger than {limits.max_file_bytes} bytes unpacked")
                continue
            yield _loose(label, content)


def queue_batch(
    service: Service, members: list[Member], context: UploadContext, *, created_by: str
) -> str:
    """Store every readable file and queue the batch's job in one transaction; its id."""
    files: list[dict[str, Any]] = []
    refused = [{"filename": m.filename, "error": m.error} for m in members if m.error]
    stored = [(m, service.blobs.write(m.data)) for m in members if m.data is not None]
    with service.db.engine.begin() as conn:
        for member, sha in stored:
            assert member.data is not None
            service.blobs.record(conn, sha, len(member.data), member.mime)
            files.append(
                {"filename": member.filename, "sha256": sha, "item_id": secrets.token_hex(8)}
            )
        payload = {"context": context.to_json(), "files": files, "refused": refused}
        return jobs.enqueue(conn, JOB_KIND, payload, created_by=created_by)


def run_batch(service: Service, job: jobs.Job) -> dict[str, Any]:
    """Make each file's item (a file that cannot be scanned is listed, not fatal); the result.

    With a scan pool, as many files are in flight as it has processes, so a batch uses every
    core; without one, one at a time (threads would only contend for the GIL).
    """
    base = UploadContext.from_json(job.payload["context"])
    # A batch may outlast its lease: renewed as it goes, no other worker takes it up meanwhile.
    lease = jobs.LeaseKeeper(service.db.engine, job, every=RENEW_SECONDS)

    def one(entry: Mapping[str, str]) -> dict[str, Any]:
        lease.tick()
        context = dataclasses.replace(base, filename=entry["filename"])
        try:
            item = create_item(
                service.db.engine,
                service.blobs,
                service.blobs.get(entry["sha256"]),
                context,
                service.scan,
                item_id=entry["item_id"],
                stored_sha256=entry["sha256"],
            )
        except (MediaError, InvalidRequestError) as e:
            return {"filename": entry["filename"], "error": str(e)}
        return {"filename": entry["filename"], "item_id": item.id, "verdict": item.verdict}

    parallel = service.scans.processes if service.scans is not None else 1
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="pyosi-batch") as pool:
        done = list(pool.map(one, job.payload["files"]))  # in the batch's order
    errors: list[dict[str, Any]] = list(job.payload.get("refused", []))
    errors += [d for d in done if "error" in d]
    return {"items": [d for d in done if "error" not in d], "errors": errors}
