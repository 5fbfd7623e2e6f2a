"""Django's PostgreSQL backend for the embedded server (`opshealth.embedded`): a process
that finds the server down starts it again and reconnects."""
