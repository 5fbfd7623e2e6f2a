"""Nightly storefront housekeeping, run by cron as `python storefront/nightly.py`:
like the server, it imports its sibling `catalog`."""

import catalog

if __name__ == "__main__":
    print("purged", catalog.purge_sessions(), "sessions")
