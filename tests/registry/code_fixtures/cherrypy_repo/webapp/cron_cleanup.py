"""Nightly cleanup, run by cron as `python webapp/cron_cleanup.py`."""

import model

if __name__ == "__main__":
    model.cleanup()
