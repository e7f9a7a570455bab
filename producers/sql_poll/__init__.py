"""Any SQL table polled on a (timestamp, key) watermark, hard deletes found by key comparison."""
