"""Keys of simulated boards."""

from __future__ import annotations

import threading

from cryptography.hazmat.primitives.asymmetric import ec

_lock = threading.Lock()
_reused: ec.EllipticCurvePrivateKey | None = None


def reused_key() -> ec.EllipticCurvePrivateKey:
    """The one key every board with the ``reuse-key`` fault 'generates' (a broken RNG)."""
    global _reused
    with _lock:
        if _reused is None:
            _reused = ec.generate_private_key(ec.SECP256R1())
        return _reused
