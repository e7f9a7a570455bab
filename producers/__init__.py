"""Producers: capture changes from source systems and publish them to Kafka."""
