#!/usr/bin/env bash
# Builds the Lodestar web UI (the Leptos app in ui/) into ui/dist, which the engine serves at
# /ui/ (debug builds read it from disk; release builds embed it). One script for developers
# and CI; safe to run again: when nothing changed it only checks and returns.
#
#   ui/build.sh            build ui/dist
#
# Toolchain: rustup's, where it has (or can add) the wasm32-unknown-unknown target; else
# Debian's Rust packages (rustc-web & co, installed here when running as root), which build
# std for wasm32 themselves (-Zbuild-std). wasm-bindgen's CLI is installed, at the version
# ui/Cargo.toml pins, into a tools folder outside the repository.
#
# Environment:
#   LODESTAR_UI_TOOLS      where wasm-bindgen-cli goes (default ~/.cache/lodestar-ui-tools)
#   LODESTAR_UI_TARGET     cargo's target folder for the wasm build (default ui/target)
#   LODESTAR_UI_TOOLCHAIN  auto (default) | rustup | debian: force one path
#   LODESTAR_UI_WASM_OPT   auto (default: run wasm-opt if npm's binaryen is installed) | 1
#                          (install npm's binaryen if missing, and run it) | 0 (never)
#   LODESTAR_NPM_DIR       where npm packages go (default ~/.cache/lodestar-npm)
#
# wasm-opt comes only from the npm package `binaryen`: Debian's binaryen (wasm-opt 108)
# produces a wasm that fails in the browser.

set -euo pipefail

UI_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIST="$UI_DIR/dist"
TOOLS="${LODESTAR_UI_TOOLS:-$HOME/.cache/lodestar-ui-tools}"
NPM_DIR="${LODESTAR_NPM_DIR:-$HOME/.cache/lodestar-npm}"
MODE="${LODESTAR_UI_TOOLCHAIN:-auto}"
WASM_OPT_MODE="${LODESTAR_UI_WASM_OPT:-auto}"
TARGET=wasm32-unknown-unknown
CRATE=lodestar-ui
OUT_NAME=lodestar_ui
BINARYEN_VERSION=132.0.0
DEBIAN_PACKAGES=(rustc-web cargo-web rust-web-src rust-web-llvm lld-22)

started=$(date +%s%3N)
say() { printf 'ui/build.sh: %s\n' "$*" >&2; }
die() {
    printf 'ui/build.sh: error: %s\n' "$1" >&2
    shift
    for line in "$@"; do printf '  %s\n' "$line" >&2; done
    exit 1
}
elapsed() {
    local ms=$(($(date +%s%3N) - started))
    printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100))
}

# --- the wasm-bindgen version: the one ui/Cargo.toml pins ------------------------------------
BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen *= *"=\([0-9][0-9.]*\)".*/\1/p' "$UI_DIR/Cargo.toml" | head -n1)
[[ -n "$BINDGEN_VERSION" ]] || die "ui/Cargo.toml must pin wasm-bindgen exactly (wasm-bindgen = \"=X.Y.Z\")" \
    "the CLI this script installs must equal the library, or the built JS and wasm do not fit"

# --- choose the toolchain -------------------------------------------------------------------
rustup_has_wasm() {
    command -v rustup >/dev/null 2>&1 || return 1
    (cd "$UI_DIR" && rustup target list --installed 2>/dev/null | grep -qx "$TARGET") && return 0
    say "adding the $TARGET target to rustup's toolchain…"
    # Bounded: where rustup cannot reach its server, fall back to Debian instead of hanging.
    (cd "$UI_DIR" && timeout 180 rustup target add "$TARGET" >&2) && return 0
    return 1
}

debian_missing() {
    local missing=()
    for p in "${DEBIAN_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    echo "${missing[@]}"
}

