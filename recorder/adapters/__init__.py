"""Thin adapters, one outside thing each, behind the ports in `recorder.ports`; only
`recorder.app` picks them.

- `alsa` (+ `alsa_helper`, `alsa_process`: the capture helper process), `gpio`, `clock`,
  `disk` (statvfs), `notify` (sd_notify).
- `control_socket/`: the local control socket, its limits and its client.
- `mqtt/`: the box on the broker (commands, retained state, events, discovery).
- `rclone/`: the upload and share remotes, and rclone's processes.
"""
