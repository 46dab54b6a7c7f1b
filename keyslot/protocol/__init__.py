"""The shared language of host and device: pure values and codecs, no I/O."""
