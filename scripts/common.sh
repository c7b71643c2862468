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

# The site's wasm is built by a pinned nightly: only it can rebuild std for size (build_site).
# The CLI, the tests and the wasm tests stay on stable.
SITE_TOOLCHAIN="nightly-2026-05-20"
ensure_site_toolchain() {
  if ! rustup "+$SITE_TOOLCHAIN" component list --installed 2>/dev/null | grep -q '^rust-src'; then
    say "installing Rust $SITE_TOOLCHAIN with rust-src (builds the site's wasm; once)"
    rustup toolchain install "$SITE_TOOLCHAIN" --profile minimal --component rust-src
  fi
}

ensure_python() {
  command -v python3 >/dev/null || apt_install python3
}

# Builds the site into dist/: index.html, www/ and the wasm module (release mode).
build_site() {
  ensure_rust_wasm
  apt_install brotli zopfli
  ensure_site_toolchain
  # The `site` profile (Cargo.toml): the CPU numerics (src/cpu) for speed, the rest for size.
  # With the pinned nightly (README, "Size"), std itself is compiled for size with the crate
  # (`-Zbuild-std`, std's `optimize_for_size`: rustup's prebuilt std is compiled for speed),
  # a panic's message keeps its text but not its source location (`-Zlocation-detail`:
  # every bounds check and `expect` would otherwise carry a file name, line and column), and
  # a derived `Debug` writes its type's or variant's name without the fields
  # (`-Zfmt-debug=shallow`: no message the page shows is made with it). `--config` adds to
  # .cargo/config.toml's flags (SIMD) rather than replacing them.
  say "building the wasm module (profile site, $SITE_TOOLCHAIN)"
  (cd "$ROOT" && cargo "+$SITE_TOOLCHAIN" build --profile site --target wasm32-unknown-unknown --lib \
    -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size \
    --config 'target.wasm32-unknown-unknown.rustflags = ["-Zlocation-detail=none", "-Zfmt-debug=shallow"]')
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
# training in the page by 14 %. Then the whole-program flow analysis (`--gufa`: values and
# functions it proves unused or constant) and -O3 again to clean up after it; the producers
# and target-features sections are only notes for tools.
optimize_wasm() {
  command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
  if ! grep -q "\"version\": \"$BINARYEN_VERSION\"" "$ROOT/scripts/site-tools/node_modules/binaryen/package.json" 2>/dev/null; then
    say "installing binaryen $BINARYEN_VERSION (wasm-opt; npm, once)"
    (cd "$ROOT/scripts/site-tools" && npm ci --no-audit --no-fund --silent)
  fi
  # The features rustc's wasm32 target emits; wasm-opt must keep, not lower, them.
  "$WASM_OPT" -O3 --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
    --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
    --gufa -O3 --strip-producers --strip-target-features "$1" -o "$1.opt"
  mv "$1.opt" "$1"
}
