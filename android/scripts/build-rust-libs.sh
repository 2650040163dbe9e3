#!/usr/bin/env bash
# Builds liboutreach_ffi.so for the Android ABIs and generates the Kotlin bindings, placing
# both where the Gradle build expects them:
#   app/src/main/jniLibs/{arm64-v8a,armeabi-v7a,x86_64}/liboutreach_ffi.so   (stripped)
#   logic/src/generated/kotlin/uniffi/outreach_ffi/outreach_ffi.kt
#
# Needs (developer machine; NOT available where this repository is tested, so this script has
# not been run there):
#   - Android NDK (r28 recommended; set ANDROID_NDK_HOME, or ANDROID_HOME/ndk/<version>)
#   - cargo-ndk:     cargo install cargo-ndk --version ^3
#   - rustup targets: rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
#
# Usage: android/scripts/build-rust-libs.sh [--debug]     (release by default)
set -euo pipefail
# OUTREACH_FFI_FEATURES: cargo features for outreach-ffi. Default `vendored-openssl`: SQLCipher
# needs libcrypto and the phone has none, so OpenSSL is built from source for each target.
features=(--features "${OUTREACH_FFI_FEATURES:-vendored-openssl}")

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ANDROID_DIR="$(dirname "$HERE")"
REPO="$(dirname "$ANDROID_DIR")"
PROFILE=release
[ "${1:-}" = "--debug" ] && PROFILE=debug
API=26   # minSdk in app/build.gradle.kts

command -v cargo-ndk >/dev/null || { echo "cargo-ndk missing: cargo install cargo-ndk" >&2; exit 1; }
if [ -z "${ANDROID_NDK_HOME:-}" ] && [ -n "${ANDROID_HOME:-}" ] && [ -d "$ANDROID_HOME/ndk" ]; then
    ANDROID_NDK_HOME="$ANDROID_HOME/ndk/$(ls "$ANDROID_HOME/ndk" | sort -V | tail -1)"
    export ANDROID_NDK_HOME
fi
[ -n "${ANDROID_NDK_HOME:-}" ] || { echo "set ANDROID_NDK_HOME (or ANDROID_HOME with an ndk/ dir)" >&2; exit 1; }

# 16 KB pages (Android 15+): align the ELF segments whatever the NDK's default.
export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,-z,max-page-size=16384"

JNILIBS="$ANDROID_DIR/app/src/main/jniLibs"
rm -rf "$JNILIBS"
cd "$REPO"
release_flag=()
[ "$PROFILE" = release ] && release_flag=(--release)
# cargo-ndk names outputs by ABI and copies the .so into $JNILIBS/<abi>/.
cargo ndk --platform "$API" \
    -t arm64-v8a -t armeabi-v7a -t x86_64 \
    -o "$JNILIBS" \
    build -p outreach-ffi --lib "${release_flag[@]}" ${features[@]+"${features[@]}"}

# Bindings come from the UNSTRIPPED library (uniffi metadata); any ABI's build will do.
UNSTRIPPED="$REPO/target/aarch64-linux-android/$PROFILE/liboutreach_ffi.so"
cargo build --locked --manifest-path bindings/uniffi-bindgen/Cargo.toml --target-dir target/uniffi-bindgen
OUT="$ANDROID_DIR/logic/src/generated/kotlin"
rm -rf "$OUT"
target/uniffi-bindgen/debug/uniffi-bindgen generate "$UNSTRIPPED" --language kotlin --no-format --out-dir "$OUT"

# Strip what goes into the APK (symbols are kept in target/ for crash symbolication).
STRIP="$(ls -d "$ANDROID_NDK_HOME"/toolchains/llvm/prebuilt/*/bin/llvm-strip | head -1)"
for so in "$JNILIBS"/*/liboutreach_ffi.so; do
    "$STRIP" --strip-unneeded "$so"
    # Check the alignment: every LOAD segment must be aligned to 2**14 or more.
    READELF="$(dirname "$STRIP")/llvm-readelf"
    if [ -x "$READELF" ]; then
        for align in $("$READELF" -lW "$so" | awk '$1 == "LOAD" { print $NF }'); do
            if (( align < 16384 )); then
                echo "error: $so has a LOAD segment aligned to $align (< 16 KB)" >&2; exit 1
            fi
        done
        echo "ok: $so is 16 KB aligned"
    fi
done
echo "placed: $(ls "$JNILIBS"/*/liboutreach_ffi.so | tr '\n' ' ')"
echo "bindings: $OUT/uniffi/outreach_ffi/outreach_ffi.kt"
