// @ts-check
// The MQTT messages the page reads and sends, as README.md's "MQTT and Home Assistant" section
// and `sessions --json` describe them, for the type checker (`npm run typecheck`); no code.
//
// A field that an older daemon does not send is optional. The types say what a well-behaved box
// sends; the page still checks every field it shows (a message is data from the network, and a
// damaged record on the box must not break the page), so a guard such as
// `typeof e.message === "string"` stays even where the type already says string.

// ---- <p>/<id>/state (retained JSON) ---------------------------------------------------------

/**
 * @typedef {"starting" | "idle" | "recording" | "finalizing" | "uploading" | "error"} StateName
 */

/**
 * A raised warning; `kind` is one of WARNING_LABEL's keys or a newer one (shown as it is).
 * @typedef {object} Warning
 * @property {string} kind
 * @property {string} message
 */

/**
 * The last block's levels, one entry per channel; `clipped` counts full-scale samples.
 * @typedef {object} Levels
 * @property {number[]} peak_dbfs
 * @property {number[]} rms_dbfs
 * @property {number} clipped
 */

/**
 * rclone's progress on the session being sent.
 * @typedef {object} UploadProgress
 * @property {number} [bytes]
 * @property {number} [total]
 * @property {number} percent
 * @property {number} [rate_bps]
 * @property {number | null} [eta_s]
 */

/**
 * The outbox: `enabled` false when the config has no [upload] section.
 * @typedef {object} UploadStatus
 * @property {boolean} enabled
 * @property {string | null} [remote]
 * @property {number} queue
 * @property {string | null} current
 * @property {string | null} [verifying] the session being checked on the remote
 * @property {string | null} [transcribing] the session whose transcript is being built; absent from an older daemon
 * @property {UploadProgress | null} progress
 * @property {boolean} paused
 * @property {string | null} last_error
 */

/**
 * What the next session started gets (`next`), or null when nothing is set.
 * @typedef {object} NextSession
 * @property {string} client
 * @property {string} title
 */

/**
 * Whether this box can share; when it cannot, `message` says why.
 * @typedef {object} Sharing
 * @property {boolean} enabled
 * @property {string} [expire]
 * @property {string} [max_expire]
 * @property {string} [message]
 */

/**
 * The retained state message.
 * @typedef {object} BoxState
 * @property {StateName} state
 * @property {string} [device_id]
 * @property {string | null} session_id
 * @property {number} elapsed_s
 * @property {Warning[]} warnings
 * @property {Levels | null} levels
 * @property {number} disk_free_mb
 * @property {number} [hours_left]
 * @property {UploadStatus} [upload]
 * @property {string | null} last_error
 * @property {RecentSession[]} [recent] the last sessions, oldest first
 * @property {number} [recent_left_out] how many of the oldest were left out of this message
 * @property {NextSession | null} [next_session] absent from a daemon without session names
 * @property {Sharing | null} [sharing] absent from a daemon without sharing
 * @property {string} [version]
 * @property {string} ts ISO 8601
 */

// ---- a session in `recent` (the phone's part of `sessions --json`) ---------------------------

/**
 * @typedef {"verified" | "uploaded" | "uploading" | "pending" | "failed" | "unknown"} UploadState
 */

/**
 * @typedef {object} Details
 * @property {string} [client]
 * @property {string} [title]
 * @property {number | null} [number]
 * @property {string} [notes]
 */

/**
 * A marker, numbered 1, 2, … in time order as `label_marker` counts them.
 * @typedef {object} Marker
 * @property {number} n
 * @property {number} seconds
 * @property {string} label
 * @property {boolean} edited
 * @property {number} [frame] where it is, in frames from the session's first; absent from an older daemon
 * @property {string} [source] "button", "ctl", "mqtt", "review" (a bookmark made while listening back), …
 */

/**
 * @typedef {object} ConsentEntry
 * @property {string} at ISO 8601
 * @property {"allow" | "withdraw"} action
 * @property {"share" | "copy" | "record"} what
 * @property {string | null} [to]
 * @property {string} ref
 * @property {"cli" | "ctl" | "mqtt"} source
 */

