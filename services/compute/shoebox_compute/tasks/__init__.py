"""Built-in tasks. Each is a blocking function on an image's bytes; workers run them in a thread."""
