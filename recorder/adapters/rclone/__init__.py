"""rclone: the upload and share remotes, and the rclone processes the box runs.

- `client`: `Rclone` (upload, verify, purge, link), `RcloneError`, `vet`, `find_binary`.
- `share`: `RcloneShareTarget`, the share target (plain copies and their links).
"""
