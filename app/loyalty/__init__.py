"""Domain services: a SQLAlchemy Session and plain values in, typed results out. Never commits; never imports Flask,
Redis or HTTP code (the caller owns the transaction and every outward effect)."""
