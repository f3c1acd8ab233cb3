"""``cell-assets bench …``: pipeline stages timed against a floor measured in the same run (one
module per stage).
"""
