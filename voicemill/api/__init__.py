"""The real-time speech synthesis service (FastAPI) and its domain code: keys, audit."""
