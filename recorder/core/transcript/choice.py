"""Which speech engine builds a transcript, and why (pure: what was found is passed in).

`[transcript] engine = "auto"` (the default) takes whisper where its model is there and sound
and the box has the memory for it, else pocketsphinx; the reason goes to `doctor`, the state
and the transcript's own record, so a coach can see why the words are what they are.
"""

from __future__ import annotations

from dataclasses import dataclass

# The whisper worker peaked at 259-342 MB (tiny.en, int8, one thread; 342 MB on an 88-s
# two-voice session on x86-64), pocketsphinx's at 165 MB. A 1 GB board (a Pi 3, a Pi 4 1 GB:
# MemTotal about 900 MiB after the firmware's share) keeps over 500 MiB for the OS and the
# recorder beside it; on a 512 MB board (a Zero 2 W: MemTotal about 430 MiB) the worker alone
# would take most of it, with a session recording.
MIN_MEMORY_MIB = 768


@dataclass(frozen=True)
class EngineChoice:
    """The engine to load, the whisper model folder it loads (None: none), and why; `error`
    when the engine asked for by name cannot be used (the transcript fails with it)."""

    engine: str
    model_dir: str | None
    reason: str
    error: str | None = None


def choose_engine(
    configured: str, model_dir: str | None, model_problem: str | None, mem_total_mib: int | None
) -> EngineChoice:
    """`configured` is [transcript] engine; `model_dir` the whisper model folder found (the
    config's or the bundled one), `model_problem` what is wrong with it (None: sound);
    `mem_total_mib` the box's MemTotal (None: unknown, taken as enough)."""
    if configured == "pocketsphinx":
        return EngineChoice("pocketsphinx", None, '[transcript] engine = "pocketsphinx"')
    if configured == "whisper":  # asked for by name: a broken model is an error, not a fallback
        problem = model_problem or (None if model_dir else "no whisper model on the box")
        return EngineChoice("whisper", model_dir, '[transcript] engine = "whisper"', problem)
    if model_problem is not None or model_dir is None:
        return EngineChoice(
            "pocketsphinx", None, f"auto: {model_problem or 'no whisper model on the box'}"
        )
    if mem_total_mib is not None and mem_total_mib < MIN_MEMORY_MIB:
        return EngineChoice(
            "pocketsphinx",
            None,
            f"auto: {mem_total_mib} MiB of memory is under the {MIN_MEMORY_MIB} MiB whisper needs",
        )
    memory = "memory unknown" if mem_total_mib is None else f"{mem_total_mib} MiB of memory"
    return EngineChoice("whisper", model_dir, f"auto: whisper's model is in place, {memory}")
