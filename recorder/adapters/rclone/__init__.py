"""rclone: the upload and share remotes, and the rclone processes the box runs.

- `client`: `Rclone` (upload, verify, purge, link; pause, resume and stop its transfers),
  `RcloneError`, `vet`, `find_binary`.
- `processes`: `RcloneProcesses`, the rclone commands in flight on one config (found in /proc,
  frozen, thawed, ended), and `descendants_named`.
- `share`: `RcloneShareTarget`, the share target (plain copies and their links).
"""
