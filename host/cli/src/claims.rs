//! Claims mapping on the host: the mapper behind one trait on two engines (the native library
//! and the `claims-mapper` component), MAS config reading, the claims fixtures, and the
//! `policy-test claims` and `policy-test migrate` commands.
//!
//! As for the policy, the engines must agree: the fixture runner maps every case on both and
//! a disagreement is a failure.

pub mod cli;
pub mod component;
pub mod fixtures;
pub mod mas_config;
pub mod migrate;

use claims_mapper::{Claims, Mapper, Mapping};
use serde_json::Value;

/// A way of running the claims mapper.
pub trait MapperEngine {
    /// The engine's name on the command line (`native`, `component`).
    fn name(&self) -> &'static str;

    /// Loads one provider's `claims_imports` block with the merged policy data.
    ///
    /// # Errors
    ///
    /// The block or the data is refused (the text says which), or the engine fails.
    fn load(&self, imports: &Value, data: &Value) -> Result<Box<dyn LoadedMapper + '_>, String>;
}

/// A mapper with its templates and data loaded.
pub trait LoadedMapper {
    /// The `claims_imports` keys MAS ignores, by path.
    fn unknown_keys(&self) -> Vec<String>;

    /// Maps one claims document (`id_token_claims`, `userinfo_claims`,
    /// `extra_callback_parameters`).
    ///
    /// # Errors
    ///
    /// The claims document has the wrong shape, or the engine fails.
    fn map(&mut self, claims: &Value) -> Result<Mapping, String>;
}

/// The claims mapper as a native library.
pub struct NativeMapper;

impl MapperEngine for NativeMapper {
    fn name(&self) -> &'static str {
        "native"
    }

    fn load(&self, imports: &Value, data: &Value) -> Result<Box<dyn LoadedMapper + '_>, String> {
        Mapper::load(imports, data)
            .map(|m| Box::new(m) as Box<dyn LoadedMapper>)
            .map_err(|e| e.to_string())
    }
}

impl LoadedMapper for Mapper {
    fn unknown_keys(&self) -> Vec<String> {
        Mapper::unknown_keys(self).to_vec()
    }

    fn map(&mut self, claims: &Value) -> Result<Mapping, String> {
        let claims = Claims::from_json(claims).map_err(|e| e.to_string())?;
        Ok(Mapper::map(self, &claims))
    }
}

/// The engine called `name`.
///
/// # Errors
///
/// An unknown name, or a component that cannot be compiled.
pub fn engine_by_name(name: &str) -> anyhow::Result<Box<dyn MapperEngine>> {
    match name {
        "native" => Ok(Box::new(NativeMapper)),
        "component" => Ok(Box::new(component::ComponentMapper::new(
            component::default_limits(),
        )?)),
        other => anyhow::bail!("unknown claims engine `{other}`; expected native or component"),
    }
}
