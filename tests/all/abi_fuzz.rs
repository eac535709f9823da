//! `policy.wasm` driven by a hostile host: generated sequences of ABI calls with arbitrary
//! bytes and arguments, on one instance.
//!
//! The only allowed failure of a call is an `opa_abort` with a non-empty printable ASCII
//! message; a wasm trap, or a result that cannot be read, fails the test. After every call a
//! known case must still evaluate correctly on the same instance.
//!
//! What the host may do is what a host can do without corrupting the module's memory itself:
//! it writes only into blocks `opa_malloc` gave it, sets the heap pointer only to values
//! `opa_heap_ptr_get` returned after the known data was loaded (as opa-wasm and the JS SDK
//! do), and passes as values only addresses the module returned since the last such rewind,
//! or arbitrary numbers where the module must check them (entrypoint ids). `PROPTEST_CASES`
//! sets the number of sequences (default 256, each of up to 40 calls).

use proptest::{prelude::*, test_runner::TestCaseError};
use serde_json::{Value, json};

use crate::abi::{Abi, address};

const SEQUENCES: u32 = 256;

fn sequences() -> u32 {
    crate::proptest_cases(SEQUENCES)
}

/// The known case checked after every call.
const KNOWN_DATA: &str = r#"{"server_name":"example.com","registration":{"banned_usernames":{"literals":["root"],"regexes":["^mod[0-9]+$"]}},"requester":{"banned_ips":["203.0.113.0/24"]}}"#;
const KNOWN_INPUT: &[u8] =
    br#"{"registration_method":"password","username":"mod42","requester":{"ip_address":"203.0.113.7","user_agent":"x"}}"#;

fn known_result() -> Value {
    json!([{"result": [
        {"code": "username-banned", "field": "username", "msg": "username is banned"},
        {"msg": "Requester [203.0.113.7 / x] isn't allowed to do this action"},
    ]}])
}

/// One call of the hostile host.
#[derive(Debug, Clone)]
enum Op {
    Malloc(i32),
    /// Frees the `n`th block handed out (modulo their number), or an arbitrary address.
    Free(usize, i32),
    /// Sets the heap pointer to the `n`th value `opa_heap_ptr_get` returned.
    HeapSet(usize),
    HeapGet,
    /// `opa_json_parse` (or `opa_value_parse`) of the bytes, with a trailing NUL or not.
    Parse {
        value: bool,
        bytes: Vec<u8>,
        nul: bool,
    },
    /// Dumps the `n`th value returned since the last rewind.
    Dump {
        value: bool,
        n: usize,
    },
    /// The fast path with an arbitrary entrypoint id and input bytes.
    FastEval {
        entrypoint: i32,
        input: Vec<u8>,
    },
    /// The context path: entrypoint id, and the `n`th value as input (or none).
    CtxEval {
        entrypoint: i32,
        input: Option<usize>,
        data_is_known: bool,
    },
}

