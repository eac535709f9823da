//! `policy.wasm` at the OPA ABI level, driven the way opa-wasm and the JS SDK drive it.

use policy_test::{
    bundle::wasm_abi::REQUIRED_EXPORTS,
    engine::opa::{Mode, OpaEngine},
};
use std::sync::OnceLock;

use serde_json::{Value, json};
use wasmtime::{
    Caller, Engine, ExternType, Instance, Linker, Memory, MemoryType, Module, Store, Val,
};

/// One instance of `policy.wasm` with the two-page memory MAS gives it; the store's data is
/// the message of the last `opa_abort`.
pub(crate) struct Abi {
    pub(crate) store: Store<Option<String>>,
    instance: Instance,
    pub(crate) memory: Memory,
}

/// A wasm32 address passed as i32 (from 2 GiB up it is negative).
pub(crate) fn address(addr: i32) -> usize {
    usize::try_from(addr.cast_unsigned()).unwrap()
}

fn read_c_string(memory: &Memory, store: impl wasmtime::AsContext, addr: i32) -> String {
    let data = memory.data(&store);
    let start = address(addr);
    let end = start + data[start..].iter().position(|&b| b == 0).unwrap();
    String::from_utf8(data[start..end].to_vec()).unwrap()
}

impl Abi {
    /// Instantiates with exactly two pages, as opa-wasm 0.2.0 (MAS 1.22) provides.
    pub(crate) fn new() -> Abi {
        // Compiled once for all tests: the ABI fuzzing makes hundreds of instances.
        static COMPILED: OnceLock<(Engine, Module)> = OnceLock::new();
        let (engine, module) = COMPILED.get_or_init(|| {
            let engine = Engine::default();
            let module = Module::new(&engine, policy_artifacts::policy_wasm()).unwrap();
            (engine, module)
        });
        let mut store = Store::new(engine, None);
        let memory = Memory::new(&mut store, MemoryType::new(2, None)).unwrap();
        let mut linker = Linker::new(engine);
        linker.define(&store, "env", "memory", memory).unwrap();
        linker
            .func_wrap(
                "env",
                "opa_abort",
                move |mut caller: Caller<'_, Option<String>>, addr: i32| -> wasmtime::Result<()> {
                    let msg = read_c_string(&memory, &caller, addr);
                    *caller.data_mut() = Some(msg.clone());
                    Err(wasmtime::Error::msg(msg))
                },
            )
            .unwrap();
        let instance = linker.instantiate(&mut store, module).unwrap();
        Abi {
            store,
            instance,
            memory,
        }
    }

    pub(crate) fn call(&mut self, name: &str, args: &[i32]) -> Result<i32, String> {
        let func = self.instance.get_func(&mut self.store, name).unwrap();
        let params: Vec<Val> = args.iter().map(|&a| Val::I32(a)).collect();
        let mut results = vec![Val::I32(0); func.ty(&self.store).results().len()];
        match func.call(&mut self.store, &params, &mut results) {
            Ok(()) => Ok(results.first().and_then(Val::i32).unwrap_or(0)),
            Err(e) => Err(self.store.data().clone().unwrap_or_else(|| e.to_string())),
        }
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) -> i32 {
        let addr = self
            .call("opa_malloc", &[i32::try_from(bytes.len()).unwrap()])
            .unwrap();
        self.memory
            .write(&mut self.store, usize::try_from(addr).unwrap(), bytes)
            .unwrap();
        addr
    }

    /// Loads a document like opa-wasm: length includes a trailing NUL.
    pub(crate) fn parse_with_nul(&mut self, json: &str) -> Result<i32, String> {
        let mut bytes = json.as_bytes().to_vec();
        bytes.push(0);
        let addr = self.write(&bytes);
        let len = i32::try_from(bytes.len()).unwrap();
        let value = self.call("opa_json_parse", &[addr, len])?;
        self.call("opa_free", &[addr])?;
        Ok(value)
    }

    fn dump(&mut self, value: i32) -> Value {
        let addr = self.call("opa_json_dump", &[value]).unwrap();
        serde_json::from_str(&read_c_string(&self.memory, &self.store, addr)).unwrap()
    }

    /// The fast path, as opa-wasm calls it: input written at the saved heap pointer.
    pub(crate) fn fast_eval(
        &mut self,
        entrypoint: i32,
        data: i32,
        heap: i32,
        input: &[u8],
    ) -> Result<Value, String> {
        let needed = usize::try_from(heap).unwrap() + input.len();
        let have = self.memory.data_size(&self.store);
        if needed > have {
            let pages = (needed - have).div_ceil(65536) as u64;
            self.memory.grow(&mut self.store, pages).unwrap();
        }
        self.memory
            .write(&mut self.store, usize::try_from(heap).unwrap(), input)
            .unwrap();
        let len = i32::try_from(input.len()).unwrap();
        let out = self.call("opa_eval", &[0, entrypoint, data, heap, len, heap + len, 0])?;
        Ok(serde_json::from_str(&read_c_string(&self.memory, &self.store, out)).unwrap())
    }
}

