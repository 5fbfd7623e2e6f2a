"""The demo: a warehouse to monitor (`warehouse.sql`) and the helpers that build it."""
