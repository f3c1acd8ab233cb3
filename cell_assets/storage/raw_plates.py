"""Raw plates: the upload root ``<root>/<experiment>/<plate>/`` behind one interface.

Shaped like the artifact store (:mod:`cell_assets.storage.artifacts`): a
:class:`RawPlates` interface, a local-folder implementation here and an S3 one
in :mod:`cell_assets.storage.raw_s3`, and one opener,
:func:`cell_assets.storage.open_raw_plates`. Nothing above this module branches on
``s3://``.

What a backend offers:

* the plate folders under the root (:meth:`RawPlates.plate_folders`), and one
  plate found by id (:meth:`RawPlates.find`);
* a folder's files with size, modification time and a content tag
  (:meth:`RawPlates.listing`), and small files read whole (:meth:`RawPlates.read_bytes`);
* the folder as a layout reader sees it (:meth:`RawPlates.plate_files`): whatever the
  microscope wrote is recognised by :mod:`cell_assets.formats.layouts`;
* a plate opened for a run (:meth:`RawPlates.open`): its settings and index read once
  and its files reachable on this machine (an S3 plate's files are fetched on first
  use into a local mirror, and fetched again when the bucket's copy changes);
* a curated project zip put beside the upload, in the plate's curation folder
  (:meth:`RawPlates.add_curation_project`; read back with
  :func:`~cell_assets.formats.raw_layout.curation_projects`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from cell_assets.errors import ImageLocation, PlateInputError
from cell_assets.formats.images import MAX_PLANE_PIXELS
from cell_assets.formats.layouts import PlateFolderFiles, read_plate
from cell_assets.formats.plate_index import PlateIndex
from cell_assets.formats.plate_settings import SETTINGS_FILE, PlateSettings, parse_settings
from cell_assets.formats.raw_layout import (
    CURATION_FOLDER,
    RawPlate,
    accept_plates,
    curation_folder,
    inside_plate,
)
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
    """One upload folder ``<root>/<experiment>/<plate>/`` and where it lives (``file://`` or
    ``s3://``)."""

    experiment: str
    plate: str
    uri: str


# Zarr v2 keeps its metadata in files whose names start with a dot.
ZARR_METADATA = (".zattrs", ".zgroup", ".zarray", ".zmetadata")


def _hidden(name: str) -> bool:
    return any(part.startswith(".") and part not in ZARR_METADATA for part in name.split("/"))


def upload_files(listing: dict[str, RawFile]) -> dict[str, RawFile]:
    """The files that make the upload: not the curation folder (curated masks come later), not
    hidden files (partial copies, a mirror's own)."""
    return {
        name: item
        for name, item in listing.items()
        if not name.startswith(f"{CURATION_FOLDER}/") and not _hidden(name)
    }


def fingerprint(listing: dict[str, RawFile]) -> str:
    """Changes whenever a file of the upload is added, removed or changed."""
    digest = hashlib.sha256()
    for name in sorted(listing):
        item = listing[name]
        digest.update(f"{name}\0{item.size}\0{item.tag}\n".encode())
    return digest.hexdigest()[:16]


class RawPlates(ABC):
    """The plates under one upload root (see the module docstring)."""

    root: str
    # The most pixels a raw plane may declare; every plate opened here carries it to its reads.
    max_plane_pixels: int = MAX_PLANE_PIXELS

    # ---- what each backend implements ----------------------------------
    @abstractmethod
    def _candidates(self) -> list[PlateFolder]:
        """Every folder ``<experiment>/<plate>/``, ids unchecked."""

    @abstractmethod
    def _matches(self, plate: str) -> list[PlateFolder]:
        """The folders ``<experiment>/<plate>/`` of any experiment."""

    @abstractmethod
    def listing(self, folder: PlateFolder, subfolder: str = "") -> dict[str, RawFile]:
        """Every file under the plate folder (or its ``subfolder``), by plate-relative path."""

    @abstractmethod
    def read_bytes(self, folder: PlateFolder, relative: str) -> bytes | None:
        """A small file of the plate read whole; None when it does not exist."""

    @abstractmethod
    def read_experiment_bytes(self, experiment: str, name: str) -> bytes | None:
        """A small file directly in the experiment's folder; None when it does not exist."""

    @abstractmethod
    def _mirror(self, folder: PlateFolder, listing: dict[str, RawFile]) -> RawPlate:
        """The plate with its files reachable on this machine (index not yet set)."""

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
                f"no folder <experiment>/{plate}/ under raw root {self.root}",
                ImageLocation(plate=plate),
            )
        if len(found) > 1:
            raise PlateInputError(
                f"plate id found in several experiments: {', '.join(f.uri for f in found)}",
                ImageLocation(plate=plate),
            )
        return found[0]

    def settings(self, folder: PlateFolder) -> PlateSettings:
        """The plate's ``settings.yaml`` over its experiment's (defaults where neither has one).

        Raises
        ------
        PlateInputError
            A file cannot be used (naming the plate, the file and the key).
        """
        from cell_assets.formats.plate_settings import SettingsError, settings_mapping

        shared = f"../{SETTINGS_FILE}"  # the experiment's, as seen from the plate folder
        text = self.read_experiment_bytes(folder.experiment, SETTINGS_FILE)
        try:
            experiment = settings_mapping(text)
            parse_settings(None, experiment)  # its own mistakes are named as its own
        except SettingsError as exc:
            where = ImageLocation(plate=folder.plate, file=shared)
            raise PlateInputError(f"experiment {folder.experiment}: {exc}", where) from None
        try:
            return parse_settings(self.read_bytes(folder, SETTINGS_FILE), experiment)
        except SettingsError as exc:
            where = ImageLocation(plate=folder.plate, file=SETTINGS_FILE)
            raise PlateInputError(str(exc), where) from None

    def plate_files(
        self, folder: PlateFolder, listing: dict[str, RawFile], raw: RawPlate | None = None
    ) -> PlateFolderFiles:
        """The folder as a layout reader sees it (file names, bytes, local copies)."""
        located = raw or self._mirror(folder, listing)

        def read(name: str) -> bytes:
            content = self.read_bytes(folder, name)
            if content is None:
                raise PlateInputError(
                    "file not found", ImageLocation(plate=folder.plate, file=name)
                )
            return content

        return PlateFolderFiles(
            folder.plate,
            sorted(upload_files(listing)),
            read,
            lambda name: located.file(name, ImageLocation(plate=folder.plate, file=name)),
        )

    def index_of(self, folder: PlateFolder) -> PlateIndex:
        """The plate's index, whatever its layout (its files are not fetched)."""
        listing = self.listing(folder)
        return read_plate(self.plate_files(folder, listing), self.settings(folder))

    def open(self, plate: str) -> RawPlate:
        """``plate`` found, its settings and index read and its files reachable here: what a run
        works on."""
        folder = self.find(validate_plate_id(plate))
        listing = self.listing(folder)
        raw = self._mirror(folder, listing)
        settings = self.settings(folder)
        raw.index = read_plate(self.plate_files(folder, listing, raw), settings)
        raw.settings = settings
        raw.max_plane_pixels = self.max_plane_pixels
        return raw

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
            self._folder(plate_dir.parent.name, plate_dir.name)
            for plate_dir in sorted(self.path.glob("*/*/"))
            if plate_dir.is_dir() and not plate_dir.name.startswith(".")
            and not plate_dir.parent.name.startswith(".")
        ]  # fmt: skip

    def _folder(self, experiment: str, plate: str) -> PlateFolder:
        path = self.path / experiment / plate
        return PlateFolder(experiment, plate, path.resolve().as_uri())

    def _matches(self, plate: str) -> list[PlateFolder]:
        return [
            self._folder(plate_dir.parent.name, plate)
            for plate_dir in sorted(self.path.glob(f"*/{plate}/"))
            if plate_dir.is_dir() and _legal(plate_dir.parent.name)
        ]

    def _plate_path(self, folder: PlateFolder) -> Path:
        return self.path / folder.experiment / folder.plate

    def listing(self, folder: PlateFolder, subfolder: str = "") -> dict[str, RawFile]:
        base = self._plate_path(folder)
        start = inside_plate(base, subfolder, ImageLocation(plate=folder.plate, file=subfolder))
        files = {}
        # Links are followed only where they stay inside the plate folder; one that leaves it
        # refuses the plate, named, before any of its files is read.
        for directory, folders, names in os.walk(start, followlinks=True):
            for name in folders + names:
                path = Path(directory) / name
                if path.is_symlink():
                    relative = path.relative_to(base).as_posix()
                    inside_plate(base, relative, ImageLocation(plate=folder.plate, file=relative))
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
        except (FileNotFoundError, IsADirectoryError):
            return None

    def read_experiment_bytes(self, experiment: str, name: str) -> bytes | None:
        path = self.path / experiment / name
        return path.read_bytes() if path.is_file() else None

    def _mirror(self, folder: PlateFolder, listing: dict[str, RawFile]) -> RawPlate:
        return RawPlate(folder.experiment, folder.plate, self._plate_path(folder), None)

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
