#!/usr/bin/env bash
# Builds the Rust library for Apple platforms as an XCFramework and generates the Swift
# bindings into the OutreachKit package:
#   ios/OutreachKit/Frameworks/outreach_ffiFFI.xcframework   (static libs + header + modulemap)
#   ios/OutreachKit/Sources/OutreachFFI/outreach_ffi.swift
#
# Needs a Mac with Xcode 16+ (xcodebuild, lipo) and:
#   rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin
# Not run where this repository is tested (no Apple SDK there).
#
# Usage: ios/scripts/build-xcframework.sh [--debug]      (release by default)
set -euo pipefail
# OUTREACH_FFI_FEATURES: cargo features for outreach-ffi. Default `vendored-openssl`: SQLCipher
# needs libcrypto and the phone has none, so OpenSSL is built from source for each target.
features=(--features "${OUTREACH_FFI_FEATURES:-vendored-openssl}")

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IOS_DIR="$(dirname "$HERE")"
REPO="$(dirname "$IOS_DIR")"
KIT="$IOS_DIR/OutreachKit"
PROFILE=release
[ "${1:-}" = "--debug" ] && PROFILE=debug
flag=()
[ "$PROFILE" = release ] && flag=(--release)

cd "$REPO"
export IPHONEOS_DEPLOYMENT_TARGET=16.0 MACOSX_DEPLOYMENT_TARGET=13.0
for t in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin; do
    cargo build -p outreach-ffi --lib --target "$t" "${flag[@]}" ${features[@]+"${features[@]}"}
done

# Bindings from an unstripped build (the macOS dylib carries the uniffi metadata).
cargo build --locked --manifest-path bindings/uniffi-bindgen/Cargo.toml --target-dir target/uniffi-bindgen
GEN="$(mktemp -d)"
target/uniffi-bindgen/debug/uniffi-bindgen generate "target/aarch64-apple-darwin/$PROFILE/liboutreach_ffi.dylib" \
    --language swift --no-format --out-dir "$GEN"

# Headers dir: the C header + a modulemap named module.modulemap (what an XCFramework expects).
HEADERS="$GEN/headers"
mkdir -p "$HEADERS"
cp "$GEN/outreach_ffiFFI.h" "$HEADERS/"
cp "$GEN/outreach_ffiFFI.modulemap" "$HEADERS/module.modulemap"

# Fat libraries for the simulator and macOS slices.
FAT="$GEN/fat"
mkdir -p "$FAT/ios-sim" "$FAT/macos"
lipo -create "target/aarch64-apple-ios-sim/$PROFILE/liboutreach_ffi.a" "target/x86_64-apple-ios/$PROFILE/liboutreach_ffi.a" \
    -output "$FAT/ios-sim/liboutreach_ffi.a"
lipo -create "target/aarch64-apple-darwin/$PROFILE/liboutreach_ffi.a" "target/x86_64-apple-darwin/$PROFILE/liboutreach_ffi.a" \
    -output "$FAT/macos/liboutreach_ffi.a"

rm -rf "$KIT/Frameworks/outreach_ffiFFI.xcframework"
mkdir -p "$KIT/Frameworks"
xcodebuild -create-xcframework \
    -library "target/aarch64-apple-ios/$PROFILE/liboutreach_ffi.a" -headers "$HEADERS" \
    -library "$FAT/ios-sim/liboutreach_ffi.a" -headers "$HEADERS" \
    -library "$FAT/macos/liboutreach_ffi.a" -headers "$HEADERS" \
    -output "$KIT/Frameworks/outreach_ffiFFI.xcframework"

mkdir -p "$KIT/Sources/OutreachFFI"
cp "$GEN/outreach_ffi.swift" "$KIT/Sources/OutreachFFI/outreach_ffi.swift"
rm -rf "$GEN"
echo "built: $KIT/Frameworks/outreach_ffiFFI.xcframework"
echo "bindings: $KIT/Sources/OutreachFFI/outreach_ffi.swift"
