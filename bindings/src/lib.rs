//! uniffi bindings (placeholder).
