"""E-mail digests: who gets what (compose), how it looks (render), sending it once (send)."""
