//! Procedural macros for [ops-kit](https://docs.rs/ops-kit).
//!
//! The `#[audited]` attribute that records who changed what arrives with the
//! audit trail; this crate is where it will live, re-exported by `ops-kit`.
