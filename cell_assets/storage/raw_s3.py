"""Raw plates uploaded to S3: ``s3://bucket/prefix/<experiment>/<plate>/`` (the
:class:`~cell_assets.storage.raw_plates.RawPlates` interface).

A plate opened for a run is listed once; each file it reads is fetched into a
local mirror on first use (and again when the bucket's copy has another size
or modification time), so the readers of :mod:`cell_assets.formats` work
unchanged and a run over a few wells fetches only their files. The mirror
keeps the S3 URIs as the plate's ``uri_base``: lineage records where the bytes
really live.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.raw_layout import RawPlate, inside_plate
from cell_assets.storage.raw_plates import PlateFolder, RawFile, RawPlates
from cell_assets.storage.s3 import (
    default_cache_dir,
    describe_client_error,
    error_code,
    parse_s3_uri,
)


class S3RawPlates(RawPlates):
    """Plates under ``s3://bucket/prefix``."""

    def __init__(
        self,
        root: str,
        endpoint_url: str | None = None,
        cache_dir: str | Path | None = None,
        max_concurrency: int = 8,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.root = root.rstrip("/")
        self.bucket, self.prefix = parse_s3_uri(root)
        self.mirror_root = (
            Path(cache_dir or default_cache_dir()).expanduser() / "raw" / self.bucket / self.prefix
        )
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(
                retries={"max_attempts": 5, "mode": "standard"},
                max_pool_connections=max(10, max_concurrency),
            ),
        )

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def _list(self, prefix: str, delimiter: str | None = None) -> tuple[list[dict], list[str]]:
        kwargs = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        try:
            pages = list(self.client.get_paginator("list_objects_v2").paginate(**kwargs))
        except Exception as exc:
            raise PlateInputError(
                describe_client_error(exc, self.bucket, prefix, "listing raw plates in")
            ) from None
        objects = [item for page in pages for item in page.get("Contents", [])]
        folders = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
        return objects, folders

    def _experiment_prefixes(self) -> list[tuple[str, str]]:
        """``(experiment, key prefix)`` of every folder directly under the root."""
        base = self._key() + "/" if self.prefix else ""
        return [(prefix[len(base) :].strip("/"), prefix) for prefix in self._list(base, "/")[1]]

    def _folder(self, experiment: str, plate: str) -> PlateFolder:
        return PlateFolder(experiment, plate, f"s3://{self.bucket}/{self._key(experiment, plate)}")

    def _candidates(self) -> list[PlateFolder]:
        return [
            self._folder(experiment, plate_prefix[len(experiment_prefix) :].strip("/"))
            for experiment, experiment_prefix in self._experiment_prefixes()
            for plate_prefix in self._list(experiment_prefix, "/")[1]
        ]

    def _exists(self, prefix: str) -> bool:
        try:
            answer = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)
        except Exception as exc:
            raise PlateInputError(
                describe_client_error(exc, self.bucket, prefix, "listing raw plates in")
            ) from None
        return bool(answer.get("KeyCount") or answer.get("Contents"))

    def _matches(self, plate: str) -> list[PlateFolder]:
        return [
            self._folder(experiment, plate)
            for experiment, prefix in self._experiment_prefixes()
            if self._exists(f"{prefix}{plate}/")
        ]

    def listing(self, folder: PlateFolder, subfolder: str = "") -> dict[str, RawFile]:
        plate_key = self._key(folder.experiment, folder.plate)
        prefix = f"{plate_key}/{subfolder.strip('/')}/" if subfolder else f"{plate_key}/"
        return {
            item["Key"][len(plate_key) + 1 :]: RawFile(
                item["Size"], item["LastModified"].timestamp(), item["ETag"]
            )
            for item in self._list(prefix)[0]
        }

    def read_bytes(self, folder: PlateFolder, relative: str) -> bytes | None:
        key = f"{self._key(folder.experiment, folder.plate)}/{relative}"
        return self._get(key, ImageLocation(plate=folder.plate, file=relative))

    def read_experiment_bytes(self, experiment: str, name: str) -> bytes | None:
        return self._get(self._key(experiment, name), ImageLocation(file=f"{experiment}/{name}"))

    def _get(self, key: str, where: ImageLocation) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise PlateInputError(
                describe_client_error(exc, self.bucket, key, "reading"), where
            ) from None

    def _mirror(self, folder: PlateFolder, listing: dict[str, RawFile]) -> RawPlate:
        mirror = self.mirror_root / folder.experiment / folder.plate
        mirror.mkdir(parents=True, exist_ok=True)
        listed = dict(listing)
        lock = threading.Lock()

        def fetch(relative: str) -> None:
            location = ImageLocation(plate=folder.plate, file=relative)
            with lock:
                item = listed.get(relative)
            if item is None:
                raise PlateInputError(f"{folder.uri}/{relative} does not exist", location)
            self._fetch(folder, relative, item, inside_plate(mirror, relative, location))

        def list_remote(subfolder: str) -> list[str]:
            fresh = self.listing(folder, subfolder)
            with lock:
                listed.update(fresh)
            return sorted(fresh)

        return RawPlate(
            folder.experiment,
            folder.plate,
            mirror,
            uri_base=folder.uri,
            fetch=fetch,
            list_remote=list_remote,
        )

    def _fetch(self, folder: PlateFolder, relative: str, item: RawFile, target: Path) -> None:
        """Download one object unless the mirror holds it already (same size and time)."""
        if target.is_file():
            stat = target.stat()
            if stat.st_size == item.size and abs(stat.st_mtime - item.modified) < 1e-3:
                return
        key = f"{self._key(folder.experiment, folder.plate)}/{relative}"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            self.client.download_file(self.bucket, key, str(partial))
        except Exception as exc:
            partial.unlink(missing_ok=True)
            raise PlateInputError(
                describe_client_error(exc, self.bucket, key, "downloading"),
                ImageLocation(plate=folder.plate, file=relative),
            ) from None
        # The object's own time marks the copy: a changed object has another one.
        os.utime(partial, (item.modified, item.modified))
        os.replace(partial, target)

    def _put(self, folder: PlateFolder, relative: str, source: Path) -> str:
        inside_plate(Path("/plate"), relative, ImageLocation(plate=folder.plate, file=relative))
        key = f"{self._key(folder.experiment, folder.plate)}/{relative}"
        try:
            self.client.upload_file(str(source), self.bucket, key)
        except Exception as exc:
            raise PlateInputError(
                describe_client_error(exc, self.bucket, key, "uploading"),
                ImageLocation(plate=folder.plate, file=relative),
            ) from None
        return f"s3://{self.bucket}/{key}"
