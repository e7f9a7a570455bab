"""Push sources: an HTTP receiver that checks signatures and answers 2xx once Kafka acknowledged."""
