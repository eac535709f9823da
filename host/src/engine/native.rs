//! The `native` engine: the rules library called directly. The reference for the others.

use policy_rules::{Entrypoint, PolicyData};
use serde_json::Value;

use super::{Engine, EvalError, LoadedPolicy, check_input, compile_data};

/// Evaluates with `policy-rules` in-process.
#[derive(Debug, Default, Clone, Copy)]
pub struct NativeEngine;

impl Engine for NativeEngine {
    fn name(&self) -> &'static str {
        "native"
    }

    fn load(&self, data: &Value) -> Result<Box<dyn LoadedPolicy + '_>, EvalError> {
        Ok(Box::new(NativePolicy(compile_data(data)?)))
    }
}

struct NativePolicy(PolicyData);

impl LoadedPolicy for NativePolicy {
    fn evaluate(
        &mut self,
        entrypoint: Entrypoint,
        input: Option<&Value>,
    ) -> Result<Vec<Value>, EvalError> {
        check_input(input)?;
        Ok(self.0.evaluate(entrypoint, input))
    }
}
