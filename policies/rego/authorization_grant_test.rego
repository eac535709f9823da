package authorization_grant_test

import data.authorization_grant

user := {"username": "alice", "can_request_admin": false}

counts(total) := {"total": total, "oauth2": total, "compat": 0, "personal": 0}

grant(scope) := {
	"grant_type": "authorization_code",
	"scope": scope,
	"client": {"id": "C1"},
	"user": user,
	"session_counts": counts(1),
	"requester": {"ip_address": "203.0.113.7", "user_agent": "Mozilla/5.0"},
}

cc(scope) := {"grant_type": "client_credentials", "scope": scope, "client": {"id": "C1"}, "user": null, "session_counts": null}

not_allowed(t) := {"msg": concat("", ["scope '", t, "' not allowed"])}

test_basic_scopes if {
	count(authorization_grant.violation) == 0 with input as grant("openid email urn:mas:graphql:*")
	count(authorization_grant.violation) == 0 with input as grant("")
}

test_unknown_scope_once if {
	authorization_grant.violation == {not_allowed("foo")} with input as grant("foo foo")
}

test_empty_tokens_are_allowed if {
	authorization_grant.violation == {not_allowed("profile")} with input as grant("openid  profile ")
}

test_graphql_star_is_literal if {
	authorization_grant.violation == {not_allowed("urn:mas:graphql:read")} with input as grant("urn:mas:graphql:read")
}

test_device_scopes if {
	count(authorization_grant.violation) == 0 with input as grant("urn:matrix:client:api:* urn:matrix:client:device:ABCDEFGHIJ")
	v := authorization_grant.violation with input as grant("urn:matrix:client:api:* urn:matrix:client:device:ABCDEFGHI")
	v == {not_allowed("urn:matrix:client:device:ABCDEFGHI")}
}

test_unstable_device_dots_match_anything if {
	count(authorization_grant.violation) == 0 with input as grant("urn:matrix:orgXmatrixXmsc2967Xclient:device:ABCDEFGHIJ")
}

test_a2_a3_a4 if {
	v := authorization_grant.violation with input as grant("urn:matrix:client:device:AAAAAAAAAA urn:matrix:client:device:BBBBBBBBBB urn:matrix:org.matrix.msc2967.client:api:*")
	v == {
		{"msg": "only one device scope is allowed at a time"},
		{"msg": "request cannot mix unstable and stable scopes"},
	}
	w := authorization_grant.violation with input as grant("openid urn:matrix:client:device:ABCDEFGHIJ")
	w == {{"msg": "device scopes are only allowed when the client-server API scope is requested"}}
}

test_synapse_admin if {
	authorization_grant.violation == {not_allowed("urn:synapse:admin:*")} with input as grant("urn:synapse:admin:*")
	count(authorization_grant.violation) == 0 with input as grant("urn:synapse:admin:*") with data.admin_users as ["alice"]
	count(authorization_grant.violation) == 0 with input as object.union(grant("urn:synapse:admin:*"), {"user": {"username": "bob", "can_request_admin": null}})
}

test_client_credentials if {
	authorization_grant.violation == {not_allowed("urn:mas:admin")} with input as cc("urn:mas:admin")
	count(authorization_grant.violation) == 0 with input as cc("urn:mas:admin") with data.admin_clients as ["C1"]
	authorization_grant.violation == {not_allowed("urn:matrix:client:api:*")} with input as cc("urn:matrix:client:api:*")
}

test_soft_limit if {
	limit := {"soft_limit": 3, "hard_limit": 5, "max_session_threshold": 10}
	too_many := {"code": "too-many-sessions", "msg": "user has too many active sessions", "need_to_remove": 8}
	authorization_grant.violation == {too_many} with input as object.union(grant("openid"), {"session_counts": counts(10)}) with data.session_limit as limit
	count(authorization_grant.violation) == 0 with input as object.union(grant("openid"), {"session_counts": counts(11)}) with data.session_limit as limit
}

test_null_counts_never_limited if {
	count(authorization_grant.violation) == 0 with input as cc("openid") with data.session_limit as {"soft_limit": 1}
}

test_u64_counts_are_exact if {
	v := authorization_grant.violation with input as object.union(grant("openid"), {"session_counts": counts(18446744073709551615)})
		with data.session_limit as {"soft_limit": 1, "hard_limit": 1}
	v == {{"code": "too-many-sessions", "msg": "user has too many active sessions", "need_to_remove": 18446744073709551615}}
}
