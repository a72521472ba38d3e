"""The workspace store: schema, ingest ledger, atomic replace, quarantine."""
