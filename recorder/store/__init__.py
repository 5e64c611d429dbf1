"""What is kept on the card, and how it is written so that a power cut never leaves half a file.

`files`: `atomic_write` (temporary file, fsync, rename, directory fsync) and `fsync_dir`.
"""
