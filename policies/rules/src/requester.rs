//! Requester bans (contract §6.5), shared by `register`, `authorization_grant` and
//! `compat_login`.

use serde_json::Value;

use crate::{
    data::PolicyData,
    value::{get, truthy},
    violation::Violation,
};

fn render(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        // `null` prints as `null` (D3); other types are outside the contract and print as JSON.
        Some(other) => crate::json_text::to_string(other),
        None => String::new(),
    }
}

/// The requester violation, when `input.requester` is banned by IP or user agent.
pub fn violation(data: &PolicyData, input: Option<&Value>) -> Option<Violation> {
    let requester = get(input, "requester");
    let ip = get(requester, "ip_address");
    let ua = get(requester, "user_agent");
    let ip_banned = ip
        .and_then(Value::as_str)
        .is_some_and(|ip| data.banned_ips.iter().any(|cidr| cidr.contains(ip)));
    if !ip_banned && !data.matches(&data.banned_user_agents, ua) {
        return None;
    }
    let who = match (truthy(ip), truthy(ua)) {
        (true, true) => format!("{} / {}", render(ip), render(ua)),
        (true, false) => render(ip),
        (false, true) => render(ua),
        (false, false) => "unknown".to_owned(),
    };
    Some(Violation::msg(format!(
        "Requester [{who}] isn't allowed to do this action"
    )))
}
