"""The pure core: no I/O, no threads, no clock reads. Time is a frame counter passed in."""
