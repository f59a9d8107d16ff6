"""What a compute worker speaks: the broker's protocol over the bus (`protocol`), and the runtime a
worker is written against (`runtime`: a function per task type, everything else done for it)."""
