"""Installed as the package seamline.deploy, with only the local stack's files (local/, prometheus/) as data."""
