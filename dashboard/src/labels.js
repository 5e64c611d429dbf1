// @ts-check
// The words the page shows for the box's states, warnings and upload states.

/** @type {Record<string, string>} */
export const STATE_LABEL = {
  starting: "Starting…",
  idle: "Idle",
  recording: "Recording",
  finalizing: "Finishing…",
  uploading: "Uploading",
  error: "Error",
  unknown: "Waiting…",
};

/** @type {Record<string, string>} */
export const STATE_HINT = {
  starting: "The recorder is starting up",
  idle: "Ready to record",
  recording: "",
  finalizing: "Saving the session",
  uploading: "Ready to record; sending sessions to the cloud",
  error: "",
  unknown: "",
};

/** @type {Record<string, string>} */
export const WARNING_LABEL = { silence: "Silence", clipping: "Clipping", disk_low: "Disk nearly full", device: "Audio device" };

/** @type {Record<string, string>} */
export const COMMAND_LABEL = { start: "Start", stop: "Stop", mark: "Marker" };

/** @type {Record<string, string>} */
export const WHAT_LABEL = { mp3: "MP3", flac: "FLAC", transcript: "Transcript", all: "Everything" };