ensure_debian() {
    command -v dpkg-query >/dev/null 2>&1 || die "no rustup with the $TARGET target, and this is not a Debian system" \
        "install rustup (https://rustup.rs) and run: rustup target add $TARGET"
    local missing
    missing=$(debian_missing)
    [[ -z "$missing" ]] && return 0
    if [[ "$(id -u)" != 0 ]]; then
        die "Debian's Rust packages for wasm are missing: $missing" \
            "run as root: apt-get install -y --no-install-recommends $missing" \
            "(or give rustup the target: rustup target add $TARGET)"
    fi
    say "installing Debian packages: $missing"
    # shellcheck disable=SC2086
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >&2; then
        DEBIAN_FRONTEND=noninteractive apt-get update >&2 || true
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >&2 ||
            die "apt-get could not install $missing" "see the messages above"
    fi
}

case "$MODE" in
    auto) if rustup_has_wasm; then PATH_KIND=rustup; else PATH_KIND=debian; fi ;;
    rustup) rustup_has_wasm || die "LODESTAR_UI_TOOLCHAIN=rustup, but rustup has no $TARGET target and could not add it"
        PATH_KIND=rustup ;;
    debian) PATH_KIND=debian ;;
    *) die "LODESTAR_UI_TOOLCHAIN must be auto, rustup or debian (not \`$MODE\`)" ;;
esac

if [[ "$PATH_KIND" == debian ]]; then
    ensure_debian
    # Debian's cargo and rustc first, for this build only: rustup's stable lacks a std source
    # that matches.
    export PATH="/usr/bin:$PATH"
    export RUSTC=/usr/bin/rustc
    unset RUSTUP_TOOLCHAIN
    export RUSTC_BOOTSTRAP=1
    CARGO=/usr/bin/cargo
    BUILD_FLAGS=(-Zbuild-std=std,panic_abort)
    # Its own target folder: switching toolchains does not throw the other's build away.
    TARGET_DIR="${LODESTAR_UI_TARGET:-$UI_DIR/target}/debian"
else
    CARGO=cargo
    BUILD_FLAGS=()
    TARGET_DIR="${LODESTAR_UI_TARGET:-$UI_DIR/target}"
fi
say "toolchain: $PATH_KIND ($("$CARGO" --version 2>/dev/null || echo "cargo?"))"

# --- wasm-bindgen-cli, at the pinned version --------------------------------------------------
BINDGEN="$TOOLS/bin/wasm-bindgen"
have_bindgen() { [[ -x "$BINDGEN" ]] && [[ "$("$BINDGEN" --version 2>/dev/null)" == "wasm-bindgen $BINDGEN_VERSION" ]]; }
if ! have_bindgen; then
    say "installing wasm-bindgen-cli $BINDGEN_VERSION into $TOOLS (a few minutes, once)…"
    mkdir -p "$TOOLS"
    # Not --locked: one of its locked dependencies is not in the registry reachable here.
    (cd "$TOOLS" && "$CARGO" install wasm-bindgen-cli --version "$BINDGEN_VERSION" --root "$TOOLS" --force >&2) ||
        die "could not install wasm-bindgen-cli $BINDGEN_VERSION" "see cargo's messages above"
    have_bindgen || die "$BINDGEN does not report version $BINDGEN_VERSION after installing it"
fi

# --- compile ----------------------------------------------------------------------------------
say "compiling for $TARGET (release)…"
(cd "$UI_DIR" && CARGO_TARGET_DIR="$TARGET_DIR" "$CARGO" build --release --target "$TARGET" --bin "$CRATE" "${BUILD_FLAGS[@]}" >&2) ||
    die "the UI did not compile (cargo's messages above)"
WASM_IN="$TARGET_DIR/$TARGET/release/$CRATE.wasm"
[[ -f "$WASM_IN" ]] || die "cargo finished but $WASM_IN is missing"

