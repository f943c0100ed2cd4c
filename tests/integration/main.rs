//! The integration tests: one binary, a module per command or concern, all running the
//! built `buildkit-lite` (and, where an image is the subject, a real Docker engine).
//! `tests/fuzz.rs` is a binary of its own, so that the peak memory it reads is its own.

#[macro_use]
mod common;

mod build;
mod cli;
mod container;
mod deploy;
mod deployed;
mod docker;
mod engine;
mod ergonomics;
mod hardened;
mod hostile;
mod limits;
mod no_panic;
mod platforms;
mod production;
mod refusals;
mod render;
mod runtime;
mod sbom;
mod schema;
mod security;
mod structure;
mod tools;
mod untrusted;
mod workspace;
