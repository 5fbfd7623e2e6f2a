"""The ledger's API: the write side (`ingest`, `lineage`) and the read side (`read`)."""
