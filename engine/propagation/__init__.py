"""Propagation: a shot's masks carried from its keyframes through its frames, in memory.

`propagator` plans the passes (`plan`), runs each with a `tracker` over the network's stages and the adaptive
feature `bank`, and turns the network's output into mattes, `confidence` and `contours`. `settings` holds every
option with its default, for the command line, job files and the wire. Nothing here reads or writes files.
"""
