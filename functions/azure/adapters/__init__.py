"""Adapters implementing the core's ports over Azure services.

Each module imports only its own SDK: ``blob`` (azure-storage-blob), ``tables``
(azure-data-tables), ``queues`` (azure-storage-queue clients passed in), ``eventgrid``
(azure-eventgrid / azure-core). The composition root picks what a function needs.
"""
