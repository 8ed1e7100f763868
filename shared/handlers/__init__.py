"""Consumer handlers: plain functions of ``(event, ports)`` named in the catalog."""
