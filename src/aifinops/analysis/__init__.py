"""Questions answered as backend-portable Ibis expressions."""
