"""The ``cellpose_model`` artifact: Cellpose weights fine-tuned on curated wells.

::

    weights/cell_assets_finetuned   Cellpose 3 weights (load with CellposeModel)
    training_loss.png               loss per epoch (training, held-out)
    report.json                     AP@0.5 before/after on held-out sites, ROIs, sites, start
    report.md                       the same for the UI

``segmentation_masks``' ``model`` (or ``nuclei_model``) names the asset's latest
weights with the value :data:`FINE_TUNED_MODEL`.
"""

from __future__ import annotations

FINE_TUNED_MODEL = "asset:cellpose_model"
MODEL_ASSET = "cellpose_model"
MODEL_PARTITION = ("latest",)
WEIGHTS_FILE = "weights/cell_assets_finetuned"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
LOSS_PNG = "training_loss.png"