#[test]
fn imports_only_a_small_env_memory_and_opa_abort() {
    let engine = Engine::default();
    let module = Module::new(&engine, policy_artifacts::policy_wasm()).unwrap();
    let imports: Vec<_> = module
        .imports()
        .map(|i| (i.module().to_owned(), i.name().to_owned(), i.ty()))
        .collect();
    assert_eq!(imports.len(), 2, "{imports:?}");
    for (module_name, name, ty) in imports {
        assert_eq!(module_name, "env");
        match (name.as_str(), ty) {
            ("memory", ExternType::Memory(mem)) => {
                assert!(mem.minimum() <= 2, "minimum {} pages", mem.minimum());
                assert_eq!(mem.maximum(), None);
                assert!(!mem.is_shared());
            }
            ("opa_abort", ExternType::Func(_)) => {}
            other => panic!("unexpected import {other:?}"),
        }
    }
    let exports: Vec<&str> = module.exports().map(|e| e.name()).collect();
    for name in REQUIRED_EXPORTS {
        assert!(exports.contains(&name), "missing export {name}");
    }
}

#[test]
fn abi_version_globals_are_1_3() {
    let mut abi = Abi::new();
    for (name, want) in [
        ("opa_wasm_abi_version", 1),
        ("opa_wasm_abi_minor_version", 3),
    ] {
        let global = abi.instance.get_global(&mut abi.store, name).unwrap();
        assert_eq!(global.get(&mut abi.store).i32(), Some(want), "{name}");
        assert_eq!(
            global.ty(&abi.store).mutability(),
            wasmtime::Mutability::Const
        );
    }
}

#[test]
fn entrypoints_and_builtins() {
    let mut abi = Abi::new();
    let builtins = abi.call("builtins", &[]).unwrap();
    assert_eq!(abi.dump(builtins), json!({}));
    let entrypoints = abi.call("entrypoints", &[]).unwrap();
    assert_eq!(
        abi.dump(entrypoints),
        json!({
            "register/violation": 0,
            "email/violation": 1,
            "client_registration/violation": 2,
            "authorization_grant/violation": 3,
            "compat_login/violation": 4,
        })
    );
}

#[test]
fn opa_wasm_reports_the_five_entrypoints() {
    let engine = OpaEngine::new(Mode::PerRequest).unwrap();
    assert_eq!(
        engine.entrypoints().unwrap(),
        [
            "authorization_grant/violation",
            "client_registration/violation",
            "compat_login/violation",
            "email/violation",
            "register/violation",
        ]
    );
}

