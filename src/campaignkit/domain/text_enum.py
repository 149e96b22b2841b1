"""The base of campaignkit's enumerations: members whose repr names them briefly.

A plain ``str`` enum shows ``<ExclusionReason.NO_CONSENT: 'no_consent'>`` in a
list, a dict or a notebook cell; a :class:`TextEnum` shows
``ExclusionReason.NO_CONSENT`` (valid Python once the class is imported, and
still telling a member from a plain string). ``str()`` and f-strings give the
value, as before.
"""

from __future__ import annotations

import enum


class TextEnum(str, enum.Enum):
    """A ``str`` enumeration whose repr is ``ClassName.MEMBER``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"
