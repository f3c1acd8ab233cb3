import json

import pytest

from cell_assets.errors import ArtifactError
from cell_assets.storage import LocalArtifactStore, StagedArtifact, open_store, staging_area


def _stage(tmp_path, content: dict[str, bytes]) -> StagedArtifact:
    with staging_area("test", parent=tmp_path) as staging:
        for name, payload in content.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(payload)
    return StagedArtifact(
        staging, metadata={"k": 1}, upstream=["up@1"], file_info={"a.txt": {"shape": [1]}}
    )


def test_commit_load_and_manifest(tmp_path):
    store = LocalArtifactStore(tmp_path / "store")
    handle = store.commit(
        "asset", ("P1", "A01"), _stage(tmp_path, {"a.txt": b"hello", "sub/b.bin": b"\x00" * 10})
    )
    loaded = store.load("asset", ("P1", "A01"))
    assert loaded.artifact_id == handle.artifact_id
    assert sorted(loaded.files) == ["a.txt", "sub/b.bin"]
    assert loaded.path("a.txt").read_bytes() == b"hello"
    manifest = json.loads((tmp_path / "store/asset/P1/A01/_manifest.json").read_text())
    entry = next(f for f in manifest["files"] if f["name"] == "a.txt")
    assert entry["size"] == 5 and len(entry["sha256"]) == 64 and entry["shape"] == [1]
    assert manifest["upstream"] == ["up@1"] and manifest["metadata"] == {"k": 1}


def test_same_content_gives_the_same_artifact_id(tmp_path):
    store = LocalArtifactStore(tmp_path / "store")
    first = store.commit("asset", ("P1",), _stage(tmp_path, {"a.txt": b"x"}))
    second = store.commit("asset", ("P1",), _stage(tmp_path, {"a.txt": b"x"}))
    assert first.artifact_id == second.artifact_id
    assert second.path("a.txt").read_bytes() == b"x"


def test_a_new_version_replaces_the_old_which_stays_readable_until_the_next_commit(tmp_path):
    store = LocalArtifactStore(tmp_path / "store")
    old = store.commit("asset", ("P1",), _stage(tmp_path, {"a.txt": b"old"}))
    new = store.commit("asset", ("P1",), _stage(tmp_path, {"a.txt": b"new"}))
    assert old.artifact_id != new.artifact_id
    assert store.load("asset", ("P1",)).path("a.txt").read_bytes() == b"new"
    assert old.path("a.txt").read_bytes() == b"old"  # a reader holding the old manifest finishes

    def versions():
        return sorted(p.name for p in (tmp_path / "store/asset/P1").iterdir() if p.is_dir())

    assert versions() == sorted([old.manifest["version"], new.manifest["version"]])
    newest = store.commit("asset", ("P1",), _stage(tmp_path, {"a.txt": b"newest"}))
    assert versions() == sorted([new.manifest["version"], newest.manifest["version"]])
    with pytest.raises(ArtifactError, match="replaced by version .* while it was being read"):
        old.path("a.txt")


def test_failure_inside_staging_commits_nothing_and_keeps_the_previous_version(tmp_path):
    store = LocalArtifactStore(tmp_path / "store")
    store.commit("asset", ("P1",), _stage(tmp_path, {"a.txt": b"v1"}))
    with pytest.raises(RuntimeError), staging_area("test", parent=tmp_path) as staging:
        (staging / "a.txt").write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert not staging.exists()
    assert store.load("asset", ("P1",)).path("a.txt").read_bytes() == b"v1"


def test_missing_artifact_and_tampered_file_are_clear_errors(tmp_path):
    store = LocalArtifactStore(tmp_path / "store")
    with pytest.raises(ArtifactError, match="no artifact asset/P9"):
        store.load("asset", ("P9",))
    handle = store.commit("asset", ("P1",), _stage(tmp_path, {"a.txt": b"hello"}))
    (tmp_path / "store/asset/P1" / handle.manifest["version"] / "a.txt").write_bytes(
        b"hello, changed"
    )
    with pytest.raises(ArtifactError, match="changed behind the store's back"):
        store.load("asset", ("P1",)).path("a.txt")
    with pytest.raises(ArtifactError, match="has no file"):
        handle.path("nope.txt")


def test_unknown_store_scheme_is_refused():
    with pytest.raises(ValueError, match="not supported"):
        open_store("gs://bucket/prefix")
