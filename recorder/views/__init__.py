"""What people and tools are shown of the stored sessions, read from the store, never written.

`sessions`: `session_json`, one session's `sessions --json` record.
"""
