//! The JSON Schema of `service.toml`, generated from the manifest types (draft-07, which
//! the taplo language server behind Even Better TOML understands).
//!
//! The committed `schema/service.schema.json` must equal [`json`]'s output; a test checks it.

use schemars::generate::SchemaSettings;

use crate::manifest::Manifest;

/// The schema as pretty JSON, ending with a newline.
pub fn json() -> String {
    let generator = SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<Manifest>();
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}