/**
 * What the consent history allows now, the history, and damaged entries.
 * @typedef {object} Consent
 * @property {boolean} record
 * @property {boolean} share
 * @property {string[] | null} share_to null with `share`: anyone the coach names
 * @property {boolean} copy
 * @property {ConsentEntry[]} history
 * @property {string[]} problems
 */

/**
 * A shared copy, as in `sessions --json`.
 * @typedef {object} Share
 * @property {string} id
 * @property {string} to
 * @property {"share" | "copy"} purpose
 * @property {"mp3" | "flac" | "transcript" | "all"} what
 * @property {string[]} [files]
 * @property {string} remote
 * @property {string | null} link
 * @property {string | null} link_expires_at
 * @property {string | null} link_note
 * @property {string} created_at
 * @property {string | null} expires_at
 * @property {string | null} removed_at
 * @property {string | null} removed why it was removed
 */

/**
 * Where a discard would delete the session: the local folder, the archive, the live copies.
 * @typedef {object} Where
 * @property {string | null} local
 * @property {string | null} remote
 * @property {number} active_shares
 */

/**
 * @typedef {"none" | "building" | "done" | "failed" | "damaged"} TranscriptState
 */

/**
 * @typedef {object} TranscriptSummary
 * @property {TranscriptState} status
 * @property {string | null} [engine]
 * @property {number} [words]
 * @property {number} [turns] changes of speaker
 * @property {number} [paragraphs] timestamped lines: a turn has more than one after a long pause; absent from an older daemon
 * @property {number} [progress] 0 to 1 while building
 * @property {string} [error]
 * @property {number} [revision] the coach's corrections saved so far (0: the engine's); absent from an older daemon
 * @property {boolean} [proofread] whether the coach marked the current revision proofread; absent from an older daemon
 */

/**
 * One point of the credential check.
 * @typedef {object} CredentialCheck
 * @property {string} name
 * @property {string} [label]
 * @property {"pass" | "fail" | "unknown"} result
 * @property {string} message
 */

/**
 * @typedef {object} CredentialView
 * @property {boolean} ready
 * @property {string} [verdict]
 * @property {CredentialCheck[]} checks
 */

/**
 * One of the last sessions in the state message. A daemon without session names sends only
 * the first five fields; a session being recorded has no transcript or credential check.
 * @typedef {object} RecentSession
 * @property {string} id
 * @property {string} state "recording", "outbox", "uploaded", "damaged", …
 * @property {number} seconds
 * @property {string | null} started_at ISO 8601
 * @property {UploadState} upload_status
 * @property {"waiting" | "failed" | "verified" | "none" | "unknown"} [transcript_upload] the transcript's own trip to the cloud, after the audio's; absent from an older daemon
 * @property {TranscriptSummary} [transcript]
 * @property {CredentialView} [credential]
 * @property {string} [name]
 * @property {Details} [details]
 * @property {Marker[]} [markers]
 * @property {Consent} [consent]
 * @property {Share[]} [shares] newest first
 * @property {Where} [where]
 */

// ---- <p>/<id>/level (JSON, not retained, while recording) -----------------------------------

/**
 * @typedef {Levels & {elapsed_s: number}} LevelMessage
 */

// ---- <p>/<id>/event (JSON) --------------------------------------------------------------------

/**
 * The answer to each command. A queued request is answered twice: first with `queued` and its
 * `job`, then with the same `job` and the result.
 * @typedef {object} CommandEvent
 * @property {"command"} event
 * @property {string} cmd
 * @property {boolean} ok
 * @property {string} message
 * @property {string} [session_id]
 * @property {boolean} [queued]
 * @property {string} [job]
 */

/**
 * A malformed or refused message, which names no command.
 * @typedef {object} ErrorEvent
 * @property {"error"} event
 * @property {string} message
 * @property {number} [unanswered]
 */

/**
 * @typedef {object} ShareReadyEvent
 * @property {"share_ready"} event
 * @property {string} session_id
 * @property {Share} share
 */

