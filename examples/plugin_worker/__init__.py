"""An example plug-in worker for Shoebox's compute broker (see README.md here)."""
