"""The reliability catalogue: adversarial cases, one module per area, each case a test.

Every bad input must fail with one line naming plate/well/site/file, commit
nothing and leave the previous version readable; every commit must leave the
store consistent; nothing is read from outside a plate. Each red-team round adds
its cases to the area they belong to, so the next round starts from a green
catalogue (``pytest cell_assets_tests/reliability`` and the modules named below).

=================  ===============================================================
area               cases
=================  ===============================================================
inputs             ``test_inputs.py`` (symbolic links out of a plate, hostile
                   files, bad input, NaN, valid JSON); refusals at upload in
                   ``test_sensors.py``; layouts and indexes in
                   ``formats/test_layouts.py``, ``formats/test_plate_index.py``
kill / restart     ``test_kill_restart.py`` (SIGKILL at random moments, staging
                   leftovers); ``test_launching.py`` (a dead worker failed and its
                   slots freed, a killed worker's run retried, SIGTERM to
                   ``materialize``)
concurrency        ``test_concurrency.py`` (racing commits, local and S3; two runs
                   of one plate id); ``test_launching.py`` (two commands, one
                   daemon)
tamper             ``test_tamper.py`` (checksums on read, repair on re-commit and on
                   re-materialize, local and S3; tampered S3 cache)
relocation         ``test_relocation.py`` (ids independent of where the roots live)
S3 faults          ``storage/test_s3_store.py`` (corrupt objects, missing bucket,
                   unreachable server, wrong credentials, no secrets in errors)
curation zips      ``formats/test_deepcell_label.py`` (unsafe members, ids past
                   int32, …), ``test_cli_curation.py``
resources          ``formats/test_images.py`` (decompression bombs),
                   ``formats/test_zarr_chunks.py`` (chunk bombs),
                   ``formats/test_h5sc.py`` (a full disk)
=================  ===============================================================
"""
