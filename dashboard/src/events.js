// @ts-check
// The box's events (<p>/<id>/event) for the box shown: answers go beside the form that sent the
// command, the rest to a toast.

import { answered, jobDone, takeOldest, takePending, takeShareWait } from "./commands.js";
import { record } from "./dom.js";
import { feedback } from "./feedback.js";
import { clock } from "./format.js";
import { COMMAND_LABEL } from "./labels.js";
import { noteToldMarker } from "./markers.js";
import { invalidateLists } from "./scheduler.js";
import { sessionName } from "./state.js";
import { toast } from "./toast.js";

/** @import { BoxEvent } from "./types.js" */

/** @param {BoxEvent} e */
export function onEvent(e) {
  const message = "message" in e && typeof e.message === "string" ? e.message : "";
  const sid = "session_id" in e && typeof e.session_id === "string" ? e.session_id : "";
  switch (e.event) {
    case "command": {
      if (typeof e.job === "string" && e.job && e.queued !== true) {
        jobDone(e, message, sid);
        break;
      }
      const p = takePending(e);
      if (p) answered(p, e.ok === true, message);
      else if (e.ok) toast(message || `${COMMAND_LABEL[e.cmd] || e.cmd || "Command"}: done`, "ok");
      else toast(message ? `Refused: ${message}` : "The box refused the command", "bad");
      break;
    }
    case "error": {
      // a malformed or refused command names no command: the oldest one waiting gets it
      const p = takeOldest();
      if (p) answered(p, false, message);
      else toast(message || "The box reported an error", "bad");
      break;
    }
    case "share_ready": {
      const share = record(e.share);
      const to = share && typeof share.to === "string" ? share.to : "";
      const how = share && share.link ? "the link is below" : share && typeof share.link_note === "string" ? share.link_note : "";
      const text = `Shared${to ? ` with ${to}` : ""}${how ? `: ${how}` : ""}`;
      const key = takeShareWait(sid);
      if (key) feedback(key, text, "ok");
      toast(`${text.split(":")[0]} (${sessionName(sid)})`, "ok");
      break;
    }
    case "share_failed": {
      const key = takeShareWait(sid);
      const text = `Not shared: ${message || "the box gave no reason"}`;
      if (key) feedback(key, text, "bad");
      else toast(text, "bad");
      break;
    }
    case "session_discarded":
      toast(`Discarded: ${sessionName(sid)}`, "ok");
      break;
    case "marker": {
      if (sid && typeof e.seconds === "number") {
        noteToldMarker(sid, e.seconds, typeof e.label === "string" ? e.label : "");
        invalidateLists(); // the markers card is rebuilt at the next frame
      }
      const at = typeof e.seconds === "number" ? ` at ${clock(e.seconds)}` : "";
      toast(`Marker set${at}${e.label ? `: ${e.label}` : ""}`, "ok");
      break;
    }
    case "session_started":
      toast("Recording started", "ok");
      break;
    case "session_stopped":
      toast("Recording stopped", "ok");
      break;
    case "session_uploaded":
      toast("A session reached the cloud", "ok");
      break;
    case "session_verified":
      // rclone compared the copy with the box's files: from now on the box may free its own
      toast(`Checked in the cloud: ${sessionName(sid)}`, "ok");
      break;
    default:
      break;
  }
}