/**
 * @typedef {object} ShareFailedEvent
 * @property {"share_failed"} event
 * @property {string} session_id
 * @property {string} message
 */

/**
 * @typedef {object} MarkerEvent
 * @property {"marker"} event
 * @property {string | null} session_id
 * @property {number} [frame]
 * @property {number} seconds
 * @property {string} label
 * @property {string} [source]
 */

/**
 * @typedef {object} SessionEvent
 * @property {"session_started" | "session_stopped" | "session_finalized" | "session_uploaded"
 *   | "session_verified" | "session_discarded"} event
 * @property {string} session_id
 * @property {string} [source] session_started: what started it
 * @property {string} [reason] session_stopped: why it ended
 * @property {number} [seconds] session_stopped: its length
 * @property {string} [remote] session_uploaded, session_verified: the archive folder
 */

/**
 * @typedef {object} WarningEvent
 * @property {"warning" | "warning_cleared"} event
 * @property {string} kind
 * @property {string} message
 */

/**
 * @typedef {CommandEvent | ErrorEvent | ShareReadyEvent | ShareFailedEvent | MarkerEvent
 *   | SessionEvent | WarningEvent} BoxEvent
 */

// ---- <p>/<id>/cmd (what the page sends) --------------------------------------------------------

/**
 * The buttons' commands, sent as plain text.
 * @typedef {"start" | "stop" | "mark"} TextCommand
 */

/**
 * @typedef {object} LabelCommand
 * @property {"label"} cmd
 * @property {string} session
 * @property {string} [client]
 * @property {string} [title]
 * @property {number | null} [number] null clears it
 * @property {string} [notes]
 */

/**
 * Empty strings clear what the next session gets.
 * @typedef {object} NextCommand
 * @property {"next"} cmd
 * @property {string} client
 * @property {string} title
 */

/**
 * @typedef {object} LabelMarkerCommand
 * @property {"label_marker"} cmd
 * @property {string} session
 * @property {number} marker the marker's number, 1 for the first in time order
 * @property {string} label
 * @property {number} [frame] the marker's frame as the page saw it: refused if marker n moved
 */

/**
 * An allowance or a withdrawal: exactly one of `allow` and `withdraw`.
 * @typedef {object} ConsentCommand
 * @property {"consent"} cmd
 * @property {string} session
 * @property {"share" | "copy"} [allow]
 * @property {"share" | "copy" | "record"} [withdraw]
 * @property {string} [to] sharing only: with whom
 * @property {string} ref how consent was obtained or withdrawn
 */

/**
 * @typedef {object} ShareCommand
 * @property {"share"} cmd
 * @property {string} session
 * @property {string} to
 * @property {"mp3" | "flac" | "transcript" | "all"} [what]
 * @property {string} [expire] "14d", "never", …; absent: the box's default
 */

/**
 * @typedef {object} RevokeCommand
 * @property {"revoke"} cmd
 * @property {string} session
 * @property {string} share
 */

/**
 * @typedef {object} DiscardCommand
 * @property {"discard"} cmd
 * @property {string} session
 */

/**
 * The JSON commands the page's forms send, each answered by a `command` event.
 * @typedef {LabelCommand | NextCommand | LabelMarkerCommand | ConsentCommand | ShareCommand
 *   | RevokeCommand | DiscardCommand | BookmarkCommand | ProofreadCommand | TranscriptEditCommand} JsonCommand
 */

/**
 * The coach's mark on a finished transcript: refused when `revision` is no longer the current one.
 * @typedef {object} ProofreadCommand
 * @property {"proofread"} cmd
 * @property {string} session
 * @property {number} [revision] the revision the coach read
 * @property {boolean} [done] false clears the mark
 */

/**
 * `GET` or `POST /api/sessions/<id>/submission`: where the submission MP3 (the MP3 from the
 * start press) stands.
 * @typedef {object} SubmissionStatus
 * @property {"none" | "building" | "ready" | "failed"} status
 * @property {number} progress 0 to 1
 * @property {string} [error] why a build failed
 */

