"""The fleet table: one line per box under a prefix, from their retained MQTT messages."""

from __future__ import annotations


def format_fleet(boxes: dict[str, dict], prefix: str) -> str:
    """`boxes` maps a device id to {"availability": str, "state": dict | None}."""
    if not boxes:
        return f"no boxes under {prefix}/ yet"
    head = f"{'box':<18} {'online':<7} {'state':<11} {'elapsed':>8} {'queue':>5}  warnings / error"
    lines = [head]
    for device in sorted(boxes):
        box = boxes[device]
        s = box.get("state") or {}
        online = box.get("availability") == "online"
        elapsed = s.get("elapsed_s") or 0
        upload = s.get("upload") or {}
        notes = [w.get("message", "") for w in s.get("warnings") or []]
        if s.get("last_error"):
            notes.append(s["last_error"])
        state = s.get("state", "?") if online else "offline"
        lines.append(
            f"{device:<18} {'yes' if online else 'no':<7} {state:<11} "
            f"{int(elapsed // 60):>4}:{int(elapsed % 60):02d} {upload.get('queue', 0):>5}  "
            f"{'; '.join(notes) or '-'}"
        )
    return "\n".join(lines)
