"""The S3 artifact store (AWS S3, MinIO, Ceph or any S3-compatible server), with boto3.

Layout under ``s3://<bucket>/<prefix>`` is the local store's::

    <prefix>/<asset>/<plate>[/<well>]/<version>/<files…>     data objects
    <prefix>/<asset>/<plate>[/<well>]/_manifest.json          commit point

Commit: upload every data object (multipart with concurrency above
``multipart_threshold``), then PUT the manifest, which S3 replaces atomically;
objects of other versions are deleted only after the new manifest is in place.
A reader that sees no manifest sees no artifact; a failed commit leaves the
previous manifest, and so the previous version, untouched.

Loading downloads files on demand into a local cache keyed by sha256 (shared
across runs and artifacts), verifies the checksum, and evicts the least
recently used files beyond ``cache_max_bytes``.

Credentials come from boto3's standard chain (environment, profile, instance
role); the endpoint from ``endpoint_url``, else ``AWS_ENDPOINT_URL_S3`` /
``AWS_ENDPOINT_URL``. Errors name bucket, key and what went wrong, never a
credential.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from cell_assets.errors import ArtifactError
from cell_assets.formats.json_files import dumps
from cell_assets.storage.artifacts import (
    HASH_CHUNK_BYTES,
    MANIFEST_NAME,
    ArtifactStore,
    remember_verified,
    sha256_file,
    verify_file,
)


def default_cache_dir() -> Path:
    """``~/.cache/cell_assets``: S3 downloads and raw-plate mirrors unless a cache_dir is given."""
    return Path.home() / ".cache" / "cell_assets"


DEFAULT_CACHE_MAX_BYTES = 20 * 2**30
MIB = 2**20
# Objects of an unpublished version younger than this may belong to a commit in progress.
DEFAULT_STALE_AFTER_S = 3600.0


class ListedObject(NamedTuple):
    """What a listing says of one object: bytes, ETag (quoted), last modified (epoch seconds)."""

    size: int
    etag: str
    modified: float


def expected_etag(path: Path, multipart_threshold: int, part_size: int) -> str:
    """The ETag S3 gives ``path`` uploaded as this store uploads it (quoted, as listings show it).

    A single PUT's ETag is the MD5 of the bytes; a multipart upload's is the MD5
    of the parts' MD5s followed by ``-<parts>``. Comparing it with a listing
    tells an intact object from a damaged one of the same size.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if size < multipart_threshold:
            return f'"{hashlib.md5(handle.read()).hexdigest()}"'
        digests = [
            hashlib.md5(chunk).digest() for chunk in iter(lambda: handle.read(part_size), b"")
        ]
    return f'"{hashlib.md5(b"".join(digests)).hexdigest()}-{len(digests)}"'


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ``("bucket", "some/prefix")`` (prefix without slashes at the
    ends).
    """
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri!r}")
    return bucket, prefix.strip("/")


def describe_client_error(exc: Exception, bucket: str, key: str, action: str) -> str:
    """One line for a boto3/botocore error: what failed, where, and the server's error code (no
    secrets).
    """
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    where = f"s3://{bucket}/{key}"
    if isinstance(exc, NoCredentialsError):
        return (
            f"{action} {where}: no AWS credentials found (set "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile or a role)"
        )
    if isinstance(exc, EndpointConnectionError):
        endpoint = exc.kwargs.get("endpoint_url", "")
        return (
            f"{action} {where}: cannot reach the S3 endpoint {endpoint} (server down or wrong "
            "endpoint_url)"
        )
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "?")
        hints = {
            "NoSuchBucket": "the bucket does not exist",
            "InvalidAccessKeyId": "the access key is not known to the server (wrong credentials)",
            "SignatureDoesNotMatch": "the secret key does not match the access key (wrong "
            "credentials)",
            "AccessDenied": "access denied for these credentials",
            "403": "access denied for these credentials",
            "404": "not found",
        }
        return f"{action} {where}: {hints.get(str(code), 'S3 error')} ({code})"
    return f"{action} {where}: {type(exc).__name__}: {str(exc)[:300]}"


class S3ArtifactStore(ArtifactStore):
    """Artifacts in an S3 bucket; see the module docstring.

    Parameters
    ----------
    root : str
        ``s3://bucket[/prefix]``.
    endpoint_url, region : str, optional
        For MinIO or another S3-compatible server; default from the AWS config chain.
    cache_dir : path
        Local cache of downloaded files (default ``~/.cache/cell_assets``).
    cache_max_bytes : int
        Least recently used cached files are removed above this size.
    multipart_threshold, multipart_chunksize : int
        Bytes; files above the threshold go in parts of this size.
    max_concurrency : int
        Parallel part transfers per file, and files uploaded at once.
    max_attempts : int
        Attempts per request (boto3's standard retry mode: backoff on throttling and 5xx).
    aws_access_key_id, aws_secret_access_key, region_name : str, optional
        Explicit credentials; default: boto3's chain (environment, profile, role).
    stale_after_s : float
        Objects of a version that no manifest names are deleted once this old
        (a younger one may belong to a concurrent commit that has not published).
    """

    def __init__(
        self,
        root: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        cache_dir: str | Path | None = None,
        cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES,
        multipart_threshold: int = 64 * MIB,
        multipart_chunksize: int = 16 * MIB,
        max_concurrency: int = 8,
        max_attempts: int = 5,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        region_name: str | None = None,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
    ) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.root = root.rstrip("/")
        self.bucket, self.prefix = parse_s3_uri(root)
        self.endpoint_url = endpoint_url
        cache_root = Path(cache_dir or default_cache_dir()).expanduser()
        self.cache_dir = cache_root / "objects"
        self._staging_root = cache_root / "staging"
        self.cache_max_bytes = cache_max_bytes
        self.stale_after_s = stale_after_s
        self.conditional_writes = True
        self.max_concurrency = max_concurrency
        self._cache_bytes: int | None = None
        config = Config(
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=max(10, 2 * max_concurrency),
        )
        session = boto3.session.Session(
            aws_access_key_id=aws_access_key_id, aws_secret_access_key=aws_secret_access_key
        )
        self.client = session.client(
            "s3", endpoint_url=endpoint_url, region_name=region or region_name, config=config
        )
        self.transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
            use_threads=max_concurrency > 1,
        )

    @property
    def staging_root(self) -> Path:
        return self._staging_root

    def partitions_under(self, asset: str, plate: str) -> list[str]:
        prefix = self._partition_key(asset, (plate,)) + "/"
        wells = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter="/"
            )
            for page in pages:
                wells += [
                    p["Prefix"][len(prefix) :].strip("/") for p in page.get("CommonPrefixes", [])
                ]
        except Exception as exc:
            raise ArtifactError(
                describe_client_error(exc, self.bucket, prefix, "listing")
            ) from None
        return sorted(wells)

    # ---- keys ----------------------------------------------------------
    def _key(self, *parts: str) -> str:
        return (
            str(PurePosixPath(self.prefix, *parts)) if self.prefix else str(PurePosixPath(*parts))
        )

    def _partition_key(self, asset: str, partition: tuple[str, ...]) -> str:
        return self._key(asset, *partition)

    def _object_key(self, manifest: dict[str, Any], name: str) -> str:
        partition_key = self._partition_key(manifest["asset"], tuple(manifest["partition"]))
        return f"{partition_key}/{manifest['version']}/{name}"

    # ---- commit --------------------------------------------------------
    def _commit(self, manifest: dict[str, Any], staging: Path) -> None:
        partition_key = self._partition_key(manifest["asset"], tuple(manifest["partition"]))
        version_prefix = f"{partition_key}/{manifest['version']}/"
        # One listing serves both ends of the commit: objects of this version that
        # are already there intact are not sent again (an idempotent re-run), and
        # stale versions are deleted once the new manifest is in place. It runs
        # beside the uploads; only files big enough to matter wait for it.
        big = self.transfer.multipart_threshold

        def upload(entry: dict[str, Any]) -> None:
            key = f"{version_prefix}{entry['name']}"
            if entry["size"] >= big or listing.done():
                listed = listing.result().get(key)
                if listed and listed.size == entry["size"] and self._intact(listed, staging, entry):
                    return  # already uploaded, byte for byte, by an earlier commit
            try:
                if entry["size"] < big:  # one PUT, without a transfer manager per file
                    with open(staging / entry["name"], "rb") as body:
                        self.client.put_object(
                            Bucket=self.bucket,
                            Key=key,
                            Body=body,
                            Metadata={"sha256": entry["sha256"]},
                        )
                else:  # multipart, parts in parallel
                    self.client.upload_file(
                        str(staging / entry["name"]),
                        self.bucket,
                        key,
                        Config=self.transfer,
                        ExtraArgs={"Metadata": {"sha256": entry["sha256"]}},
                    )
            except Exception as exc:
                error = describe_client_error(exc, self.bucket, key, "uploading")
                raise ArtifactError(error) from None

        # Large files use their own part threads; small ones go several at a time.
        with ThreadPoolExecutor(max_workers=max(2, self.max_concurrency // 2 + 1)) as pool:
            listing = pool.submit(self._existing_objects, f"{partition_key}/")
            for future in [pool.submit(upload, entry) for entry in manifest["files"]]:
                future.result()
            existing = listing.result()
        previous = self._publish(partition_key, manifest)
        # A version published by a commit racing this one is younger than stale_after_s,
        # so the age rule of _stale_keys keeps it too.
        self._delete(self._stale_keys(existing, partition_key, {manifest["version"], previous}))

    def _intact(self, listed: ListedObject, staging: Path, entry: dict[str, Any]) -> bool:
        """True when the stored object's ETag is the one the staged file would get."""
        return listed.etag == expected_etag(
            staging / entry["name"],
            self.transfer.multipart_threshold,
            self.transfer.multipart_chunksize,
        )

    def _publish(self, partition_key: str, manifest: dict[str, Any]) -> str | None:
        """PUT the manifest (the commit point); returns the version it replaced.

        The PUT is conditional on the manifest it replaces (``If-Match`` its
        ETag, or ``If-None-Match: *`` when there is none), so the replaced
        version is known exactly even when two commits race; a server without
        conditional writes gets a plain PUT.
        """
        key = f"{partition_key}/{MANIFEST_NAME}"
        body = dumps(manifest).encode()
        for _ in range(10):
            previous, etag = self._manifest_and_etag(key)
            condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
            if not self.conditional_writes:
                condition = {}
            try:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentType="application/json",
                    **condition,
                )
                return previous["version"] if previous else None
            except Exception as exc:
                code = error_code(exc)
                if code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                    continue  # another commit published in between: read it again
                if condition and code in ("NotImplemented", "501", "InvalidArgument"):
                    self.conditional_writes = False
                    continue
                error = describe_client_error(exc, self.bucket, key, "writing the manifest")
                raise ArtifactError(error) from None
        raise ArtifactError(f"s3://{self.bucket}/{key}: the manifest kept changing; commit again")

    def _manifest_and_etag(self, key: str) -> tuple[dict[str, Any] | None, str | None]:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None, None
            error = describe_client_error(exc, self.bucket, key, "reading the manifest")
            raise ArtifactError(error) from None
        try:
            return json.loads(response["Body"].read()), response["ETag"]
        except json.JSONDecodeError:
            return None, response["ETag"]  # a broken manifest is replaced all the same

    def _stale_keys(
        self, existing: dict[str, ListedObject], partition_key: str, keep: set[str | None]
    ) -> list[str]:
        """Objects of versions no manifest names any more and that no commit can still be writing.

        A version that is neither the new one, the one it replaced, nor the
        current one may still be uploading for a concurrent commit that has not
        published yet; its objects are only deleted once ``stale_after_s`` old.
        """
        cutoff = time.time() - self.stale_after_s
        stale = []
        for key, listed in existing.items():
            rest = key[len(partition_key) + 1 :]
            version = rest.split("/", 1)[0]
            if rest == MANIFEST_NAME or version in keep or listed.modified > cutoff:
                continue
            stale.append(key)
        return stale

    def _existing_objects(self, prefix: str) -> dict[str, ListedObject]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            return {
                item["Key"]: ListedObject(
                    item["Size"], item["ETag"], item["LastModified"].timestamp()
                )
                for page in pages
                for item in page.get("Contents", [])
            }
        except Exception as exc:
            error = describe_client_error(exc, self.bucket, prefix, "listing")
            raise ArtifactError(error) from None

    def _delete(self, keys: list[str]) -> None:
        """Delete data objects of versions the new manifest no longer names (best effort)."""
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            try:
                self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            except Exception:
                return  # stale objects are invisible to readers; the next commit retries

    # ---- reading -------------------------------------------------------
    def read_manifest(self, asset: str, partition: tuple[str, ...]) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        key = f"{self._partition_key(asset, partition)}/{MANIFEST_NAME}"
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise ArtifactError(
                describe_client_error(exc, self.bucket, key, "reading the manifest")
            ) from None
        except Exception as exc:
            raise ArtifactError(
                describe_client_error(exc, self.bucket, key, "reading the manifest")
            ) from None
        try:
            return json.loads(body)
        except json.JSONDecodeError as exc:
            raise ArtifactError(
                f"manifest s3://{self.bucket}/{key} is not valid JSON: {exc}"
            ) from None

    def damage(self, manifest: dict[str, Any]) -> str | None:
        # One listing for presence and sizes; the drawn file is fetched past the cache (the
        # cached copy is ours and verified: it says nothing of the object in the bucket).
        listed = self._existing_objects(
            f"{self._partition_key(manifest['asset'], tuple(manifest['partition']))}/"
            f"{manifest['version']}/"
        )
        entries = manifest["files"]
        for entry in entries:
            key = self._object_key(manifest, entry["name"])
            if key not in listed:
                return f"s3://{self.bucket}/{key} is missing"
            if listed[key].size != entry["size"]:
                return (
                    f"s3://{self.bucket}/{key} has {listed[key].size} bytes, the manifest says "
                    f"{entry['size']}"
                )
        if not entries:
            return None
        entry = random.choice(entries)
        key = self._object_key(manifest, entry["name"])
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        probe = self.cache_dir / f".check-{uuid.uuid4().hex}.part"
        try:
            actual = self._get_hashing(key, probe)
        except Exception as exc:
            return describe_client_error(exc, self.bucket, key, "checking")
        finally:
            probe.unlink(missing_ok=True)
        if actual != entry["sha256"]:
            return f"s3://{self.bucket}/{key} fails its checksum"
        return None

    def file_uri(self, manifest: dict[str, Any], name: str) -> str:
        return f"s3://{self.bucket}/{self._object_key(manifest, name)}"

    def local_path(self, manifest: dict[str, Any], entry: dict[str, Any]) -> Path:
        """Download the file into the sha256-keyed cache once, verify it, return its path."""
        sha = entry["sha256"]
        suffix = "".join(PurePosixPath(entry["name"]).suffixes)[-16:]
        cached = self.cache_dir / sha[:2] / f"{sha}{suffix}"
        key = self._object_key(manifest, entry["name"])
        if cached.is_file() and cached.stat().st_size == entry["size"]:
            try:  # the cache is ours, but verified on first use: a damaged copy is fetched again
                verify_file(cached, sha, f"cached copy {cached} of s3://{self.bucket}/{key}")
                os.utime(cached)  # recently used
                return cached
            except ArtifactError:
                cached.unlink(missing_ok=True)
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f".{cached.name}.{uuid.uuid4().hex}.part")
        try:
            if entry["size"] < self.transfer.multipart_threshold:
                actual = self._get_hashing(key, partial)  # one GET, hashed while written
            else:
                self.client.download_file(
                    self.bucket, key, str(partial), Config=self.transfer
                )  # ranged, parallel
                actual = sha256_file(partial)
        except Exception as exc:
            partial.unlink(missing_ok=True)
            if error_code(exc) in ("NoSuchKey", "404"):
                current = self.read_manifest(manifest["asset"], tuple(manifest["partition"]))
                if current and current["version"] != manifest["version"]:
                    raise ArtifactError(
                        f"{manifest['artifact_id']}: s3://{self.bucket}/{key} is gone: the "
                        f"artifact was replaced by version {current['version']} while it was read; "
                        "run the reading step again"
                    ) from None
            raise ArtifactError(
                f"{manifest['artifact_id']}: "
                + describe_client_error(exc, self.bucket, key, "downloading")
            ) from None
        if actual != sha:
            partial.unlink(missing_ok=True)
            raise ArtifactError(
                f"{manifest['artifact_id']}: s3://{self.bucket}/{key} fails its checksum "
                f"(sha256 {actual[:16]}…, manifest says {sha[:16]}…): the object was changed "
                "behind the store's back; re-materialize it"
            )
        os.replace(partial, cached)
        remember_verified(cached, sha)
        self._account(entry["size"])
        return cached

    def _get_hashing(self, key: str, target: Path) -> str:
        """GET one object into ``target``, returning the sha256 of the bytes written."""
        digest = hashlib.sha256()
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        with open(target, "wb") as handle:
            for chunk in body.iter_chunks(HASH_CHUNK_BYTES):
                digest.update(chunk)
                handle.write(chunk)
        return digest.hexdigest()

    def _account(self, added: int) -> None:
        """Track the cache size; scan and evict only when it may exceed the limit."""
        if self._cache_bytes is None:
            self._cache_bytes = sum(
                p.stat().st_size for p in self.cache_dir.glob("*/*") if p.is_file()
            )
        else:
            self._cache_bytes += added
        if self._cache_bytes > self.cache_max_bytes:
            self._evict()

    def _evict(self) -> None:
        """Remove least recently used cache files until the cache fits ``cache_max_bytes``."""
        files = [
            (p.stat().st_mtime, p.stat().st_size, p)
            for p in self.cache_dir.glob("*/*")
            if p.is_file() and not p.name.startswith(".")
        ]
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.cache_max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
        self._cache_bytes = total

    def check_bucket(self) -> None:
        """One clear ArtifactError when the bucket is missing or the credentials are refused."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise ArtifactError(
                describe_client_error(exc, self.bucket, self.prefix, "opening the store at")
            ) from None
