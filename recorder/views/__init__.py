"""What people and tools are shown of the stored sessions, read from the store, never written.

- `sessions`: `session_json`, one session's `sessions --json` record.
- `phone`: `SessionViews`, what the phone page shows of each finished session, cached per change.
- `coach`: `coach_view`, a session's coach record (name, consent, shares, markers) as shown.
- `credential`: the credential check of one session folder, its report and its JSON.
"""
