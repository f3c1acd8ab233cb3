"""Channel roles: which of a plate's channels stains nuclei, and which outlines cells.

One rule, used by the ``segmentation_masks`` asset, ``cell-assets segment``, the
Cellpose fine-tuning and the upload checks. A role is taken, in this order,
from what the user named (``nuclei_channel``, ``cytoplasm_channel``), from the
names labs give their stains (DAPI, Hoechst, DNA, H2B, DRAQ5, … for nuclei;
AGP, actin/phalloidin, WGA, CellMask, membrane, tubulin, "cell body", … and then
Cell Painting's RNA, ER and Mito stains for cells), and from the excitation
wavelength when the metadata gives one (a nuclear dye excited at 340–420 nm,
i.e. DAPI or Hoechst). A plate with a single channel is that channel's nuclei
(cells then are a ring around each nucleus); a plate with no cell stain is
segmented as nuclei with rings, said so, never guessed silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cell_assets.parameters import parameter

# Words in channel names, lower case, letters and digits only.
NUCLEUS_STAINS = (
    "dapi", "hoechst", "dna", "h2b", "draq5", "draq7", "nuclei", "nucleus", "nuclear",
    "sirdna", "sytox", "topro", "propidium", "pi", "nucgreen", "nucblue", "nucred", "sir-dna",
    "hst",
)  # fmt: skip
# Cell outline stains, best first: membrane and cytoskeleton stains, then Cell Painting's others.
CELL_STAINS = (
    "agp", "actin", "phalloidin", "wga", "cellmask", "membrane", "cellbody", "cytoplasm",
    "cyto", "tubulin", "cell", "rna", "syto", "er", "concanavalin", "cona", "mito",
    "mitotracker",
)  # fmt: skip
# Excitation of the usual nuclear dyes (DAPI 358 nm, Hoechst 350 nm, lasers at 375/405 nm).
NUCLEAR_EXCITATION_NM = (340.0, 420.0)


class ChannelRoleError(ValueError):
    """A plate's channels do not say which stains nuclei (the message lists them and the fix)."""


@dataclass(frozen=True)
class ChannelChoice:
    """What a user may say about channel roles (each empty = decided by the rule above)."""

    nuclei_channel: str | None = parameter(
        None,
        "Channel of the nuclear stain; empty = found by its name (DAPI, Hoechst, DNA, H2B, "
        "DRAQ5, …) or excitation wavelength.",
    )
    cytoplasm_channel: str | None = parameter(
        None,
        "Channel that outlines cells; empty = found by its name (AGP, Actin, WGA, CellMask, "
        "…, then RNA, ER, Mito). A plate without one gets cells as rings around the nuclei.",
    )
    nucleus_only: bool = parameter(
        False, "Segment nuclei only: each cell is its nucleus (no cytoplasm)."
    )


@dataclass(frozen=True)
class ChannelRoles:
    """The roles decided for one plate.

    Attributes
    ----------
    nuclei : str
        The nuclear stain.
    cytoplasm : str or None
        The stain cells are segmented on; None: cells are rings around the nuclei
        (or the nuclei themselves with ``nucleus_only``).
    reason : str
        How they were decided, for the record (``"named in settings"``, ``"by name"``, …).
    """

    nuclei: str
    cytoplasm: str | None
    reason: str

    def as_record(self) -> dict[str, str | None]:
        return {
            "nuclei_channel": self.nuclei,
            "cytoplasm_channel": self.cytoplasm,
            "channel_roles": self.reason,
        }


