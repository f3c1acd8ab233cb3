"""Raw plates uploaded to S3: ``s3://bucket/prefix/<experiment>/<plate>/index.csv`` plus images.

Plates are found by listing; a plate's ``index.csv`` and the images it lists are
mirrored into a local folder on first use (and re-downloaded when their size
or ETag changes), so the readers of :mod:`cell_assets.formats` work unchanged.
The mirror keeps the S3 URIs as the plate's ``uri_base``: lineage records
where the bytes really live.
"""

from __future__ import annotations

import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.plate_index import INDEX_FILENAME, read_plate_index
from cell_assets.formats.raw_layout import RawPlate, accept_plates
from cell_assets.identifiers import validate_plate_id
from cell_assets.storage.s3 import default_cache_dir, describe_client_error, parse_s3_uri

ETAGS_FILE = ".s3_etags.json"


class S3RawPlates:
    """Discover and mirror raw plates under ``s3://bucket/prefix``."""

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
        self.max_concurrency = max_concurrency
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

    def _has_index(self, plate_prefix: str) -> bool:
        key = f"{plate_prefix}{INDEX_FILENAME}"
        return any(o["Key"] == key for o in self._list(key)[0])

    def discover(self) -> tuple[list[RawPlate], list[str]]:
        """Every ``<experiment>/<plate>/index.csv`` under the root, as :func:`discover_plates` does
        locally.
        """
        candidates = []
        for experiment, experiment_prefix in self._experiment_prefixes():
            for plate_prefix in self._list(experiment_prefix, "/")[1]:
                if self._has_index(plate_prefix):
                    plate = plate_prefix[len(experiment_prefix) :].strip("/")
                    candidates.append(
                        (experiment, plate, f"s3://{self.bucket}/{plate_prefix.rstrip('/')}")
                    )
        return accept_plates(candidates, self._raw_plate)

    def _raw_plate(self, experiment: str, plate: str) -> RawPlate:
        return RawPlate(
            experiment,
            plate,
            self.mirror_root / experiment / plate,
            uri_base=f"s3://{self.bucket}/{self._key(experiment, plate)}",
        )

    def locate(self, plate: str) -> RawPlate:
        """Find ``plate`` (one index lookup per experiment, not a full discovery), mirror it, return
        it.
        """
        raw = self.find(plate)
        self.mirror(raw)
        return raw

    def find(self, plate: str) -> RawPlate:
        """Find ``plate``'s experiment without mirroring its images."""
        validate_plate_id(plate)
        experiments = [
            e for e, prefix in self._experiment_prefixes() if self._has_index(f"{prefix}{plate}/")
        ]
        if not experiments:
            raise PlateInputError(
                f"no <experiment>/{plate}/index.csv under raw root {self.root}",
                ImageLocation(plate=plate),
            )
        if len(experiments) > 1:
            raise PlateInputError(
                f"plate id found in several experiments: {', '.join(experiments)}",
                ImageLocation(plate=plate),
            )
        return self._raw_plate(experiments[0], plate)

    def mirror(self, raw: RawPlate) -> None:
        """Download index.csv and every image it lists that is missing or changed (by ETag)."""
        plate_key = self._key(raw.experiment, raw.plate)
        raw.path.mkdir(parents=True, exist_ok=True)
        etags_path = raw.path / ETAGS_FILE
        etags = json.loads(etags_path.read_text()) if etags_path.exists() else {}
        objects = {o["Key"][len(plate_key) + 1 :]: o for o in self._list(plate_key + "/")[0]}
        self._fetch(raw, plate_key, INDEX_FILENAME, objects, etags)
        index = read_plate_index(raw.path, raw.plate)
        wanted = sorted({path for site in index.sites for path in site.channel_paths.values()})
        missing = [rel for rel in wanted if rel not in objects]
        if missing:
            raise PlateInputError(
                f"index.csv lists {len(missing)} image(s) not in S3, e.g. "
                f"s3://{self.bucket}/{plate_key}/{missing[0]}",
                ImageLocation(plate=raw.plate, file=missing[0]),
            )
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            for future in [
                pool.submit(self._fetch, raw, plate_key, rel, objects, etags) for rel in wanted
            ]:
                future.result()
        etags_path.write_text(json.dumps(etags))

    def _fetch(self, raw: RawPlate, plate_key: str, rel: str, objects: dict, etags: dict) -> None:
        item = objects.get(rel)
        if item is None:
            raise PlateInputError(
                f"s3://{self.bucket}/{plate_key}/{rel} does not exist",
                ImageLocation(plate=raw.plate, file=rel),
            )
        target = raw.path / rel
        if (
            target.exists()
            and target.stat().st_size == item["Size"]
            and etags.get(rel) == item["ETag"]
        ):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            self.client.download_file(self.bucket, f"{plate_key}/{rel}", str(partial))
        except Exception as exc:
            partial.unlink(missing_ok=True)
            raise PlateInputError(
                describe_client_error(exc, self.bucket, f"{plate_key}/{rel}", "downloading"),
                ImageLocation(plate=raw.plate, file=rel),
            ) from None
        os.replace(partial, target)
        etags[rel] = item["ETag"]

    def fetch_folder(self, raw: RawPlate, folder: str) -> list[Path]:
        """Mirror every object under ``<plate>/<folder>/``; their local paths, sorted."""
        plate_key = self._key(raw.experiment, raw.plate)
        prefix = f"{plate_key}/{folder.strip('/')}/"
        objects = {o["Key"][len(plate_key) + 1 :]: o for o in self._list(prefix)[0]}
        for relative in objects:
            self._fetch(raw, plate_key, relative, objects, {})
        return [raw.path / relative for relative in sorted(objects)]

    def put_file(self, raw: RawPlate, relative: str, source: Path) -> str:
        """Upload ``source`` to ``<plate>/<relative>``; returns its URI."""
        key = f"{self._key(raw.experiment, raw.plate)}/{relative}"
        try:
            self.client.upload_file(str(source), self.bucket, key)
        except Exception as exc:
            raise PlateInputError(
                describe_client_error(exc, self.bucket, key, "uploading"),
                ImageLocation(plate=raw.plate, file=relative),
            ) from None
        return f"s3://{self.bucket}/{key}"

    def index_files(self) -> tuple[list[tuple[str, str, str, str]], list[str]]:
        """``(experiment, plate, where, ETag of index.csv)`` of every plate, and one line per
        unusable folder: the new-plate sensor's listing (one listing per experiment and plate)."""
        found, candidates = {}, []
        for experiment, experiment_prefix in self._experiment_prefixes():
            for plate_prefix in self._list(experiment_prefix, "/")[1]:
                key = f"{plate_prefix}{INDEX_FILENAME}"
                objects = [o for o in self._list(key)[0] if o["Key"] == key]
                if not objects:
                    continue
                plate = plate_prefix[len(experiment_prefix) :].strip("/")
                where = f"s3://{self.bucket}/{plate_prefix.rstrip('/')}"
                found[experiment, plate] = (experiment, plate, where, objects[0]["ETag"])
                candidates.append((experiment, plate, where))
        return accept_plates(candidates, lambda experiment, plate: found[experiment, plate])

    def listed_files(self, experiment: str, plate: str):
        """``({path: (size, last modified) or None}, index.csv bytes, wells)`` of an uploaded
        plate, from one listing of its prefix."""
        import tempfile

        plate_key = self._key(experiment, plate)
        objects = {o["Key"][len(plate_key) + 1 :]: o for o in self._list(plate_key + "/")[0]}
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=f"{plate_key}/{INDEX_FILENAME}")
            index_bytes = body["Body"].read()
        except Exception as exc:
            raise PlateInputError(
                describe_client_error(exc, self.bucket, plate_key, "reading index.csv of")
            ) from None
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / INDEX_FILENAME).write_bytes(index_bytes)
            index = read_plate_index(folder, plate)
        sizes = {}
        for site in index.sites:
            for relative in site.channel_paths.values():
                item = objects.get(relative)
                sizes[relative] = (
                    None if item is None else (item["Size"], item["LastModified"].timestamp())
                )
        return sizes, index_bytes, index.wells

    def read_text(self, experiment: str, plate: str, name: str) -> str | None:
        """A small text file of an uploaded plate (None when it does not exist)."""
        key = f"{self._key(experiment, plate)}/{name}"
        if not [o for o in self._list(key)[0] if o["Key"] == key]:
            return None
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()
        except Exception as exc:
            raise PlateInputError(describe_client_error(exc, self.bucket, key, "reading")) from None