# --- wasm-opt (npm's binaryen only) -----------------------------------------------------------
WASM_OPT=""
NPM_WASM_OPT="$NPM_DIR/node_modules/binaryen/bin/wasm-opt"
case "$WASM_OPT_MODE" in
    0 | off | no) ;;
    1 | on | yes)
        if [[ ! -x "$NPM_WASM_OPT" ]]; then
            command -v npm >/dev/null 2>&1 || die "LODESTAR_UI_WASM_OPT=1 needs npm to install binaryen"
            say "installing binaryen@$BINARYEN_VERSION from npm into $NPM_DIR…"
            mkdir -p "$NPM_DIR"
            npm install --prefix "$NPM_DIR" --no-audit --no-fund "binaryen@$BINARYEN_VERSION" >&2 ||
                die "npm could not install binaryen"
        fi
        WASM_OPT="$NPM_WASM_OPT" ;;
    auto) [[ -x "$NPM_WASM_OPT" ]] && WASM_OPT="$NPM_WASM_OPT" ;;
    *) die "LODESTAR_UI_WASM_OPT must be auto, 1 or 0 (not \`$WASM_OPT_MODE\`)" ;;
esac

# --- bindgen + assets into dist, only when an input changed ------------------------------------
mkdir -p "$DIST"
stamp_of() {
    {
        sha256sum "$WASM_IN" | cut -d' ' -f1
        echo "wasm-bindgen $BINDGEN_VERSION --remove-name-section --remove-producers-section"
        echo "wasm-opt ${WASM_OPT:+$("$WASM_OPT" --version 2>/dev/null)}"
    } | sha256sum | cut -d' ' -f1
}
STAMP_FILE="$DIST/.build-stamp"
STAMP=$(stamp_of)
if [[ -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP" && -f "$DIST/${OUT_NAME}_bg.wasm" && -f "$DIST/$OUT_NAME.js" ]]; then
    say "wasm unchanged: kept dist/${OUT_NAME}_bg.wasm"
else
    mkdir -p "$TARGET_DIR"
    STAGE=$(mktemp -d "$TARGET_DIR/dist-stage.XXXXXX")
    trap 'rm -rf "$STAGE"' EXIT
    "$BINDGEN" --target web --no-typescript --remove-name-section --remove-producers-section \
        --out-dir "$STAGE" --out-name "$OUT_NAME" "$WASM_IN" ||
        die "wasm-bindgen failed on $WASM_IN"
    if [[ -n "$WASM_OPT" ]]; then
        say "wasm-opt -Oz ($("$WASM_OPT" --version 2>/dev/null))…"
        "$WASM_OPT" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
            --enable-mutable-globals --enable-reference-types --enable-multivalue \
            "$STAGE/${OUT_NAME}_bg.wasm" -o "$STAGE/${OUT_NAME}_bg.opt.wasm" ||
            die "wasm-opt failed" "run again with LODESTAR_UI_WASM_OPT=0 to skip it"
        mv "$STAGE/${OUT_NAME}_bg.opt.wasm" "$STAGE/${OUT_NAME}_bg.wasm"
    fi
    mv -f "$STAGE/$OUT_NAME.js" "$DIST/$OUT_NAME.js"
    mv -f "$STAGE/${OUT_NAME}_bg.wasm" "$DIST/${OUT_NAME}_bg.wasm"
    echo "$STAMP" >"$STAMP_FILE"
fi
for f in index.html style.css; do
    cmp -s "$UI_DIR/static/$f" "$DIST/$f" 2>/dev/null || cp "$UI_DIR/static/$f" "$DIST/$f"
done
# Files an older build left that this one did not make.
find "$DIST" -maxdepth 1 -type f ! -name index.html ! -name style.css ! -name "$OUT_NAME.js" \
    ! -name "${OUT_NAME}_bg.wasm" ! -name .build-stamp -delete

raw=$(stat -c %s "$DIST/${OUT_NAME}_bg.wasm")
gz=$(gzip -9 -c "$DIST/${OUT_NAME}_bg.wasm" | wc -c)
say "built ui/dist in $(elapsed): ${OUT_NAME}_bg.wasm $((raw / 1024)) KiB, $((gz / 1024)) KiB gzipped${WASM_OPT:+ (wasm-opt)}"
