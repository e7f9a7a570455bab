"""The Avro schemas, installed as the package seamline.avro_schemas (seamline/schemas.py reads them)."""
