"""HTTP mechanics shared by both API clients: pacing, retries, pagination, redaction."""
