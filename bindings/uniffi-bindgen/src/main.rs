//! Pinned uniffi-bindgen, so generated bindings always match the library's uniffi version.
//!
//! Usage (0.32 detects library mode from the file name; pass the UNSTRIPPED library):
//!   uniffi-bindgen generate target/debug/liboutreach_ffi.so --language kotlin --out-dir OUT
fn main() {
    uniffi::uniffi_bindgen_main()
}
