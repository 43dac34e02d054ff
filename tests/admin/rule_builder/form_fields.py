"""The fields a browser submits for a form's HTML (WHATWG form submission, the parts the builder uses): inputs other
than buttons and unchecked boxes, each select's selected option (else its first), textareas. In document order."""

from __future__ import annotations

from html.parser import HTMLParser


class _Fields(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fields: list[tuple[str, str]] = []
        self._select: tuple[str, list[tuple[str, bool]]] | None = None
        self._option: list[str] | None = None
        self._option_attrs: dict[str, str | None] = {}
        self._textarea: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        name = found.get("name")
        if tag == "input" and name is not None:
            kind = (found.get("type") or "text").lower()
            if kind in ("submit", "button", "reset", "image"):
                return
            if kind in ("checkbox", "radio") and "checked" not in found:
                return
            self.fields.append((name, found.get("value") or ("on" if kind in ("checkbox", "radio") else "")))
        elif tag == "select" and name is not None:
            self._select = (name, [])
        elif tag == "option" and self._select is not None:
            self._option, self._option_attrs = [], found
        elif tag == "textarea" and name is not None:
            self._textarea = (name, [])

    def handle_data(self, data: str) -> None:
        if self._option is not None:
            self._option.append(data)
        if self._textarea is not None:
            self._textarea[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "option" and self._select is not None and self._option is not None:
            value = self._option_attrs.get("value")
            self._select[1].append(
                (value if value is not None else "".join(self._option), "selected" in self._option_attrs)
            )
            self._option = None
        elif tag == "select" and self._select is not None:
            name, options = self._select
            chosen = [value for value, selected in options if selected] or [value for value, _ in options[:1]]
            self.fields.extend((name, value) for value in chosen[-1:])
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            text = "".join(self._textarea[1])
            self.fields.append((self._textarea[0], text[1:] if text.startswith("\n") else text))
            self._textarea = None


def form_fields(html: str) -> list[tuple[str, str]]:
    """The (name, value) pairs a browser would submit for the form fields in `html`."""
    parser = _Fields()
    parser.feed(html)
    parser.close()
    return parser.fields