#[test]
fn fast_path_rewinds_the_heap_and_accepts_empty_input() {
    let mut abi = Abi::new();
    let data = abi
        .parse_with_nul(r#"{"server_name": "example.com", "session_limit": null}  "#)
        .unwrap();
    assert_ne!(data, 0);
    let heap = abi.call("opa_heap_ptr_get", &[]).unwrap();

    // Empty input: no input document, so R7 fires and nothing else.
    let none = abi.fast_eval(0, data, heap, b"").unwrap();
    assert_eq!(
        none,
        json!([{"result": [{"msg": "unspecified registration method"}]}])
    );

    // The same evaluation twice returns its result at the same address: the heap was rewound.
    let input = br#"{"registration_method":"RegisterInput","registration_method":"password","username":"","requester":{"ip_address":null,"user_agent":null}}"#;
    let first = abi.fast_eval(0, data, heap, input).unwrap();
    let after_first = abi.call("opa_heap_ptr_get", &[]).unwrap();
    let second = abi.fast_eval(0, data, heap, input).unwrap();
    let after_second = abi.call("opa_heap_ptr_get", &[]).unwrap();
    assert_eq!(first, second);
    assert_eq!(after_first, after_second);
    // Duplicate keys: the last `registration_method` wins, so no R8.
    assert_eq!(
        first,
        json!([{"result": [
            {"code": "username-invalid-chars", "field": "username", "msg": "username contains invalid characters"},
            {"code": "username-too-short", "field": "username", "msg": "username too short"}
        ]}])
    );
}

#[test]
fn context_path_matches_the_fast_path() {
    let mut abi = Abi::new();
    let data = abi
        .parse_with_nul(r#"{"server_name":"example.com","session_limit":{"soft_limit":3,"hard_limit":5,"max_session_threshold":null}}"#)
        .unwrap();
    let heap = abi.call("opa_heap_ptr_get", &[]).unwrap();
    let input = r#"{"login":{"type":"m.login.sso"},"session_counts":{"total":18446744073709551615},"session_replaced":false}"#;
    let fast = abi.fast_eval(4, data, heap, input.as_bytes()).unwrap();

    abi.call("opa_heap_ptr_set", &[heap]).unwrap();
    let input = abi.parse_with_nul(input).unwrap();
    let ctx = abi.call("opa_eval_ctx_new", &[]).unwrap();
    abi.call("opa_eval_ctx_set_data", &[ctx, data]).unwrap();
    abi.call("opa_eval_ctx_set_input", &[ctx, input]).unwrap();
    abi.call("opa_eval_ctx_set_entrypoint", &[ctx, 4]).unwrap();
    assert_eq!(abi.call("eval", &[ctx]).unwrap(), 0);
    let result = abi.call("opa_eval_ctx_get_result", &[ctx]).unwrap();
    let slow = abi.dump(result);
    assert_eq!(fast, slow);
    // u64 counts stay exact: 2^64 - 1 - 3 + 1.
    assert_eq!(
        fast,
        json!([{"result": [{"code": "too-many-sessions", "msg": "user has too many active sessions (soft limit)", "need_to_remove": 18_446_744_073_709_551_613_u64}]}])
    );
}

#[test]
fn errors_abort_with_a_message() {
    let mut abi = Abi::new();
    assert_eq!(abi.parse_with_nul("{not json").unwrap(), 0);

    let err = abi
        .parse_with_nul(r#"{"requester":{"banned_ips":["10.0.0.0/8","1.2.3.4/33"]}}"#)
        .unwrap_err();
    assert_eq!(
        err,
        r#"invalid CIDR at data.requester.banned_ips[1]: "1.2.3.4/33""#
    );

    let mut abi = Abi::new();
    let data = abi.parse_with_nul("{}").unwrap();
    let heap = abi.call("opa_heap_ptr_get", &[]).unwrap();
    let err = abi.fast_eval(7, data, heap, b"{}").unwrap_err();
    assert_eq!(err, "internal: illegal entrypoint id");
}

/// An abort unwinds through the host without restoring the shadow-stack pointer. Hosts that
/// keep one instance (the OPA JS SDK) found the stack exhausted after a few dozen data errors;
/// the post-link step now resets it on every entry.
#[test]
fn many_aborts_on_one_instance_leave_it_usable() {
    let mut abi = Abi::new();
    let bad = r#"{"tenants":{"by_id":{"a":{"localpart_prefix":"team."},"b":{"localpart_prefix":"team."}}}}"#;
    for _ in 0..500 {
        let err = abi.parse_with_nul(bad).unwrap_err();
        assert!(
            err.starts_with("ambiguous tenants at data.tenants.by_id"),
            "{err}"
        );
    }
    let data = abi
        .parse_with_nul(r#"{"server_name":"example.com"}"#)
        .unwrap();
    let heap = abi.call("opa_heap_ptr_get", &[]).unwrap();
    let got = abi
        .fast_eval(
            0,
            data,
            heap,
            br#"{"registration_method":"password","username":"alice"}"#,
        )
        .unwrap();
    assert_eq!(got, json!([{"result": []}]));
}

#[test]
fn abort_messages_are_ascii() {
    let mut abi = Abi::new();
    let err = abi
        .parse_with_nul(r#"{"registration":{"banned_usernames":{"regexes":["é("]}}}"#)
        .unwrap_err();
    assert!(err.is_ascii(), "{err}");
    assert!(
        err.starts_with("invalid regex at data.registration.banned_usernames.regexes[0]: "),
        "{err}"
    );
}

#[test]
fn deep_and_malformed_documents_fail_cleanly() {
    let mut abi = Abi::new();
    // Nesting at the depth limit parses and evaluates within the 32 KiB stack.
    let deep = format!(
        r#"{{"registration_method":"password","username":{}0{}}}"#,
        "[".repeat(63),
        "]".repeat(63)
    );
    let data = abi.parse_with_nul("{}").unwrap();
    let heap = abi.call("opa_heap_ptr_get", &[]).unwrap();
    let out = abi.fast_eval(0, data, heap, deep.as_bytes()).unwrap();
    assert_eq!(
        out,
        json!([{"result": [{"code": "username-invalid-chars", "field": "username", "msg": "username contains invalid characters"}]}])
    );
    // Beyond it, the document is refused with a message instead of overflowing the stack.
    let deeper = "[".repeat(100_000);
    let err = abi.fast_eval(0, data, heap, deeper.as_bytes()).unwrap_err();
    assert_eq!(err, "input is nested deeper than 64 levels");
    let mut abi = Abi::new();
    let err = abi.parse_with_nul(&deeper).unwrap_err();
    assert_eq!(err, "document is nested deeper than 64 levels");
    let mut abi = Abi::new();
    // Truncated, empty and NUL-only documents are parse errors, not traps.
    for bad in ["", "\0", "{\"a\":", "[1,]"] {
        assert_eq!(abi.parse_with_nul(bad).unwrap(), 0, "{bad:?}");
    }
}

/// The fast path builds only the input members its entrypoint's rules read: members no rule
/// reads change nothing, yet are still validated, and nesting under them still counts.
#[test]
fn unread_input_members_are_validated_but_not_read() {
    let mut abi = Abi::new();
    let data = abi
        .parse_with_nul(
            r#"{"admin_users": ["admin"], "session_limit": {"soft_limit": 2, "hard_limit": 3}}"#,
        )
        .unwrap();
    let heap = abi.call("opa_heap_ptr_get", &[]).unwrap();
    let grant = |user: &str, extra: &str| {
        format!(
            r#"{{"grant_type":"authorization_code","scope":"urn:synapse:admin:*",{extra}"user":{user},"session_counts":{{"oauth2":9,"total":2,"compat":{{"x":[1,2]}}}}}}"#
        )
    };
    let expected = json!([{"result": [
        {"code": "too-many-sessions", "msg": "user has too many active sessions", "need_to_remove": 1},
        {"msg": "scope 'urn:synapse:admin:*' not allowed"}
    ]}]);
    let plain = grant(r#"{"username":"alice"}"#, "");
    assert_eq!(
        abi.fast_eval(3, data, heap, plain.as_bytes()).unwrap(),
        expected
    );
    // MAS's whole user record, an unread top-level member with escapes, and nesting.
    let record = grant(
        r#"{"id":"01J","sub":"01J","username":"alice","created_at":"2026-01-01T00:00:00Z","locked_at":null,"is_guest":false,"deactivated_at":{"a":["\u00e9\"",[{}]]}}"#,
        r#""device_id":"A\nB","client":{"id":"01C","redirect_uris":["https://a/cb"]},"#,
    );
    assert_eq!(
        abi.fast_eval(3, data, heap, record.as_bytes()).unwrap(),
        expected
    );
    // A read member among unread ones still counts: the admin may ask for the admin scope.
    let admin = grant(r#"{"sub":"x","username":"admin","is_guest":true}"#, "");
    assert_eq!(
        abi.fast_eval(3, data, heap, admin.as_bytes()).unwrap(),
        json!([{"result": [
            {"code": "too-many-sessions", "msg": "user has too many active sessions", "need_to_remove": 1}
        ]}])
    );
    // Malformed JSON under an unread member is refused, as anywhere else.
    for broken in [
        r#"{"sub":tru,"username":"alice"}"#,
        r#"{"sub":"\x","username":"alice"}"#,
    ] {
        let input = grant(broken, "");
        assert_eq!(
            abi.fast_eval(3, data, heap, input.as_bytes()).unwrap_err(),
            "internal: input is not valid JSON",
            "{input}"
        );
    }
    // So is nesting beyond the limit under an unread member.
    let deep = grant(
        &format!(r#"{{"sub":{}{}}}"#, "[".repeat(80), "]".repeat(80)),
        "",
    );
    assert_eq!(
        abi.fast_eval(3, data, heap, deep.as_bytes()).unwrap_err(),
        "input is nested deeper than 64 levels"
    );
    // The instance is still usable after those aborts.
    assert_eq!(
        abi.fast_eval(3, data, heap, plain.as_bytes()).unwrap(),
        expected
    );
}

#[test]
fn a_warm_instance_gives_the_same_answers_every_time() {
    // Regex search state allocated during one evaluation must not outlive the heap rewind
    // (the bench caught a regex cache that did). Many evaluations on one instance, with
    // inputs of different lengths, must all agree with the native engine.
    let data_json = json!({
        "server_name": "example.com",
        "registration": {"banned_usernames": {"regexes": ["^mod[0-9]+$", "(?i)^staff", "a+b+c+"]}},
        "requester": {"banned_user_agents": {"regexes": ["^curl/7\\."]}},
        "banned_domains": ["*.spam.example"]
    });
    let native = policy_rules::PolicyData::compile(Some(&data_json)).unwrap();
    let mut abi = Abi::new();
    let data = abi.parse_with_nul(&data_json.to_string()).unwrap();
    let heap = abi.call("opa_heap_ptr_get", &[]).unwrap();
    for round in 0..60 {
        let username = match round % 4 {
            0 => "mod42".to_owned(),
            1 => "Staffer".to_owned(),
            2 => "x".repeat(round * 7),
            _ => format!("{}aaabbbccc", "z".repeat(round)),
        };
        let input = json!({
            "registration_method": "password",
            "username": username,
            "email": format!("u{round}@x.spam.example"),
            "requester": {"ip_address": "203.0.113.7", "user_agent": format!("curl/7.{round}")}
        });
        let want = native.evaluate(policy_rules::Entrypoint::Register, Some(&input));
        let got = abi
            .fast_eval(0, data, heap, input.to_string().as_bytes())
            .unwrap();
        assert_eq!(got, json!([{ "result": want }]), "round {round}");
    }
}

/// The compiled data reads its ban lists from the parsed document in place; a refused load
/// afterwards (an abort part-way through parsing and compiling) must leave the document the
/// host loaded before intact and in force on the same instance.
#[test]
fn a_refused_load_leaves_the_loaded_data_in_force() {
    let mut abi = Abi::new();
    let data = abi
        .parse_with_nul(
            r#"{"registration":{"banned_usernames":{"literals":["mallory"],"substrings":["evil"]}}}"#,
        )
        .unwrap();
    let heap = abi.call("opa_heap_ptr_get", &[]).unwrap();
    let err = abi
        .parse_with_nul(r#"{"registration":{"banned_usernames":{"regexes":["(unclosed"]}}}"#)
        .unwrap_err();
    assert!(
        err.starts_with("invalid regex at data.registration.banned_usernames.regexes[0]"),
        "{err}"
    );
    for (username, banned) in [("mallory", true), ("evilbob", true), ("alice", false)] {
        let input = json!({"registration_method": "password", "username": username});
        let got = abi
            .fast_eval(0, data, heap, input.to_string().as_bytes())
            .unwrap();
        let codes: Vec<&Value> = got[0]["result"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["code"] == "username-banned")
            .collect();
        assert_eq!(!codes.is_empty(), banned, "{username}: {got}");
    }
    assert_eq!(
        abi.dump(data),
        json!({"registration":{"banned_usernames":{"literals":["mallory"],"substrings":["evil"]}}})
    );
}

/// `opa_value_add_path` recompiles the edited document; an edit that makes the data invalid
/// aborts and changes nothing, so the data in force is never an uncompiled or half-edited one.
#[test]
fn edits_are_compiled_and_a_refused_edit_changes_nothing() {
    let mut abi = Abi::new();
    let data = abi.parse_with_nul("{}").unwrap();
    let path = abi
        .parse_with_nul(r#"["registration","banned_usernames"]"#)
        .unwrap();
    let bans = abi.parse_with_nul(r#"{"literals":["bob"]}"#).unwrap();
    assert_eq!(abi.call("opa_value_add_path", &[data, path, bans]), Ok(0));
    // Valid on its own (`regexes` at the root of a document is no constraint), invalid where
    // the edit puts it.
    let bad = abi.parse_with_nul(r#"{"regexes":["(unclosed"]}"#).unwrap();
    let err = abi
        .call("opa_value_add_path", &[data, path, bad])
        .unwrap_err();
    assert!(
        err.starts_with("invalid regex at data.registration.banned_usernames.regexes[0]"),
        "{err}"
    );
    let heap = abi.call("opa_heap_ptr_get", &[]).unwrap();
    let got = abi
        .fast_eval(
            0,
            data,
            heap,
            br#"{"registration_method":"password","username":"bob"}"#,
        )
        .unwrap();
    assert_eq!(
        got,
        json!([{"result": [{"code": "username-banned", "field": "username", "msg": "username is banned"}]}])
    );
    assert_eq!(
        abi.dump(data),
        json!({"registration": {"banned_usernames": {"literals": ["bob"]}}})
    );
    let missing = abi
        .parse_with_nul(r#"["registration","nope","deeper"]"#)
        .unwrap();
    assert_eq!(abi.call("opa_value_remove_path", &[data, missing]), Ok(3));
    assert_eq!(abi.call("opa_value_remove_path", &[data, path]), Ok(0));
    assert_eq!(abi.dump(data), json!({"registration": {}}));
}

/// The loader keeps ban lists and `admin_clients` as the host's JSON text, in place, and only
/// validates top-level keys no rule reads. That text must outlive the host's `opa_free` and
/// whatever it allocates and writes afterwards; the decisions must be the native engine's on
/// the whole document (escaped strings, numbers and objects in the lists included); and a dump
/// must give the whole document back.
#[test]
fn lists_kept_as_text_outlive_the_hosts_free_and_later_writes() {
    let data_json = json!({
        "registration": {"banned_usernames": {
            "literals": ["mallory", "tab\there", "\u{e9}ve", 5, {"k": ["v"]}, "quo\"te"],
            "substrings": ["evil", "sl\\ash"],
            "prefixes": ["_"],
            "suffixes": [null, "-bot"]
        }},
        "admin_clients": ["c1", "c\"2"],
        "unread": {"by": ["any", "rule"], "deep": [[[1.5e3]]]}
    });
    let native = policy_rules::PolicyData::compile(Some(&data_json)).unwrap();
    let mut abi = Abi::new();
    let text = data_json.to_string();
    let data = abi.parse_with_nul(&text).unwrap();
    // Freed by `parse_with_nul`; whatever the host allocates next must not be that text.
    let scribble = vec![b'#'; text.len() * 2];
    abi.write(&scribble);
    let heap = abi.call("opa_heap_ptr_get", &[]).unwrap();
    for username in [
        "mallory",
        "tab\there",
        "\u{e9}ve",
        "quo\"te",
        "an evil one",
        "x sl\\ash",
        "_x",
        "b-bot",
        "alice",
        "5",
    ] {
        let input = json!({"registration_method": "password", "username": username});
        let want = native.evaluate(policy_rules::Entrypoint::Register, Some(&input));
        let got = abi
            .fast_eval(0, data, heap, input.to_string().as_bytes())
            .unwrap();
        assert_eq!(got, json!([{ "result": want }]), "{username}");
    }
    for client in [json!("c1"), json!("c\"2"), json!("c3")] {
        let input = json!({
            "grant_type": "client_credentials", "scope": "urn:mas:admin",
            "client": {"id": client}, "requester": {}
        });
        let want = native.evaluate(policy_rules::Entrypoint::AuthorizationGrant, Some(&input));
        let got = abi
            .fast_eval(3, data, heap, input.to_string().as_bytes())
            .unwrap();
        assert_eq!(got, json!([{ "result": want }]), "{client}");
    }
    assert_eq!(abi.dump(data), data_json);
}
