//! The `native` engine: the rules library called directly. The reference for the others.

use policy_rules::{
    Entrypoint, PolicyData,
    value::{depth_within_limit, too_deep_message},
};
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
        // The same limit `policy.wasm` applies, so that the engines agree on hostile documents.
        if !depth_within_limit(data) {
            return Err(EvalError::Data(too_deep_message("document")));
        }
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
        if input.is_some_and(|i| !depth_within_limit(i)) {
            return Err(EvalError::Engine(too_deep_message("input")));
        }
        Ok(self.0.evaluate(entrypoint, input))
    }
}
