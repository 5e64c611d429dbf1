"""The pure rules of the coach's record.

- `details`: client, title, number and notes given after the fact.
- `consent`: what the client allowed for one session, as an append-only history.
- `shares`: which files a share holds, when it expires, which copies must go.
- `credential`: is a session ready to submit for a credential, rule by rule.
- `requests`: the coach's requests after the stop (label, consent, share…), checked.
"""
