"""Provisioning one board and a whole line: claim credentials, CSR policy, the pipeline
of checked steps, the line runner with its slots and port sources, and the events they
emit."""