/// Bytes that are mostly JSON-shaped: fragments a parser has to think about, and raw bytes.
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop_oneof![
        Just(b"{".to_vec()),
        Just(b"}".to_vec()),
        Just(b"[".to_vec()),
        Just(b"]".to_vec()),
        Just(b",".to_vec()),
        Just(b":".to_vec()),
        Just(br#""username""#.to_vec()),
        Just(br#""registration_method":"password""#.to_vec()),
        Just(br#""banned_usernames":{"literals":["a","b\"c"]}"#.to_vec()),
        Just(br#""requester":{"banned_ips":["1.2.3.4/33"]}"#.to_vec()),
        Just(br#""regexes":["(?P<x"]"#.to_vec()),
        Just(b"1e400".to_vec()),
        Just(b"-0".to_vec()),
        Just(b"18446744073709551616".to_vec()),
        Just(b"\"\\ud800\"".to_vec()),
        Just(b"\"\\u0000\"".to_vec()),
        Just(b"\0".to_vec()),
        Just(vec![0xff, 0xfe]),
        Just(vec![0xe2, 0x82]),
        Just(b"null".to_vec()),
        Just(b"true".to_vec()),
        Just(b" \n\t".to_vec()),
        Just(b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
        "[a-z\"\\\\]{0,12}".prop_map(String::into_bytes),
    ];
    proptest::collection::vec(fragment, 0..16).prop_map(|parts| parts.concat())
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Sizes up to a page and a bit, and negative ones; exhausting memory has its own test
        // below (growing to 2 GiB is slow to repeat).
        prop_oneof![0..70_000_i32, Just(0), Just(-1), Just(i32::MIN)].prop_map(Op::Malloc),
        (any::<usize>(), any::<i32>()).prop_map(|(n, a)| Op::Free(n, a)),
        any::<usize>().prop_map(Op::HeapSet),
        Just(Op::HeapGet),
        (any::<bool>(), bytes(), any::<bool>()).prop_map(|(value, bytes, nul)| Op::Parse {
            value,
            bytes,
            nul
        }),
        (any::<bool>(), any::<usize>()).prop_map(|(value, n)| Op::Dump { value, n }),
        (-2..8_i32, bytes()).prop_map(|(entrypoint, input)| Op::FastEval { entrypoint, input }),
        (
            -2..8_i32,
            proptest::option::of(any::<usize>()),
            any::<bool>()
        )
            .prop_map(|(entrypoint, input, data_is_known)| Op::CtxEval {
                entrypoint,
                input,
                data_is_known
            }),
    ]
}

/// The hostile host's bookkeeping.
struct Host {
    abi: Abi,
    data: i32,
    /// Heap pointers from `opa_heap_ptr_get` since the known data was loaded.
    heaps: Vec<i32>,
    /// Blocks from `opa_malloc`.
    blocks: Vec<i32>,
    /// Values the module returned since the last rewind.
    values: Vec<i32>,
}

impl Host {
    fn new() -> Host {
        let mut abi = Abi::new();
        let data = abi.parse_with_nul(KNOWN_DATA).unwrap();
        let heap = abi.call("opa_heap_ptr_get", &[]).unwrap();
        Host {
            abi,
            data,
            heaps: vec![heap],
            blocks: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Calls an export; `Ok(None)` is an abort with an acceptable message.
    fn call(&mut self, name: &str, args: &[i32]) -> Result<Option<i32>, TestCaseError> {
        *self.abi.store.data_mut() = None;
        match self.abi.call(name, args) {
            Ok(result) => Ok(Some(result)),
            Err(message) if self.abi.store.data().is_some() => {
                prop_assert!(
                    !message.is_empty() && message.bytes().all(|b| (0x20..0x7f).contains(&b)),
                    "{name}: abort message is not printable ASCII: {message:?}"
                );
                Ok(None)
            }
            Err(trap) => Err(TestCaseError::fail(format!(
                "{name}{args:?} trapped: {trap}"
            ))),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<Option<i32>, TestCaseError> {
        let Some(addr) = self.call("opa_malloc", &[i32::try_from(bytes.len()).unwrap()])? else {
            return Ok(None);
        };
        self.abi
            .memory
            .write(&mut self.abi.store, address(addr), bytes)
            .map_err(|e| {
                TestCaseError::fail(format!("opa_malloc gave a block out of memory: {e}"))
            })?;
        self.blocks.push(addr);
        Ok(Some(addr))
    }

    /// The NUL-terminated text the module returned at `addr`.
    fn read(&self, addr: i32) -> Result<String, TestCaseError> {
        let memory = self.abi.memory.data(&self.abi.store);
        let start = address(addr);
        prop_assert!(start < memory.len(), "address {addr} past the memory");
        let Some(len) = memory[start..].iter().position(|&b| b == 0) else {
            return Err(TestCaseError::fail(format!("no NUL after {addr}")));
        };
        String::from_utf8(memory[start..start + len].to_vec())
            .map_err(|e| TestCaseError::fail(format!("text at {addr} is not UTF-8: {e}")))
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Malloc(size) => {
                if let Some(addr) = self.call("opa_malloc", &[*size])? {
                    self.blocks.push(addr);
                }
            }
            Op::Free(n, arbitrary) => {
                let addr = if self.blocks.is_empty() {
                    *arbitrary
                } else {
                    self.blocks[n % self.blocks.len()]
                };
                self.call("opa_free", &[addr])?;
            }
            Op::HeapSet(n) => {
                let heap = self.heaps[n % self.heaps.len()];
                self.call("opa_heap_ptr_set", &[heap])?;
                self.values.clear();
                self.blocks.clear();
            }
            Op::HeapGet => {
                if let Some(heap) = self.call("opa_heap_ptr_get", &[])? {
                    self.heaps.push(heap);
                }
            }
            Op::Parse { value, bytes, nul } => {
                let mut text = bytes.clone();
                if *nul {
                    text.push(0);
                }
                if let Some(addr) = self.write(&text)? {
                    let export = if *value {
                        "opa_value_parse"
                    } else {
                        "opa_json_parse"
                    };
                    let len = i32::try_from(text.len()).unwrap();
                    if let Some(parsed) = self.call(export, &[addr, len])?
                        && parsed != 0
                    {
                        self.values.push(parsed);
                    }
                }
            }
            Op::Dump { value, n } => {
                if !self.values.is_empty() {
                    let parsed = self.values[n % self.values.len()];
                    let export = if *value {
                        "opa_value_dump"
                    } else {
                        "opa_json_dump"
                    };
                    if let Some(text) = self.call(export, &[parsed])? {
                        let text = self.read(text)?;
                        if !*value {
                            serde_json::from_str::<Value>(&text).map_err(|e| {
                                TestCaseError::fail(format!("opa_json_dump gave {text:?}: {e}"))
                            })?;
                        }
                    }
                }
            }
            Op::FastEval { entrypoint, input } => {
                let heap = self.heaps[0];
                self.call("opa_heap_ptr_set", &[heap])?;
                self.values.clear();
                self.blocks.clear();
                if let Some(text) = self.fast_eval(*entrypoint, heap, input)? {
                    serde_json::from_str::<Value>(&text)
                        .map_err(|e| TestCaseError::fail(format!("opa_eval gave {text:?}: {e}")))?;
                }
            }
            Op::CtxEval {
                entrypoint,
                input,
                data_is_known,
            } => self.ctx_eval(*entrypoint, *input, *data_is_known)?,
        }
        Ok(())
    }

    /// The context path: a new context, data (the known document, or the last value), an
    /// input value, an entrypoint id, `eval`, and the result dumped.
    fn ctx_eval(
        &mut self,
        entrypoint: i32,
        input: Option<usize>,
        data_is_known: bool,
    ) -> Result<(), TestCaseError> {
        let Some(ctx) = self.call("opa_eval_ctx_new", &[])? else {
            return Ok(());
        };
        let data = match (data_is_known, self.values.last()) {
            (false, Some(&other)) => other,
            _ => self.data,
        };
        self.call("opa_eval_ctx_set_data", &[ctx, data])?;
        if let Some(n) = input
            && !self.values.is_empty()
        {
            let value = self.values[n % self.values.len()];
            self.call("opa_eval_ctx_set_input", &[ctx, value])?;
        }
        self.call("opa_eval_ctx_set_entrypoint", &[ctx, entrypoint])?;
        if self.call("eval", &[ctx])?.is_some()
            && let Some(result) = self.call("opa_eval_ctx_get_result", &[ctx])?
            && result != 0
            && let Some(text) = self.call("opa_json_dump", &[result])?
        {
            let text = self.read(text)?;
            serde_json::from_str::<Value>(&text).map_err(|e| {
                TestCaseError::fail(format!("a context result dumped as {text:?}: {e}"))
            })?;
        }
        Ok(())
    }

    /// The fast path as opa-wasm calls it: the input written at `heap`, the result's text.
    fn fast_eval(
        &mut self,
        entrypoint: i32,
        heap: i32,
        input: &[u8],
    ) -> Result<Option<String>, TestCaseError> {
        let end = address(heap) + input.len();
        let have = self.abi.memory.data_size(&self.abi.store);
        if end > have {
            let pages = (end - have).div_ceil(65536) as u64;
            self.abi.memory.grow(&mut self.abi.store, pages).unwrap();
        }
        self.abi
            .memory
            .write(&mut self.abi.store, address(heap), input)
            .unwrap();
        let len = i32::try_from(input.len()).unwrap();
        let args = [
            0,
            entrypoint,
            self.data,
            heap,
            len,
            heap.wrapping_add(len),
            0,
        ];
        match self.call("opa_eval", &args)? {
            Some(out) => Ok(Some(self.read(out)?)),
            None => Ok(None),
        }
    }

    /// The known case, on the fast path at the current heap pointer.
    fn known_case_holds(&mut self) -> Result<(), TestCaseError> {
        let heap = self
            .call("opa_heap_ptr_get", &[])?
            .ok_or_else(|| TestCaseError::fail("opa_heap_ptr_get aborted"))?;
        let text = self
            .fast_eval(0, heap, KNOWN_INPUT)?
            .ok_or_else(|| TestCaseError::fail("the known case aborted"))?;
        let got: Value = serde_json::from_str(&text)
            .map_err(|e| TestCaseError::fail(format!("the known case gave {text:?}: {e}")))?;
        prop_assert_eq!(got, known_result());
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: sequences(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_hostile_host_gets_aborts_at_worst(ops in proptest::collection::vec(op(), 1..40)) {
        let mut host = Host::new();
        for op in &ops {
            host.apply(op)?;
            host.known_case_holds()?;
        }
    }
}

/// The findings of the sequences above, kept as fixed cases: a negative `opa_malloc` size
/// panicked ("capacity overflow"), and the second such panic trapped instead of aborting.
#[test]
fn a_negative_malloc_aborts_with_a_message_every_time() {
    let mut host = Host::new();
    for _ in 0..3 {
        *host.abi.store.data_mut() = None;
        let err = host.abi.call("opa_malloc", &[-1]).unwrap_err();
        assert_eq!(err, "opa_malloc: invalid size -1");
        host.known_case_holds().unwrap();
    }
}

/// An allocation the memory cannot take aborts with a message instead of trapping.
#[test]
fn running_out_of_memory_aborts_with_a_message() {
    let mut host = Host::new();
    // 2 GiB are granted (the memory has no maximum); the next 2 GiB cannot be.
    let mut outcome = Ok(0);
    for _ in 0..3 {
        *host.abi.store.data_mut() = None;
        outcome = host.abi.call("opa_malloc", &[i32::MAX]);
        if outcome.is_err() {
            break;
        }
    }
    assert_eq!(
        outcome.unwrap_err(),
        "out of memory: the instance cannot grow its linear memory"
    );
}

/// 100,000 evaluations on one instance, each rewinding the heap as opa-wasm does: the
/// memory does not grow after the first.
#[test]
fn memory_does_not_grow_over_100k_evaluations() {
    let mut host = Host::new();
    let heap = host.heaps[0];
    host.abi.fast_eval(0, host.data, heap, KNOWN_INPUT).unwrap();
    let size = host.abi.memory.data_size(&host.abi.store);
    for _ in 0..100_000 {
        let got = host.abi.fast_eval(0, host.data, heap, KNOWN_INPUT).unwrap();
        assert_eq!(got, known_result());
    }
    assert_eq!(host.abi.memory.data_size(&host.abi.store), size);
}
