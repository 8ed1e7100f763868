"""Adapters of the core's ports that need no cloud SDK, shared by every backend."""