def _words(name: str) -> list[str]:
    """``"OrigDNA_405"`` → ``["orig", "dna", "405"]``; ``"Cell body"`` → ``["cell", "body",
    "cellbody"]`` (adjacent words joined too)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)  # "OrigDNA", "w1DAPI"
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if p]
    return parts + ["".join(parts[i : i + 2]) for i in range(len(parts) - 1)]


def _rank(name: str, vocabulary: Sequence[str]) -> int | None:
    """Position of the best word of ``vocabulary`` in ``name`` (whole words, or a word that
    starts with it, e.g. "hoechst33342"); None if none."""
    words = _words(name)
    best = None
    for position, stain in enumerate(vocabulary):
        if any(w == stain or (len(stain) >= 4 and w.startswith(stain)) for w in words):
            best = position if best is None else min(best, position)
    return best


def nucleus_stain(
    channels: Sequence[str], excitation_nm: Mapping[str, float] | None = None
) -> str | None:
    """The channel whose name (or excitation) says it stains nuclei; None when none does."""
    ranked = sorted(
        (rank, i, c)
        for i, c in enumerate(channels)
        if (rank := _rank(c, NUCLEUS_STAINS)) is not None
    )
    if ranked:
        return ranked[0][2]
    low, high = NUCLEAR_EXCITATION_NM
    by_light = [c for c in channels if low <= (excitation_nm or {}).get(c, -1.0) <= high]
    return by_light[0] if len(by_light) == 1 else None


def cell_stain(channels: Sequence[str], nuclei: str) -> str | None:
    """The channel whose name says it outlines cells (best stain first); None when none does."""
    ranked = sorted(
        (rank, i, c)
        for i, c in enumerate(channels)
        if c != nuclei and (rank := _rank(c, CELL_STAINS)) is not None
    )
    return ranked[0][2] if ranked else None


def assign_roles(
    channels: Sequence[str],
    choice: ChannelChoice | None = None,
    excitation_nm: Mapping[str, float] | None = None,
) -> ChannelRoles:
    """Decide the nucleus and cell channels of a plate (see the module docstring).

    Raises
    ------
    ChannelRoleError
        A named channel the plate does not have, or several channels and none
        that says it stains nuclei.
    """
    choice = choice or ChannelChoice()
    channels = list(channels)
    for named in (choice.nuclei_channel, choice.cytoplasm_channel):
        if named and named not in channels:
            raise ChannelRoleError(f"no channel {named!r} among the channels {', '.join(channels)}")
    if choice.nuclei_channel:
        nuclei, reason = (
            choice.nuclei_channel,
            f"nuclear stain {choice.nuclei_channel} named in settings",
        )
    elif len(channels) == 1:
        nuclei, reason = (
            channels[0],
            f"{channels[0]}, the plate's only channel, taken as the nuclear stain",
        )
    else:
        nuclei = nucleus_stain(channels, excitation_nm)
        by_name = nuclei is not None and _rank(nuclei, NUCLEUS_STAINS) is not None
        reason = (
            f"nuclear stain {nuclei} found by its name"
            if by_name
            else f"nuclear stain {nuclei} found by its excitation "
            f"({(excitation_nm or {}).get(nuclei or '', 0):.0f} nm)"
        )
        if nuclei is None:
            raise ChannelRoleError(
                f"no channel of {', '.join(channels)} is named like a nuclear stain (DAPI, "
                "Hoechst, DNA, H2B, DRAQ5, …): name it in the plate's settings.yaml "
                "(ops: segmentation_masks: config: nuclei_channel: <name>)"
            )
    if choice.nucleus_only:
        return ChannelRoles(nuclei, None, reason + "; nuclei only (cells = nuclei)")
    if choice.cytoplasm_channel:
        if choice.cytoplasm_channel == nuclei:
            raise ChannelRoleError(
                f"cytoplasm_channel and nuclei_channel are both {nuclei!r}: cells need another "
                "stain"
            )
        return ChannelRoles(
            nuclei,
            choice.cytoplasm_channel,
            reason + f"; cell stain {choice.cytoplasm_channel} named",
        )
    cytoplasm = cell_stain(channels, nuclei)
    if cytoplasm is None:
        return ChannelRoles(nuclei, None, reason + "; no cell stain: cells are rings around nuclei")
    return ChannelRoles(nuclei, cytoplasm, reason + f"; cell stain {cytoplasm} found by its name")
