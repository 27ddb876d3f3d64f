"""Text a student controls, made inert before it goes into Markdown (``summary.md``, feedback).

Student code writes much of what the grader reports: exception messages, printed values, file
names, the names in a zip. Put raw into Markdown, a message with line breaks can start a
heading, a list item or a table row of its own: a fake "possible tampering" flag against another
student, or a fake pass rate. :func:`inline` is the one way such text enters Markdown here: it
becomes a single line in which every character that Markdown (CommonMark with GitHub's tables and
strike-through) or HTML could read as markup is escaped, so it renders as the very characters
the student wrote, inside the line the grader put it in.
"""

from __future__ import annotations

import re

#: Line and paragraph breaks of every kind (Markdown starts a block only after one), and the other
#: control characters, which render as nothing or break a line in some viewers.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
#: What CommonMark/GFM reads as inline markup once the text is one line that the grader starts:
#: escapes, code spans, emphasis, links and images, raw HTML and autolinks, entities, table cells,
#: strike-through.
_MARKUP = re.compile(r"([\\`*_\[\]<>&|~])")


def inline(text: object, limit: int | None = None) -> str:
    """``text`` as one line of Markdown that renders literally.

    Args:
        text: any value (it is converted with ``str``).
        limit: keep at most this many characters of the text (before escaping), marking a cut with
            an ellipsis.

    Returns:
        The text with every run of line breaks and control characters replaced by one space and
        every Markdown or HTML markup character backslash-escaped.
    """
    flat = _BREAKS.sub(" ", str(text)).strip()
    if limit is not None and len(flat) > limit:
        flat = flat[:limit].rstrip() + "..."
    return _MARKUP.sub(r"\\\1", flat)
