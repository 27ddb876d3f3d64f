"""Student Markdown and LaTeX as safe, self-contained HTML: the maths as MathML, drawn by the browser.

Everything here renders text that students wrote (answers) or that their notebook printed
(outputs), into pages that the instructor opens. So:

* **Markdown** is parsed by markdown-it-py (CommonMark, plus tables and strikethrough) with raw
  HTML off: a ``<script>`` in an answer is shown as text. Links keep markdown-it's check (no
  ``javascript:``/``data:`` links) and open nothing by themselves; images are shown only when
  they are attachments of the cell itself (PNG, JPEG or GIF, embedded as ``data:`` URIs), never
  fetched from elsewhere.
* **LaTeX** between ``$...$`` (inline) or ``$$...$$`` (display) is converted on the server to
  MathML by latex2mathml (pure Python, MIT), which every current browser draws natively
  (MathML Core): no MathJax, no CDN, the page works offline. latex2mathml neither escapes the
  text it copies (``\\text{<b>}``) nor drops ``\\href`` targets, so its element tree is
  re-serialised here through an allow-list of MathML elements and attributes, every text
  escaped. LaTeX it cannot convert is shown as code.
* **Outputs** of code cells: plain text (``text/plain``, streams, one-line errors) is escaped
  into ``<pre>``; ``text/markdown`` goes through the Markdown path above; PNG, JPEG and GIF
  images are kept (their bytes are checked to be one of those formats); HTML, JavaScript and
  SVG outputs are never copied into a page (shown as their ``text/plain`` alternative).

The pages also carry a Content-Security-Policy that allows no script and no request outside
the page's own folder (:data:`CONTENT_SECURITY_POLICY`): escaping is the defence, the policy
a second one.

* **Markdown the grader writes** (``summary.md``, the feedback's summary cell) quotes text that
  student code controls: exception messages, printed values, file names, the names in a zip.
  Put raw into Markdown, a message with line breaks can start a heading, a list item or a table
  row of its own: a fake "possible tampering" flag against another student, or a fake pass rate.
  :func:`inline` is the one way such text enters Markdown: one line in which every character
  that Markdown (CommonMark with GitHub's tables and strike-through) or HTML could read as markup
  is escaped, so it renders as the very characters the student wrote.
"""

from __future__ import annotations

import base64
import binascii
import functools
import html
import re
from xml.etree.ElementTree import Element

#: Nothing runs, nothing is fetched from the network: images from the page's folder or data: URIs.
CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
                           "base-uri 'none'; form-action 'none'")

_MATHML_TAGS = frozenset("""math mrow mi mn mo ms mtext mspace mfrac msqrt mroot msub msup msubsup munder mover
    munderover mtable mtr mtd mstyle mpadded mphantom menclose merror mmultiscripts mprescripts none semantics
    annotation mlabeledtr maligngroup malignmark mfenced""".split())
_MATHML_ATTRIBUTES = frozenset("""display mathvariant stretchy fence separator lspace rspace columnalign rowalign
    rowspacing columnspacing linethickness accent accentunder movablelimits minsize maxsize width height depth
    symmetric largeop form notation columnlines rowlines frame scriptlevel displaystyle open close separators
    voffset framespacing equalrows equalcolumns""".split())
_SAFE_VALUE = re.compile(r"^[\w .,:%#+\-]*$")
_ENTITY = re.compile(r"&#x([0-9a-fA-F]{1,6});")
_IMAGE_TYPES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff", "image/gif": b"GIF8"}


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


def escape(text) -> str:
    """``text`` as HTML text or attribute value (quotes included)."""
    return html.escape(str(text), quote=True)


# ---------------------------------------------------------------------------- maths
def _math_text(text: str | None) -> str:
    if not text:
        return ""
    decoded = _ENTITY.sub(lambda m: chr(int(m.group(1), 16)) if int(m.group(1), 16) <= 0x10FFFF else "", text)
    return escape(decoded)


def _serialise(element: Element, out: list[str]) -> None:
    tag = element.tag.rsplit("}", 1)[-1]
    known = tag in _MATHML_TAGS
    if known:
        attributes = "".join(f' {k}="{escape(v)}"' for k, v in sorted(element.attrib.items())
                             if k in _MATHML_ATTRIBUTES and _SAFE_VALUE.match(str(v)))
        if tag == "math":
            attributes = ' xmlns="http://www.w3.org/1998/Math/MathML"' + attributes
        out.append(f"<{tag}{attributes}>")
    out.append(_math_text(element.text))
    for child in element:
        _serialise(child, out)
        out.append(_math_text(child.tail))
    if known:
        out.append(f"</{tag}>")


