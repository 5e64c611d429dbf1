"""The top: the composition root and the programs people run.

- `daemon`: `Recorder`, the composition root (builds each part once, in order), and `run`.
- `cli`: the `session-recorder` command line; `coach_cli` (label, consent, share) and
  `transcript_cli` (transcript SESSION) are its subcommands.
- `remotes`: the upload target built from `[upload]`.
- `assemble_coaching`: the coach's side (records, next session, sharing) for daemon or CLI.
- `doctor`, `demo` (with `virtualmic` and `demo_voices`, no hardware needed), `fleet`.
"""
