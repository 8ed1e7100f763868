"""Azure Functions flavour of the suite (Python v2 programming model, Flex Consumption).

``function_app`` is what the Functions host imports: it registers one queue-triggered function
per catalog consumer and one HTTP function per catalog endpoint, and imports nothing heavy.
``entrypoint`` turns a delivery into a dispatcher call; ``bootstrap`` is the composition root
(ports built on first use, once per process); ``adapters`` implement the core's ports over Blob
Storage, Table Storage, Storage queues and Event Grid; ``events`` reads what Event Grid writes
into the queues; ``hostjson`` and ``package`` generate ``host.json`` and the deployment zip.
"""
