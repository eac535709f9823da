//! The `native` engine: the rules library called directly. The reference for the others.

use policy_rules::{Entrypoint, PolicyData};
use serde_json::Value;

use super::{Engine, EvalError, LoadedPolicy};

/// Evaluates with `policy-rules` in-process.
#[derive(Debug, Default, Clone, Copy)]
pub struct NativeEngine;

impl Engine for NativeEngine {
    fn name(&self) -> &'static str {
        "native"
    }

    fn load(&self, data: &Value) -> Result<Box<dyn LoadedPolicy + '_>, EvalError> {
        let data = PolicyData::compile(Some(data)).map_err(|e| EvalError::Data(e.to_string()))?;
        Ok(Box::new(NativePolicy(data)))
    }
}

struct NativePolicy(PolicyData);

impl LoadedPolicy for NativePolicy {
    fn evaluate(
        &mut self,
        entrypoint: Entrypoint,
        input: Option<&Value>,
    ) -> Result<Vec<Value>, EvalError> {
        Ok(self.0.evaluate(entrypoint, input))
    }
}
