"""Turn a markdown summary (tables of scores beside the published numbers) into a self-contained HTML page, which
the Snakemake report shows inline (it only offers other text files as downloads).

    python -m hepgraph.stages.report_page --input results/gan/runs.md --output results/gan/runs.html
"""

from __future__ import annotations

import argparse
import html
import logging
from pathlib import Path

import markdown

from hepgraph.io import atomic_output

log = logging.getLogger("hepgraph.report_page")

STYLE = """
body { font-family: system-ui, sans-serif; font-size: 14px; margin: 1em 2em; color: #222; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; }
td:first-child, th:first-child { text-align: left; }
code { background: #f5f5f5; padding: 0 0.2em; }
"""


def markdown_page(text: str, title: str) -> str:
    """A complete HTML document of the markdown ``text`` (GitHub-style tables included)."""
    body = markdown.markdown(text, extensions=["tables", "fenced_code"], output_format="html")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="markdown file")
    parser.add_argument("--output", required=True, help="HTML file to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    source = Path(args.input)
    page = markdown_page(source.read_text(), title=source.stem)
    with atomic_output(args.output) as tmp:
        tmp.write_text(page)
    log.info("wrote %s", args.output)


if __name__ == "__main__":
    main()
