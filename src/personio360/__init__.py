"""personio360: keeps 360Learning in step with Personio."""
