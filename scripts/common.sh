# Shared set-up for scripts/serve.sh and scripts/test.sh: installs what is missing.
# Sourced, not run. Every step is idempotent and quiet when there is nothing to do.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Cargo's output folder, where every script finds what cargo built: CARGO_TARGET_DIR when
# set, else target/. A relative CARGO_TARGET_DIR is taken from the caller's folder and made
# absolute here (and exported so), since the scripts run cargo from $ROOT.
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in
  /*) ;;
  *) TARGET_DIR="$PWD/$TARGET_DIR" ;;
esac
if [ -n "${CARGO_TARGET_DIR:-}" ]; then export CARGO_TARGET_DIR="$TARGET_DIR"; fi
# Must equal the `wasm-bindgen = "=…"` pin in Cargo.toml: the CLI refuses other versions.
WASM_BINDGEN_VERSION="0.2.130"
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# apt_install PKG... : installs Debian packages when root; otherwise says what to install.
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]} (apt-get)"
    # Only the first install of a session refreshes the package lists.
    if [ -z "${OVERTRAIN_APT_UPDATED:-}" ]; then
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      export OVERTRAIN_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    die "missing packages: ${missing[*]}. Install them with: sudo apt-get install ${missing[*]}"
  fi
}

ensure_rust_wasm() {
  command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs)"
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
    say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
    # No --locked: a registry mirror may lack the exact versions of its lock file.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  fi
}

ensure_python() {
  command -v python3 >/dev/null || apt_install python3
}

# Builds the site into dist/: index.html, www/ and the wasm module (release mode).
build_site() {
  ensure_rust_wasm
  apt_install brotli
  # The `site` profile (Cargo.toml): the CPU numerics (src/cpu) for speed, the rest for size.
  say "building the wasm module (profile site)"
  (cd "$ROOT" && cargo build --profile site --target wasm32-unknown-unknown --lib)
  rm -rf "$ROOT/dist"
  mkdir -p "$ROOT/dist"
  cp "$ROOT/index.html" "$ROOT/dist/"
  cp -r "$ROOT/www" "$ROOT/dist/www"
  rm -rf "$ROOT/dist/www/pkg"
  # The recorded preset runs (docs/results/NAME/results.json), drawn as reference curves;
  # without `raw` (every step's loss, for resuming; a sweep's sections too), which the page
  # does not draw.
  mkdir -p "$ROOT/dist/www/recorded"
  local names=()
  for f in "$ROOT"/docs/results/*/results.json; do
    local name
    name=$(basename "$(dirname "$f")")
    python3 -c 'import json, sys
r = json.load(open(sys.argv[1])); r.pop("raw", None)
for s in (r.get("sweep") or {}).get("sections", []): s.pop("raw", None)
json.dump(r, open(sys.argv[2], "w"), separators=(",", ":"))' "$f" "$ROOT/dist/www/recorded/$name.json"
    names+=("\"$name\"")
  done
  (IFS=,; echo "[${names[*]}]") > "$ROOT/dist/www/recorded/index.json"
  wasm-bindgen --target web --no-typescript --out-dir "$ROOT/dist/www/pkg" \
    "$TARGET_DIR/wasm32-unknown-unknown/site/overtrain.wasm"
  optimize_wasm "$ROOT/dist/www/pkg/overtrain_bg.wasm"
  # The service worker serves the site's root, so it lives there (www/sw.js says why).
  rm "$ROOT/dist/www/sw.js"
  python3 "$ROOT/scripts/site_files.py" service-worker "$ROOT/dist" "$ROOT/www/sw.js"
  python3 "$ROOT/scripts/site_files.py" precompress "$ROOT/dist"
  say "site built in dist/ ($(du -sh --exclude='*.br' --exclude='*.gz' "$ROOT/dist" | cut -f1); wasm $(wc -c < "$ROOT/dist/www/pkg/overtrain_bg.wasm") bytes, gzip $(wc -c < "$ROOT/dist/www/pkg/overtrain_bg.wasm.gz"), brotli $(wc -c < "$ROOT/dist/www/pkg/overtrain_bg.wasm.br"))"
}

# Binaryen's wasm-opt, pinned in scripts/site-tools/package.json (npm; once).
BINARYEN_VERSION="132.0.0"
WASM_OPT="$ROOT/scripts/site-tools/node_modules/binaryen/bin/wasm-opt"

# optimize_wasm FILE: shrinks the module in place with wasm-opt -O3 (README, "Size"): as small
# as -Oz within 0.04 % gzipped, and as fast as wasm-bindgen's output, where -Oz slowed the CPU path's
# training in the page by 14 %.
optimize_wasm() {
  command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
  if ! grep -q "\"version\": \"$BINARYEN_VERSION\"" "$ROOT/scripts/site-tools/node_modules/binaryen/package.json" 2>/dev/null; then
    say "installing binaryen $BINARYEN_VERSION (wasm-opt; npm, once)"
    (cd "$ROOT/scripts/site-tools" && npm ci --no-audit --no-fund --silent)
  fi
  # The features rustc's wasm32 target emits; wasm-opt must keep, not lower, them.
  "$WASM_OPT" -O3 --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
    --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
    "$1" -o "$1.opt"
  mv "$1.opt" "$1"
}
