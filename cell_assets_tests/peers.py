"""The peers' own code, in virtual environments of their own (their pins clash with ours).

A peer environment is built once from the package registry and cached outside
the repository (``$CELL_ASSETS_PEER_VENVS``, else ``~/.cache/cell_assets/peer-venvs``),
keyed by what it installs; later test runs reuse it. Tests run a script in it
with :func:`run_in_peer` and read what it prints (JSON).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

from cell_assets_tests.helpers import service_unavailable

CACHE = Path(
    os.environ.get("CELL_ASSETS_PEER_VENVS", Path.home() / ".cache/cell_assets/peer-venvs")
)


@dataclass(frozen=True)
class Peer:
    """A peer package and how to install it.

    Attributes
    ----------
    name : str
        Folder name of the environment.
    requirements : tuple of str
        Installed with their dependencies.
    no_deps : tuple of str
        Installed without dependencies (a peer whose own pins are unusable here,
        e.g. TensorFlow for code paths that never touch it).
    """

    name: str
    requirements: tuple[str, ...] = ()
    no_deps: tuple[str, ...] = ()

    @property
    def folder(self) -> Path:
        key = hashlib.sha256(json.dumps([self.requirements, self.no_deps]).encode()).hexdigest()[
            :12
        ]
        return CACHE / f"{self.name}-{key}"

    @property
    def python(self) -> Path:
        return self.folder / "bin" / "python"


def ensure_peer(peer: Peer) -> Path:
    """The peer's Python, its environment built on first use (skip or fail without a registry)."""
    if (peer.folder / ".complete").exists():
        return peer.python
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{peer.name}.lock", "w") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # one build at a time, even across test processes
        if not (peer.folder / ".complete").exists():
            _build(peer)
    return peer.python


def _build(peer: Peer) -> None:
    venv.EnvBuilder(with_pip=True, clear=True).create(peer.folder)
    pip = [str(peer.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    steps = [list(peer.requirements)] if peer.requirements else []
    if peer.no_deps:
        steps.append(["--no-deps", *peer.no_deps])
    for args in steps:
        done = subprocess.run([*pip, *args], capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode
            service_unavailable(
                f"cannot build the {peer.name} environment from the package registry: {last}"
            )
    (peer.folder / ".complete").write_text(sys.version)


def run_in_peer(peer: Peer, script: str, *args: str, timeout: float = 900) -> object:
    """Run ``script`` (Python source) in the peer's environment; returns the JSON it prints last."""
    python = ensure_peer(peer)
    done = subprocess.run(
        [str(python), "-c", script, *args], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{peer.name} script failed:\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])
