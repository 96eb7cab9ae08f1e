"""The receiver: a durable spool of jobspecs, run as they arrive, none lost, none run twice."""
