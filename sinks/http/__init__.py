"""A REST target: version-guarded PUT/PATCH by key with an Idempotency-Key, behind a circuit breaker."""
