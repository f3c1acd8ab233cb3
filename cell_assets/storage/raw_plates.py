"""Raw plates: the upload root ``<root>/<experiment>/<plate>/`` behind one interface.

Shaped like the artifact store (:mod:`cell_assets.storage.artifacts`): a
:class:`RawPlates` interface, a local-folder implementation here and an S3 one
in :mod:`cell_assets.storage.raw_s3`, and one opener,
:func:`cell_assets.storage.open_raw_plates`.
Nothing above this module branches on ``s3://``.

What a backend offers:

* the plate folders under the root (:meth:`RawPlates.plate_folders`), and one
  plate found by id (:meth:`RawPlates.find`);
* a folder's files with size, modification time and a content tag
  (:meth:`RawPlates.listing`), and small files read whole (:meth:`RawPlates.read_bytes`);
* a plate opened for a run (:meth:`RawPlates.open`): its index parsed once and its
  files reachable on this machine (an S3 plate's files are fetched on first use
  into a local mirror, and fetched again when the bucket's copy changes);
* a curated project zip put beside the upload, in the plate's curation folder
  (:meth:`RawPlates.add_curation_project`; read back with
  :func:`~cell_assets.formats.raw_layout.curation_projects`).
"""

from __future__ import annotations

import os
import shutil
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.plate_index import INDEX_FILENAME, PlateIndex, parse_plate_index_bytes
from cell_assets.formats.raw_layout import RawPlate, accept_plates, curation_folder, inside_plate
from cell_assets.identifiers import validate_plate_id


@dataclass(frozen=True)
class RawFile:
    """What a listing says of one raw file.

    Attributes
    ----------
    size : int
        Bytes.
    modified : float
        Last modification, epoch seconds.
    tag : str
        Changes whenever the content does: the S3 ETag, or ``<mtime_ns>:<size>`` locally.
    """

    size: int
    modified: float
    tag: str


@dataclass(frozen=True)
class PlateFolder:
    """One upload folder ``<root>/<experiment>/<plate>/``.

    Attributes
    ----------
    uri : str
        Where it lives: ``file://…`` or ``s3://…``.
    fingerprint : str
        Changes whenever the plate's index file does (its ETag, or mtime and size);
        empty when not looked up.
    """

    experiment: str
    plate: str
    uri: str
    fingerprint: str = ""


class RawPlates(ABC):
    """The plates under one upload root (see the module docstring)."""

    root: str

    # ---- what each backend implements ----------------------------------
    @abstractmethod
    def _candidates(self) -> list[PlateFolder]:
        """Every folder ``<experiment>/<plate>/`` that holds a plate index, ids unchecked."""

    @abstractmethod
    def _matches(self, plate: str) -> list[PlateFolder]:
        """The folders ``<experiment>/<plate>/`` that hold an index, in any experiment."""

    @abstractmethod
    def listing(self, folder: PlateFolder, subfolder: str = "") -> dict[str, RawFile]:
        """Every file under the plate folder (or its ``subfolder``), by plate-relative path."""

    @abstractmethod
    def read_bytes(self, folder: PlateFolder, relative: str) -> bytes | None:
        """A small file of the plate read whole; None when it does not exist."""

    @abstractmethod
    def _local_plate(self, folder: PlateFolder, index: PlateIndex) -> RawPlate:
        """The plate with its files reachable on this machine (fetched on first use)."""

    @abstractmethod
    def _put(self, folder: PlateFolder, relative: str, source: Path) -> str:
        """Store ``source`` as the plate's ``relative`` file atomically; its URI."""

    # ---- shared ---------------------------------------------------------
    def plate_folders(self) -> tuple[list[PlateFolder], list[str]]:
        """Every plate folder with legal, unique ids, and one line per folder skipped and why."""
        found = {(f.experiment, f.plate): f for f in self._candidates()}
        candidates = [(f.experiment, f.plate, f.uri) for f in found.values()]
        return accept_plates(candidates, lambda experiment, plate: found[experiment, plate])

    def find(self, plate: str) -> PlateFolder:
        """The folder of ``plate`` (searching every experiment), or PlateInputError."""
        found = self._matches(validate_plate_id(plate))
        if not found:
            raise PlateInputError(
                f"no folder <experiment>/{plate}/ with an {INDEX_FILENAME} under raw root "
                f"{self.root}",
                ImageLocation(plate=plate),
            )
        if len(found) > 1:
            raise PlateInputError(
                f"plate id found in several experiments: {', '.join(f.uri for f in found)}",
                ImageLocation(plate=plate),
            )
        return found[0]

    def read_index(self, folder: PlateFolder) -> PlateIndex:
        """The plate's parsed index (``index.csv``), or PlateInputError naming what is wrong."""
        content = self.read_bytes(folder, INDEX_FILENAME)
        if content is None:
            raise PlateInputError(
                f"{INDEX_FILENAME} not found", ImageLocation(plate=folder.plate, file=folder.uri)
            )
        return parse_plate_index_bytes(content, folder.plate, source=INDEX_FILENAME)

    def open(self, plate: str) -> RawPlate:
        """``plate`` found, its index parsed and its files reachable here: what a run works on."""
        folder = self.find(validate_plate_id(plate))
        return self._local_plate(folder, self.read_index(folder))

    def add_curation_project(self, raw: RawPlate, well: str, source: Path, name: str) -> str:
        """Put a checked project zip into the well's curation folder (atomically); its URI."""
        folder = PlateFolder(raw.experiment, raw.plate, raw.uri())
        return self._put(folder, f"{curation_folder(well)}/{name}", source)


