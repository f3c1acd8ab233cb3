"""Readers and writers of every on-disk format the project uses."""
