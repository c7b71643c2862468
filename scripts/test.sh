#!/usr/bin/env bash
# Runs every test: native `cargo test`, a sharded experiment on a local single-node Slurm
# (scripts/slurm-local.sh), the wasm tests in headless Chromium (wasm-bindgen-test) and the
# end-to-end tests of the built page (playwright-core driving Debian's Chromium). Installs
# what is missing; exits non-zero on any failure.
source "$(dirname "$0")/common.sh"
cd "$ROOT"

apt_install chromium chromium-driver mesa-vulkan-drivers libvulkan1
ensure_python
# Python's safetensors checks that the model files the CLI writes load elsewhere.
if ! python3 -c 'import safetensors, numpy' 2>/dev/null; then
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  say "installing safetensors and numpy for Python (pip)"
  python3 -m pip install --quiet safetensors numpy 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages safetensors numpy
fi
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
ensure_rust_wasm

say "native tests (cargo test)"
cargo test

say "a sharded experiment on a local single-node Slurm (job array + merge), against an unsharded run"
OVERTRAIN_BIN="$TARGET_DIR/debug/overtrain" "$ROOT/scripts/slurm-local.sh" 3

say "wasm tests in headless Chromium (wasm-bindgen-test)"
WASM_BINDGEN_TEST_TIMEOUT=900 \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
CHROMEDRIVER=/usr/bin/chromedriver \
  cargo test --target wasm32-unknown-unknown --test web

build_site

# The wasm's size budgets (README, "Size"; issue 23's targets): the test fails when the wasm,
# as the site sends it, grows past 400 KB gzipped (Zopfli's .gz) or 330 KB with Brotli.
WASM_GZIP_BUDGET=400000
WASM_BROTLI_BUDGET=330000
gz=$(wc -c < "$ROOT/dist/www/pkg/overtrain_bg.wasm.gz")
br=$(wc -c < "$ROOT/dist/www/pkg/overtrain_bg.wasm.br")
[ "$gz" -le "$WASM_GZIP_BUDGET" ] \
  || die "the wasm is $gz bytes gzipped, over its budget of $WASM_GZIP_BUDGET bytes (README, Size)"
[ "$br" -le "$WASM_BROTLI_BUDGET" ] \
  || die "the wasm is $br bytes with Brotli, over its budget of $WASM_BROTLI_BUDGET bytes (README, Size)"
say "the wasm is $gz bytes gzipped, $br with Brotli (budgets $WASM_GZIP_BUDGET and $WASM_BROTLI_BUDGET)"

say "end-to-end tests of the page in headless Chromium"
(cd tests/e2e && npm ci --no-audit --no-fund --silent)
# The cross-check test runs the CLI that `cargo test` built. Each test is bounded by its
# own timeout (tests/e2e/bounded.mjs): a hung test fails with its name and the rest run.
OVERTRAIN_BIN="$TARGET_DIR/debug/overtrain" node --test --test-concurrency=1 tests/e2e/
