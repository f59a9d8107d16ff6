"""compute's routes: CL's compute face (the job API, `jobs.py`)."""
