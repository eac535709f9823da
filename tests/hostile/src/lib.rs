//! A hostile guest of the `policy` world, for the host runner's limit tests.
//!
//! It answers like a policy, except when the input (or the data) names a misbehaviour:
//! `{"hostile": "loop"}` spins forever, `"grow"` allocates without end, `"garbage"` returns a
//! violation whose `object-json` is not JSON, `"mismatch"` one whose typed fields contradict
//! it, and `"unsorted"` violations out of canonical order. The host must stop or reject each
//! one with an error, never hang or panic.

#[cfg(target_arch = "wasm32")]
mod guest;
