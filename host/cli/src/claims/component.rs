//! The `component` claims engine: the `claims-mapper` component under wasmtime.
//!
//! Like the policy's component engine: compiled once, instantiated through an `InstancePre`
//! (the component imports nothing, so nothing is linked), one instance per loaded mapper reused
//! for every login, and a fresh instance after a trap (a trapped instance cannot be entered
//! again).
//!
//! **Limits.** Templates are operator-written code run on every login, so each call runs under
//! a fuel budget and the memory caps of [`Limits`]. Fuel rather than the epoch deadline:
//! it needs no ticker thread and a limit hit is reproducible. The default budget
//! ([`default_limits`]) is far above what a real template uses.

use claims_mapper::{Fix, Mapping, Outcome};
use serde_json::Value;
use wasmtime::{
    Config, Engine as WasmEngine, Store, StoreLimits, StoreLimitsBuilder,
    component::{Component, Linker, ResourceAny},
};

use super::{LoadedMapper, MapperEngine};
use crate::limits::Limits;

mod bindings {
    wasmtime::component::bindgen!({
        world: "claims-mapper",
        path: "../../wit",
    });
}

use bindings::{ClaimsMapper, ClaimsMapperPre, exports::openmeet::mas_policy::mapper as wit};

/// The limits the claims component runs under by default: 1 billion units of fuel per call
/// (a mapping uses well under a million), no epoch deadline, and the default memory caps.
pub fn default_limits() -> Limits {
    Limits {
        fuel: Some(1_000_000_000),
        deadline: None,
        ..Limits::default()
    }
}

/// Per-store state: the memory and instance caps.
pub struct State {
    limits: StoreLimits,
}

/// Runs the claims-mapper component.
pub struct ComponentMapper {
    engine: WasmEngine,
    pre: ClaimsMapperPre<State>,
    limits: Limits,
}

impl ComponentMapper {
    /// Compiles the claims component built with this workspace.
    ///
    /// The `deadline` of `limits` is ignored (see the module docs); set `fuel`.
    ///
    /// # Errors
    ///
    /// When wasmtime cannot compile or pre-instantiate it.
    pub fn new(limits: Limits) -> anyhow::Result<Self> {
        Self::from_bytes(policy_artifacts::claims_component(), limits)
    }

    /// Compiles a component of the `claims-mapper` world.
    ///
    /// # Errors
    ///
    /// When wasmtime cannot compile it, or it does not fit the world.
    pub fn from_bytes(wasm: &[u8], limits: Limits) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.consume_fuel(limits.fuel.is_some());
        let engine =
            WasmEngine::new(&config).map_err(|e| anyhow::anyhow!("cannot start wasmtime: {e}"))?;
        let component = Component::new(&engine, wasm)
            .map_err(|e| anyhow::anyhow!("cannot compile the claims component: {e}"))?;
        let pre = Linker::<State>::new(&engine)
            .instantiate_pre(&component)
            .and_then(ClaimsMapperPre::new)
            .map_err(|e| {
                anyhow::anyhow!("the component does not fit the claims-mapper world: {e}")
            })?;
        Ok(ComponentMapper {
            engine,
            pre,
            limits,
        })
    }

    fn store(&self) -> Result<Store<State>, String> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.memory_bytes)
            .instances(self.limits.instances)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(&self.engine, State { limits });
        store.limiter(|state| &mut state.limits);
        self.arm(&mut store)?;
        Ok(store)
    }

    fn arm(&self, store: &mut Store<State>) -> Result<(), String> {
        match self.limits.fuel {
            Some(fuel) => store
                .set_fuel(fuel)
                .map_err(|e| format!("cannot set fuel: {e}")),
            None => Ok(()),
        }
    }

    fn instantiate(&self, imports_json: &str, data_json: &str) -> Result<Live, String> {
        let mut store = self.store()?;
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| format!("cannot instantiate the claims component: {}", one_line(&e)))?;
        let handle = bindings
            .openmeet_mas_policy_mapper()
            .mapper()
            .call_load(&mut store, imports_json, data_json)
            .map_err(|e| format!("loading the mapper trapped: {}", one_line(&e)))?
            .map_err(error_text)?;
        Ok(Live {
            store,
            bindings,
            handle,
        })
    }
}

