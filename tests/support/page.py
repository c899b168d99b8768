"""Reading the migration report's HTML in tests: every element with its ancestors, enough to attribute a chart to a
pair (its Gantt row's data-target, its details' id)."""
import html.parser


class Elements(html.parser.HTMLParser):
    """``found``: (tag, attributes, [ancestors' attributes]) for every start tag; ``text``: the text pieces."""

    VOID = ('rect', 'line', 'polyline', 'circle', 'meta', 'br')

    def __init__(self):
        super().__init__()
        self.stack = []
        self.found = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.found.append((tag, attrs, [dict(a) for t, a in self.stack]))
        if tag not in self.VOID:
            self.stack.append((tag, attrs))

    def handle_endtag(self, tag):
        if any(open_tag == tag for open_tag, dummy in self.stack):
            while self.stack.pop()[0] != tag:
                pass

    def handle_data(self, data):
        self.text.append(data)


def parse(page):
    elements = Elements()
    elements.feed(page)
    return elements
