"""Offline detection of instructions injected into stored memories (issue 20).

``assess(text)`` returns a :class:`~tmem.models.RiskAssessment`: whether the text looks like an
instruction aimed at the model that will later read it as evidence, and the signs (reason codes
with character spans) that say so. It uses no model and never alters the text.
"""

from __future__ import annotations

from tmem.safety.detect import DETECTOR_ID, assess

__all__ = ["DETECTOR_ID", "assess"]
