"""The answer pages in a real browser (Debian's Chromium, headless): maths drawn natively as MathML,
figures shown, nothing fetched from the network, no script, no content-security-policy violation.

``make setup`` installs Chromium when it runs as root on Debian or Ubuntu; elsewhere this test is
skipped and says so.
"""

from __future__ import annotations

import class_corpus
import grading_corpus as corpus
import pytest
from browser import Browser, chromium

from autograder.grading import answers

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(chromium() is None, reason="Chromium is not installed: `make setup` installs it as "
                                 "root on Debian/Ubuntu (apt-get install chromium); the answer pages are not checked "
                                 "in a browser")]

LOAD_IMAGES = """(async () => {  // the pages load figures lazily, as they scroll into view
  for (const image of document.images) {
    image.scrollIntoView();
    try { await image.decode(); } catch (error) { /* not loadable: CHECK reports it */ }
  }
})()"""

CHECK = """(() => {
  const maths = [...document.querySelectorAll('math')];
  const fracs = [...document.querySelectorAll('mfrac')].map(f => {
    const [num, den] = [...f.children].map(c => c.getBoundingClientRect());
    return {mathml: f instanceof MathMLElement, stacked: num.bottom <= den.top + 1,
            width: f.getBoundingClientRect().width};
  });
  const images = [...document.images].map(i => ({src: i.getAttribute('src'),
                                                 loaded: i.complete && i.naturalWidth > 0}));
  return {maths: maths.length, drawn: maths.filter(m => m.getBoundingClientRect().height > 0).length, fracs, images,
          scripts: document.scripts.length, text: document.body.innerText};
})()"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    grades = tmp_path_factory.mktemp("grades")
    class_corpus.small_class(grades)
    answers.build(grades)
    return grades / "answers"


@pytest.fixture(scope="module")
def browser():
    with Browser() as b:
        yield b


def test_maths_is_drawn_natively_and_figures_load_offline(pages, browser, tmp_path):
    page = pages / corpus.NAME / "q_rotation.html"
    browser.open(page.as_uri())
    browser.evaluate(LOAD_IMAGES)
    browser.evaluate("window.scrollTo(0, 0)")
    seen = browser.evaluate(CHECK)
    (tmp_path / "q_rotation.png").write_bytes(browser.screenshot())  # to look at: pytest --basetemp=DIR
    assert seen["maths"] >= 3 and seen["drawn"] == seen["maths"]
    assert seen["fracs"] and all(f["mathml"] and f["stacked"] and f["width"] > 0 for f in seen["fracs"]), seen["fracs"]
    assert seen["scripts"] == 0
    assert "<script>alert('xss')</script>" in seen["text"]  # shown as text, never run
    urls = browser.requested_urls()
    assert urls and all(u.startswith(("file://", "data:")) for u in urls), urls
    assert not [m for m in browser.log_messages() if "Content Security Policy" in m], browser.log_messages()


def test_the_students_own_figures_are_shown(pages, browser):
    browser.open((pages / corpus.NAME / "q_label_efficiency.html").as_uri())
    browser.evaluate(LOAD_IMAGES)
    seen = browser.evaluate(CHECK)
    assert seen["images"] and all(i["loaded"] for i in seen["images"]), seen["images"]
    assert "rotation: 10 per class 31.2%" in seen["text"] and "GRADING-MODE" not in seen["text"]
    assert all(u.startswith(("file://", "data:")) for u in browser.requested_urls())


def test_the_index_links_every_question(pages, browser):
    browser.open((pages / "index.html").as_uri())
    links = browser.evaluate("[...document.links].map(a => a.href)")
    for q in ("q_random_init", "q_rotation", "q_jigsaw", "q_colorization", "q_label_efficiency"):
        assert any(link.endswith(f"/{corpus.NAME}/{q}.html") for link in links), q
