"""Cloud-agnostic core of the event suite.

Nothing in this package imports a cloud SDK (enforced by tests/unit/test_architecture.py).
Image code (Pillow) lives in ``shared.images`` and is imported only by the image handlers,
so order functions never pay for it at cold start.
"""
