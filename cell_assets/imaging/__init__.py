"""Pure image science on numpy arrays: no Dagster imports here."""
