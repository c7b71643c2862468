"""A static file server for the built site (dist/): explicit MIME types (.wasm must be
application/wasm for streaming compilation), no caching, loopback only, and the security
headers a static host should send (README, "Share, embed, teach"): the page's
Content-Security-Policy (read from the <meta> tag of the served index.html, so the two
never differ), X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer. No
X-Frame-Options or frame-ancestors: the page is meant to be embedded in iframes.
Precompressed files: for FILE, a FILE.br or FILE.gz beside it (build_site writes them) is
sent instead, with Content-Encoding: br or gzip, to a browser that accepts it.

usage: python3 scripts/serve.py --dir dist [--port 8080] [--quiet]
--port 0 picks a free port; the first line printed is always "Serving overtrain at URL".
"""
import argparse
import functools
import html
import http.server
import os
import re
import sys

META_CSP = re.compile(
    r'<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]*)"', re.IGNORECASE)


def page_csp(directory):
    """The Content-Security-Policy of the <meta> tag in directory/index.html."""
    with open(os.path.join(directory, "index.html"), encoding="utf-8") as f:
        m = META_CSP.search(f.read())
    if not m:
        sys.exit(f"serve.py: no Content-Security-Policy <meta> tag in {directory}/index.html")
    return " ".join(html.unescape(m.group(1)).split())


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".json": "application/json",
        ".svg": "image/svg+xml",
        ".css": "text/css",
        ".html": "text/html; charset=utf-8",
        ".webmanifest": "application/manifest+json",
    }
    quiet = False
    csp = None

    # Brotli first: it is the smaller of the two.
    ENCODINGS = (("br", ".br"), ("gzip", ".gz"))

    def send_head(self):
        """The precompressed variant of the file when there is one and the browser accepts
        it: the file's own type, Content-Encoding and Vary: Accept-Encoding."""
        path = self.translate_path(self.path)
        if os.path.isdir(path):
            path = os.path.join(path, "index.html")
        accepted = {e.split(";")[0].strip() for e in self.headers.get("Accept-Encoding", "").split(",")}
        for encoding, suffix in self.ENCODINGS:
            if encoding in accepted and os.path.isfile(path + suffix) and os.path.isfile(path):
                try:
                    f = open(path + suffix, "rb")
                except OSError:
                    break
                self.send_response(200)
                self.send_header("Content-Type", self.guess_type(path))
                self.send_header("Content-Encoding", encoding)
                self.send_header("Content-Length", str(os.fstat(f.fileno()).st_size))
                self.send_header("Vary", "Accept-Encoding")
                self.end_headers()
                return f
        return super().send_head()

    def end_headers(self):
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Security-Policy", self.csp)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        super().end_headers()

    def log_message(self, fmt, *args):
        if not self.quiet:
            super().log_message(fmt, *args)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args()
    Handler.quiet = a.quiet
    Handler.csp = page_csp(a.dir)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), functools.partial(Handler, directory=a.dir))
    print(f"Serving overtrain at http://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
