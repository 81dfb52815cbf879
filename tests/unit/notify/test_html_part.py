"""The HTML part of a mail (services/notify/templates.to_html): a reader of the HTML gets back
exactly the words of the text part, paragraph by paragraph, and nothing a customer typed
becomes markup."""

from __future__ import annotations

from html.parser import HTMLParser

from hypothesis import example, given
from hypothesis import strategies as st

from services.notify.templates import to_html

text = st.text(st.characters(blacklist_categories=["Cs", "Cc"]) | st.sampled_from("\n<>&\"'"), max_size=300)


class Reader(HTMLParser):
    """What a mail client shows: the title, and the paragraphs' lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.title = ""
        self.paragraphs: list[list[str]] = []
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "p":
            self.paragraphs.append([""])
        elif tag == "br":
            self.paragraphs[-1].append("")
        if tag not in ("br", "meta"):
            self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self._in and self._in[-1] == tag, f"</{tag}> closes {self._in}"
        self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "title":
            self.title += data
        elif self._in and self._in[-1] == "p":
            self.paragraphs[-1][-1] += data
        else:
            assert not data.strip(), f"text outside a paragraph: {data!r}"


@given(subject=text, body=text)
@example(subject="<script>alert(1)</script>", body="Hola & adiós\n\n<b>no</b> es negrita\nsegunda línea")
@example(subject="", body="\n\n\n")
def test_the_html_part_says_the_same_words_and_adds_no_markup(subject: str, body: str) -> None:
    reader = Reader()
    reader.feed(to_html(subject, body))
    reader.close()
    assert reader.title == subject
    assert reader.paragraphs == [p.split("\n") for p in body.strip().split("\n\n")]
    assert set(reader.tags) <= {"html", "head", "meta", "title", "body", "p", "br"}