@functools.lru_cache(maxsize=4096)
def latex_to_mathml(latex: str, display: bool = False) -> str:
    """MathML for ``latex`` (allow-listed elements and attributes, escaped text); on failure, the
    LaTeX as escaped code with a class that says so."""
    from latex2mathml.converter import convert_to_element

    try:
        element = convert_to_element(latex, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - latex2mathml raises many kinds of error on bad input
        tag = "pre" if display else "code"
        return f'<{tag} class="latex-error" title="LaTeX that could not be converted">{escape(latex)}</{tag}>'
    out: list[str] = []
    _serialise(element, out)
    return "".join(out)


# ---------------------------------------------------------------------------- markdown
def image_bytes(mime: str, data) -> bytes | None:
    """The bytes of base64 image ``data`` if ``mime`` is an allowed type and the bytes are of that type."""
    if mime not in _IMAGE_TYPES:
        return None
    if isinstance(data, list):
        data = "".join(data)
    try:
        raw = base64.b64decode(str(data), validate=False)
    except (binascii.Error, ValueError):
        return None
    return raw if raw.startswith(_IMAGE_TYPES[mime]) else None


def data_uri(mime: str, raw: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


@functools.lru_cache(maxsize=1)
def _parser():
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    dollarmath_plugin(md, allow_labels=False, allow_space=True, allow_digits=False, double_inline=True)

    def math(display: bool, tag: str):
        def render(self, tokens, idx, options, env):
            css = "math display" if display else "math inline"
            return f'<{tag} class="{css}">{latex_to_mathml(tokens[idx].content, display)}</{tag}>' + \
                ("\n" if tag == "div" else "")
        return render

    md.add_render_rule("math_inline", math(False, "span"))
    md.add_render_rule("math_inline_double", math(True, "span"))  # $$...$$ inside a paragraph
    md.add_render_rule("math_block", math(True, "div"))

    def image(self, tokens, idx, options, env):
        token = tokens[idx]
        alt = "".join(child.content for child in (token.children or [])) or token.content
        src = str(token.attrGet("src") or "")
        attachments = env.get("attachments") or {}
        if src.startswith("attachment:"):
            bundle = attachments.get(src[len("attachment:"):], {})
            for mime, data in bundle.items():
                raw = image_bytes(mime, data)
                if raw:
                    return f'<img src="{escape(data_uri(mime, raw))}" alt="{escape(alt)}">'
        return f'<span class="image-omitted">[image not shown: {escape(alt or src)}]</span>'

    def link_open(self, tokens, idx, options, env):
        tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
        return self.renderToken(tokens, idx, options, env)

    md.add_render_rule("image", image)
    md.add_render_rule("link_open", link_open)
    return md


def markdown_to_html(text: str, attachments: dict | None = None) -> str:
    """Safe HTML of Markdown ``text`` with its maths as MathML (see the module's docstring)."""
    return _parser().render(str(text or ""), {"attachments": attachments or {}})


# ---------------------------------------------------------------------------- outputs
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _joined(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def output_to_html(output: dict, image_src=None, max_chars: int = 20_000) -> str:
    """One code-cell output of a notebook as safe HTML (text, Markdown or a checked image).

    Args:
        output: an nbformat output.
        image_src: ``(mime, bytes) -> URL`` of an image (for example a file written next to the
            page); by default the image is embedded as a ``data:`` URI.
        max_chars: text beyond this is cut.
    """
    kind = output.get("output_type")
    if kind == "stream":
        text = _ANSI.sub("", _joined(output.get("text")))
        css = "stderr" if output.get("name") == "stderr" else "stdout"
        return f'<pre class="{css}">{escape(text[:max_chars])}</pre>' if text.strip() else ""
    if kind == "error":
        text = _ANSI.sub("", f"{output.get('ename', '')}: {output.get('evalue', '')}")
        return f'<pre class="error">{escape(text)}</pre>'
    data = output.get("data") or {}
    for mime in _IMAGE_TYPES:
        if mime in data:
            raw = image_bytes(mime, data[mime])
            if raw:
                src = image_src(mime, raw) if image_src else data_uri(mime, raw)
                return (f'<img class="output" loading="lazy" src="{escape(src)}" '
                        'alt="a figure of the submitted notebook">')
    if "text/markdown" in data:
        return f'<div class="output-markdown">{markdown_to_html(_joined(data["text/markdown"])[:max_chars])}</div>'
    if "text/plain" in data:
        text = _ANSI.sub("", _joined(data["text/plain"]))
        if re.fullmatch(r"<(Figure|matplotlib\.\w+).*>", text.strip()):  # the repr next to a shown figure
            return ""
        return f"<pre>{escape(text[:max_chars])}</pre>"
    return ""