fn error_text(e: wit::Error) -> String {
    match e {
        wit::Error::InvalidConfig(msg)
        | wit::Error::InvalidData(msg)
        | wit::Error::InvalidClaims(msg) => msg,
    }
}

/// A wasmtime error on one line: the trap or limit, without the wasm backtrace.
fn one_line(e: &wasmtime::Error) -> String {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return trap.to_string();
    }
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

impl MapperEngine for ComponentMapper {
    fn name(&self) -> &'static str {
        "component"
    }

    fn load(&self, imports: &Value, data: &Value) -> Result<Box<dyn LoadedMapper + '_>, String> {
        let imports_json = imports.to_string();
        let data_json = data.to_string();
        let mut live = self.instantiate(&imports_json, &data_json)?;
        let unknown_keys = live
            .bindings
            .openmeet_mas_policy_mapper()
            .mapper()
            .call_unknown_keys(&mut live.store, live.handle)
            .map_err(|e| format!("unknown-keys trapped: {}", one_line(&e)))?;
        Ok(Box::new(ComponentLoaded {
            engine: self,
            imports_json,
            data_json,
            unknown_keys,
            live: Some(live),
        }))
    }
}

/// An instance with its mapper loaded.
struct Live {
    store: Store<State>,
    bindings: ClaimsMapper,
    handle: ResourceAny,
}

struct ComponentLoaded<'e> {
    engine: &'e ComponentMapper,
    imports_json: String,
    data_json: String,
    unknown_keys: Vec<String>,
    /// `None` after a trap; the next call makes a new instance.
    live: Option<Live>,
}

impl ComponentLoaded<'_> {
    fn live(&mut self) -> Result<&mut Live, String> {
        if self.live.is_none() {
            self.live = Some(
                self.engine
                    .instantiate(&self.imports_json, &self.data_json)?,
            );
        }
        self.live.as_mut().ok_or_else(|| "no instance".to_owned())
    }
}

impl LoadedMapper for ComponentLoaded<'_> {
    fn unknown_keys(&self) -> Vec<String> {
        self.unknown_keys.clone()
    }

    fn map(&mut self, claims: &Value) -> Result<Mapping, String> {
        let claims_json = claims.to_string();
        let engine = self.engine;
        let live = self.live()?;
        engine.arm(&mut live.store)?;
        let result = live
            .bindings
            .openmeet_mas_policy_mapper()
            .mapper()
            .call_map_claims(&mut live.store, live.handle, &claims_json);
        match result {
            Err(e) => {
                self.live = None;
                Err(format!("mapping trapped: {}", one_line(&e)))
            }
            Ok(Err(e)) => Err(error_text(e)),
            Ok(Ok(mapping)) => untyped(mapping),
        }
    }
}

/// Turns the typed mapping back into the library's, refusing violations whose typed fields
/// contradict their own `object-json`.
fn untyped(m: wit::Mapping) -> Result<Mapping, String> {
    let mut violations = Vec::with_capacity(m.violations.len());
    for v in m.violations {
        let object: Value = serde_json::from_str(&v.object_json)
            .map_err(|e| format!("invalid result from the claims component: {e}"))?;
        let text = |key: &str| object.get(key).and_then(Value::as_str);
        if text("msg") != Some(v.msg.as_str())
            || text("code") != v.code.as_deref()
            || text("field") != v.field.as_deref()
        {
            return Err(format!(
                "invalid result from the claims component: typed fields disagree with `{}`",
                v.object_json
            ));
        }
        violations.push(object);
    }
    Ok(Mapping {
        outcome: match m.outcome {
            wit::Outcome::Accepted => Outcome::Accepted,
            wit::Outcome::SuggestionDropped => Outcome::SuggestionDropped,
            wit::Outcome::Error => Outcome::Error,
        },
        subject: m.subject,
        localpart: m.localpart,
        mxid: m.mxid,
        displayname: m.displayname,
        email: m.email,
        tenant: m.tenant,
        claimed_tenant: m.claimed_tenant,
        violations,
        description: m.description,
        fix: m.fix.map(|f| Fix {
            hint: f.hint,
            expression: f.expression,
            template: f.template,
            localpart: f.localpart,
        }),
        warnings: m.warnings,
    })
}
