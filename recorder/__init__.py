"""Session Recorder: a headless appliance that records in-person sessions and never loses one."""

__version__ = "0.1.0"