/**
 * A marker set while listening back (source `review`), in a finished session.
 * @typedef {object} BookmarkCommand
 * @property {"bookmark"} cmd
 * @property {string} session
 * @property {number} seconds where in session.mp3/flac (pre-roll included, like a marker's `seconds`)
 * @property {string} [label]
 */

/**
 * One correction of a `transcript_edit`; lines and words count from 0 as in transcript.json.
 * @typedef {{op: "text", line: number, text: string} | {op: "speaker", line: number, speaker: string}
 *   | {op: "split", line: number, word: number} | {op: "merge", line: number}} TranscriptEditOp
 */

/**
 * One save of corrections to a finished transcript, on the revision the page read (`base`):
 * refused when another phone saved first.
 * @typedef {object} TranscriptEditCommand
 * @property {"transcript_edit"} cmd
 * @property {string} session
 * @property {number} base
 * @property {TranscriptEditOp[]} ops applied in order
 */

// ---- the web server's session API (GET /api/sessions, /api/sessions/<id>/transcript) -----------

/**
 * @typedef {"session.mp3" | "session.flac" | "transcript.docx" | "transcript.txt" | "transcript.vtt"
 *   | "labels.txt" | "submission.mp3"} MediaFile
 */

/**
 * A session as GET /api/sessions lists it: its `sessions --json` record without the box's paths;
 * only the fields the page reads are typed.
 * @typedef {object} ApiSession
 * @property {string} id
 * @property {string | null} [name]
 * @property {string} [state]
 * @property {"box" | "archive"} source
 * @property {MediaFile[]} media the files /media/<id>/ has
 * @property {{status?: string, progress?: number, reason?: string}} [listening] where the copy to listen to stands, on a box that builds no session.mp3
 * @property {number} [preroll_s] where the start press falls in session.mp3/flac: transcript times count from it
 * @property {{status?: string, revision?: number, proofread?: boolean, readalong?: boolean}} [transcript] `readalong`: for a session from the archive, whether the archive holds its transcript document
 * @property {number} [seconds]
 * @property {string | null} [started_at] ISO 8601
 * @property {Marker[]} [markers]
 */

/**
 * A recognised word; times count from the start press.
 * @typedef {object} TranscriptWord
 * @property {string} text
 * @property {number} start_s
 * @property {number} end_s
 * @property {number | null} probability the engine's confidence (0..1); null where the coach typed it
 * @property {string | null} [display] the piece as the engine wrote it, with its leading space
 */

/**
 * A paragraph of the transcript (a turn, or part of one after a long pause).
 * @typedef {object} TranscriptLine
 * @property {number} start_s
 * @property {number} end_s
 * @property {string} speaker
 * @property {string} text
 * @property {boolean} [overlap]
 * @property {TranscriptWord[]} [words] empty in older transcripts
 */

/**
 * @typedef {object} TranscriptDocJson
 * @property {string} session_id
 * @property {string} title
 * @property {number} length_s
 * @property {string[]} speakers
 * @property {TranscriptLine[]} lines
 * @property {{at_s: number, label: string}[]} [markers]
 */

/**
 * GET /api/sessions/<id>/transcript; `doc` is null until the transcript is done.
 * @typedef {object} TranscriptAnswer
 * @property {string} id
 * @property {string} status
 * @property {number} preroll_s
 * @property {number} [revision] the revision of `doc`: the `base` of a correction made on it
 * @property {boolean} [proofread] whether that revision is marked proofread
 * @property {TranscriptDocJson | null} doc
 * @property {string} [error]
 * @property {"box" | "archive"} [source] where the document was read: a session from the archive is read only
 */

// ---- the page's own ---------------------------------------------------------------------------

/**
 * The login: defaults < the box's config.json < this phone < the link's query.
 * @typedef {object} Settings
 * @property {string} url the broker's websocket address
 * @property {string} username
 * @property {string} password
 * @property {boolean} remember whether this phone keeps the password
 * @property {string} device a box id, or "all" for every box under the prefix
 * @property {string} prefix
 */

/**
 * How a form's answer is painted beside it, or a toast.
 * @typedef {"info" | "ok" | "bad" | "warn"} Kind
 */

export {};
