"""The Python client: an IBMQJob-compatible view of gateway jobs."""
