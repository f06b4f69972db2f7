"""The ``tessera`` command line: ``tessera up``, ``tessera jobs``, and each service's commands."""