class LocalRawPlates(RawPlates):
    """Plates in a local folder (or a mounted share)."""

    def __init__(self, root: str | Path) -> None:
        self.root = str(root)
        self.path = Path(root)

    def _candidates(self) -> list[PlateFolder]:
        if not self.path.is_dir():
            raise PlateInputError(f"raw root {self.path} is not a folder")
        return [
            self._folder(index.parent.parent.name, index.parent.name)
            for index in sorted(self.path.glob(f"*/*/{INDEX_FILENAME}"))
        ]

    def _folder(self, experiment: str, plate: str) -> PlateFolder:
        path = self.path / experiment / plate
        try:
            stat = (path / INDEX_FILENAME).stat()
            fingerprint = f"{stat.st_mtime_ns}:{stat.st_size}"
        except OSError:  # removed while listing
            fingerprint = ""
        return PlateFolder(experiment, plate, path.resolve().as_uri(), fingerprint)

    def _matches(self, plate: str) -> list[PlateFolder]:
        return [
            self._folder(index.parent.parent.name, plate)
            for index in sorted(self.path.glob(f"*/{plate}/{INDEX_FILENAME}"))
            if _legal(index.parent.parent.name)
        ]

    def _plate_path(self, folder: PlateFolder) -> Path:
        return self.path / folder.experiment / folder.plate

    def listing(self, folder: PlateFolder, subfolder: str = "") -> dict[str, RawFile]:
        base = self._plate_path(folder)
        start = inside_plate(base, subfolder, ImageLocation(plate=folder.plate, file=subfolder))
        files = {}
        for directory, _, names in os.walk(start):
            for name in names:
                path = Path(directory) / name
                try:
                    stat = path.stat()
                except OSError:
                    continue  # removed while listing
                relative = path.relative_to(base).as_posix()
                files[relative] = RawFile(
                    stat.st_size, stat.st_mtime, f"{stat.st_mtime_ns}:{stat.st_size}"
                )
        return files

    def read_bytes(self, folder: PlateFolder, relative: str) -> bytes | None:
        base = self._plate_path(folder)
        path = inside_plate(base, relative, ImageLocation(plate=folder.plate, file=relative))
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def _local_plate(self, folder: PlateFolder, index: PlateIndex) -> RawPlate:
        return RawPlate(folder.experiment, folder.plate, self._plate_path(folder), index)

    def _put(self, folder: PlateFolder, relative: str, source: Path) -> str:
        base = self._plate_path(folder)
        target = inside_plate(base, relative, ImageLocation(plate=folder.plate, file=relative))
        target.parent.mkdir(parents=True, exist_ok=True)
        # The folder may have been made a link out of the plate since the check above.
        inside_plate(base, relative, ImageLocation(plate=folder.plate, file=relative))
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        shutil.copyfile(source, partial)
        os.replace(partial, target)
        return target.resolve().as_uri()


def _legal(name: str) -> bool:
    try:
        validate_plate_id(name)
    except PlateInputError:
        return False
    return True
