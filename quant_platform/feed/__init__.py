"""Feed layer: venue routes, frame decoding, trade-id continuity, REST backfill, connection."""
