"""seamline: streaming change-data-capture and integration pipeline."""
