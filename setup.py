"""The packages: every package in the tree, and schemas/ and deploy/ as seamline's (pyproject.toml maps them)."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["seamline*", "producers*", "processors*", "sinks*", "notify*", "sandbox*"]),
        "seamline.avro_schemas",
        "seamline.deploy",
    ]
)
