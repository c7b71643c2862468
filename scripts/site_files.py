"""The last steps of build_site (scripts/common.sh) over the built site in dist/.

  python3 scripts/site_files.py service-worker DIST TEMPLATE
      Writes DIST/sw.js from TEMPLATE (www/sw.js): the list of the site's files to precache
      and the build's version, a hash of every file's path and bytes, so that any change
      to the site is a new version (and only a change is).
  python3 scripts/site_files.py precompress DIST
      Writes FILE.gz (gzip by Zopfli, the `zopfli` command) and FILE.br (Brotli, quality
      11; the `brotli` command) beside every text file and the wasm, for scripts/serve.py
      (and any static host that serves precompressed files) to send with Content-Encoding.
"""
import hashlib
import json
import os
import subprocess
import sys

COMPRESSED = (".br", ".gz")
COMPRESSIBLE = (".html", ".js", ".css", ".json", ".wasm", ".svg", ".webmanifest")


def site_files(dist):
    """The site's files, relative to dist, sorted; without precompressed copies and sw.js."""
    out = []
    for folder, _, names in os.walk(dist):
        for name in names:
            rel = os.path.relpath(os.path.join(folder, name), dist).replace(os.sep, "/")
            if rel != "sw.js" and not rel.endswith(COMPRESSED):
                out.append(rel)
    return sorted(out)


def service_worker(dist, template):
    files = site_files(dist)
    digest = hashlib.sha256()
    for rel in files:
        digest.update(rel.encode() + b"\0")
        with open(os.path.join(dist, rel), "rb") as f:
            digest.update(f.read())
    with open(template, encoding="utf-8") as f:
        source = f.read()
    for placeholder in ("'__BUILD_VERSION__'", "__BUILD_FILES__"):
        if placeholder not in source:
            sys.exit(f"site_files.py: {template} has no {placeholder}")
    # The page itself is "index.html"; "./" (the folder's address) is the same document.
    source = source.replace("'__BUILD_VERSION__'", json.dumps(digest.hexdigest()[:16]))
    source = source.replace("__BUILD_FILES__", json.dumps(files, indent=0))
    with open(os.path.join(dist, "sw.js"), "w", encoding="utf-8") as f:
        f.write(source)


def precompress(dist):
    targets = [
        os.path.join(dist, rel) for rel in site_files(dist) + ["sw.js"] if rel.endswith(COMPRESSIBLE)
    ]
    # Zopfli writes gzip that any gzip reader reads, 4 % smaller than gzip -9 for the wasm
    # (README, "Size"), at a second or two per megabyte; the same bytes give the same .gz.
    subprocess.run(["zopfli", "--gzip", "--"] + targets, check=True)
    subprocess.run(["brotli", "--quality=11", "--keep", "--force", "--"] + targets, check=True)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "service-worker":
        service_worker(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "precompress":
        precompress(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
