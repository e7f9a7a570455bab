"""The command line: one typer app whose commands sit on the core, the stages and the operations."""
