"""Query helpers shared by the HTTP services and the scripts."""
