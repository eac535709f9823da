package tenancy_test

import data.authorization_grant
import data.compat_login
import data.email
import data.register
import data.tenancy

# Prefix+suffix lengths: default 0, sus 4, acme 5, corp 5, robot 6, closed 7, acme_eu 8,
# wrap 9 (only incompatible tenants share a length, so the data is valid).
by_id := {
	"default": {},
	"acme": {"localpart_prefix": "acme."},
	"acme_eu": {"localpart_prefix": "acme.eu.", "localpart_suffix": ""},
	"robot": {"localpart_suffix": ".robot"},
	"wrap": {"localpart_prefix": "in.", "localpart_suffix": ".outer"},
	"closed": {"localpart_prefix": "closed.", "registration": "closed", "status": "active"},
	"sus": {"localpart_prefix": "sus.", "status": "suspended", "registration": "open"},
	"corp": {
		"localpart_prefix": "corp.",
		"email_domains": ["corp.com", "*.corp.com"],
		"allowed_clients": ["01JCLIENTULID", "element-web"],
	},
}

tenants := {"require_tenant": false, "claim": "tenant_id", "by_id": by_id}

# The same tenants without the default one.
no_default := {"by_id": object.remove(by_id, ["default"])}

strict := {"require_tenant": true, "by_id": object.remove(by_id, ["default"])}

# ---------------------------------------------------------------------------
# Resolution
# ---------------------------------------------------------------------------

test_resolution_longest_match_wins if {
	tenancy.resolve("alice") == "default" with data.tenants as tenants
	tenancy.resolve("acme.alice") == "acme" with data.tenants as tenants
	tenancy.resolve("acme.eu.alice") == "acme_eu" with data.tenants as tenants
	tenancy.resolve("acme.euro") == "acme" with data.tenants as tenants
}

test_resolution_suffix_only if {
	tenancy.resolve("r2d2.robot") == "robot" with data.tenants as tenants
	tenancy.resolve("r2d2.robot") == "robot" with data.tenants as no_default

	# The suffix (6) outranks the shorter prefix (5).
	tenancy.resolve("acme.r2d2.robot") == "robot" with data.tenants as tenants

	# The longer prefix (8) outranks the suffix (6).
	tenancy.resolve("acme.eu.r2d2.robot") == "acme_eu" with data.tenants as tenants
}

test_resolution_prefix_and_suffix if {
	tenancy.resolve("in.x.outer") == "wrap" with data.tenants as tenants
	tenancy.resolve("in.x") == "default" with data.tenants as tenants
	tenancy.resolve("x.outer") == "default" with data.tenants as tenants
}

test_resolution_empty_middle if {
	# The prefix alone, the suffix alone, prefix+suffix, and a prefix overlapping the suffix.
	tenancy.resolve("acme.") == "default" with data.tenants as tenants
	tenancy.resolve(".robot") == "default" with data.tenants as tenants
	tenancy.resolve("in..outer") == "default" with data.tenants as tenants
	tenancy.resolve("in.outer") == "default" with data.tenants as tenants
	not tenancy.resolve("acme.") with data.tenants as no_default
	not tenancy.resolve(".robot") with data.tenants as no_default
	not tenancy.resolve("in..outer") with data.tenants as no_default
	not tenancy.resolve("in.outer") with data.tenants as no_default
}

test_resolution_default_tenant if {
	tenancy.resolve("x") == "default" with data.tenants as tenants
	tenancy.resolve("ACME.bob") == "default" with data.tenants as tenants
	tenancy.resolve("é") == "default" with data.tenants as tenants

	# The default tenant needs a non-empty string.
	not tenancy.resolve("") with data.tenants as tenants
}

test_resolution_unknown_tenant if {
	not tenancy.resolve("bob") with data.tenants as no_default
	not tenancy.resolve("bob") with data.tenants as {}
	not tenancy.resolve("bob") with data.tenants as {"by_id": {}}
	not tenancy.resolve("bob")
}

test_resolution_needs_a_string if {
	every u in [null, false, 5, ["acme.bob"], {"acme.bob": true}] {
		not tenancy.resolve(u) with data.tenants as tenants
	}
}

test_single_tenant_whole_prefix if {
	one := {"by_id": {"t": {"localpart_prefix": "t.", "localpart_suffix": ".t"}}}
	tenancy.resolve("t.a.t") == "t" with data.tenants as one
	not tenancy.resolve("t.t") with data.tenants as one
	not tenancy.resolve("t..t") with data.tenants as one
	not tenancy.resolve("t.a") with data.tenants as one
}

# ---------------------------------------------------------------------------
# register
# ---------------------------------------------------------------------------

requester := {"ip_address": "203.0.113.7", "user_agent": "Mozilla/5.0"}

reg(u) := {"registration_method": "password", "username": u, "requester": requester}

reg_email(u, e) := {"registration_method": "password", "username": u, "requester": requester, "email": e}

unknown := {"code": "tenant-unknown", "field": "username", "msg": "username does not belong to any tenant"}

closed := {"code": "tenant-registration-closed", "field": "username", "msg": "registration is closed for tenant closed"}

reg_suspended := {"code": "tenant-suspended", "field": "username", "msg": "tenant sus is suspended"}

reg_email_corp := {"code": "tenant-email-domain-not-allowed", "field": "email", "msg": "email domain is not allowed for tenant corp"}

test_register_no_tenants_is_mas if {
	every t in [{}, {"by_id": {}}, {"require_tenant": false}] {
		count(register.violation) == 0 with input as reg("acme.bob") with data.tenants as t
	}
	count(register.violation) == 0 with input as reg("acme.bob")
	count(register.violation) == 0 with input as reg_email("corp.bob", "x@other.com")
}

test_register_known_tenants_pass if {
	every u in ["alice", "acme.bob", "acme.eu.bob", "r2d2.robot", "in.x.outer", "corp.bob"] {
		count(register.violation) == 0 with input as reg(u) with data.tenants as tenants
	}
}

test_register_unknown_tenant if {
	register.violation == {unknown} with input as reg("bob") with data.tenants as strict
	count(register.violation) == 0 with input as reg("bob") with data.tenants as no_default
	count(register.violation) == 0 with input as reg("acme.bob") with data.tenants as strict

	# An empty middle belongs to no tenant.
	register.violation == {unknown} with input as reg("acme.") with data.tenants as strict

	# With a default tenant every non-empty username has a tenant.
	count(register.violation) == 0 with input as reg("bob") with data.tenants as object.union(tenants, {"require_tenant": true})
}

test_register_require_tenant_only_when_true if {
	every flag in [false, null, "true", 1] {
		count(register.violation) == 0 with input as reg("bob") with data.tenants as {"require_tenant": flag, "by_id": {}}
	}
	register.violation == {unknown} with input as reg("bob") with data.tenants as {"require_tenant": true}
}

test_register_unknown_tenant_without_a_string_username if {
	every u in [null, 5, false, ""] {
		unknown in register.violation with input as reg(u) with data.tenants as object.union(tenants, {"require_tenant": true})
	}
	unknown in register.violation with input as {"registration_method": "password"} with data.tenants as strict
	not unknown in register.violation with input as {"registration_method": "password"} with data.tenants as no_default
}

test_register_closed if {
	register.violation == {closed} with input as reg("closed.bob") with data.tenants as tenants
	count(register.violation) == 0 with input as reg("closed.bob") with data.tenants as {"by_id": {"closed": {"localpart_prefix": "closed.", "registration": "open"}}}
}

test_register_suspended if {
	register.violation == {reg_suspended} with input as reg("sus.bob") with data.tenants as tenants
}

test_register_suspended_and_closed if {
	both := {"by_id": {"x": {"localpart_prefix": "x.", "status": "suspended", "registration": "closed"}}}
	register.violation == {
		{"code": "tenant-registration-closed", "field": "username", "msg": "registration is closed for tenant x"},
		{"code": "tenant-suspended", "field": "username", "msg": "tenant x is suspended"},
	} with input as reg("x.bob") with data.tenants as both
}

test_register_email_domains if {
	every e in ["bob@corp.com", "bob@eu.corp.com"] {
		count(register.violation) == 0 with input as reg_email("corp.bob", e) with data.tenants as tenants
	}

	# `*` stops at dots; no domain (0 or 2 `@`, not a string) matches no glob.
	every e in ["bob@other.com", "bob@a.b.corp.com", "bob@CORP.COM", "bob@", "corp.com", "a@b@corp.com", "", null, 5, true] {
		register.violation == {reg_email_corp} with input as reg_email("corp.bob", e) with data.tenants as tenants
	}
}

test_register_email_absent_or_false if {
	count(register.violation) == 0 with input as reg("corp.bob") with data.tenants as tenants
	count(register.violation) == 0 with input as reg_email("corp.bob", false) with data.tenants as tenants
}

test_register_email_domains_only_for_the_users_tenant if {
	count(register.violation) == 0 with input as reg_email("acme.bob", "bob@other.com") with data.tenants as tenants
	count(register.violation) == 0 with input as reg_email("bob", "bob@other.com") with data.tenants as tenants
}

test_register_empty_email_domains_reject_every_email if {
	t := {"by_id": {"x": {"localpart_prefix": "x.", "email_domains": []}}}
	register.violation == {{"code": "tenant-email-domain-not-allowed", "field": "email", "msg": "email domain is not allowed for tenant x"}} with input as reg_email("x.bob", "bob@x.com") with data.tenants as t
	count(register.violation) == 0 with input as reg("x.bob") with data.tenants as t
}

test_register_tenant_and_mas_email_rules_add_up if {
	register.violation == {
		reg_email_corp,
		{"code": "email-domain-not-allowed", "field": "email", "msg": "email domain is not allowed"},
	} with input as reg_email("corp.bob", "bob@other.com") with data.tenants as tenants with data.allowed_domains as ["corp.com"]
}

test_register_tenant_id_verbatim if {
	t := {"by_id": {"Ünï %s": {"localpart_prefix": "u.", "status": "suspended"}}}
	register.violation == {{"code": "tenant-suspended", "field": "username", "msg": "tenant Ünï %s is suspended"}} with input as reg("u.bob") with data.tenants as t
}

# ---------------------------------------------------------------------------
# email
# ---------------------------------------------------------------------------

email_corp := {"code": "tenant-email-domain-not-allowed", "msg": "email domain is not allowed for tenant corp"}

test_email_tenant_domains if {
	count(email.violation) == 0 with input as {"email": "bob@corp.com", "tenant": "corp"} with data.tenants as tenants
	count(email.violation) == 0 with input as {"email": "bob@x.corp.com", "tenant": "corp"} with data.tenants as tenants
	email.violation == {email_corp} with input as {"email": "bob@other.com", "tenant": "corp"} with data.tenants as tenants
	email.violation == {email_corp} with input as {"email": "bob@b@corp.com", "tenant": "corp"} with data.tenants as tenants
	email.violation == {email_corp} with input as {"email": null, "tenant": "corp"} with data.tenants as tenants
}

test_email_needs_a_known_tenant if {
	# No input.tenant, an unknown one, a non-string one, or no tenants data: nothing.
	count(email.violation) == 0 with input as {"email": "bob@other.com"} with data.tenants as tenants
	every t in ["nope", "corp.", null, 5, ["corp"], {"corp": true}] {
		count(email.violation) == 0 with input as {"email": "bob@other.com", "tenant": t} with data.tenants as tenants
	}
	count(email.violation) == 0 with input as {"email": "bob@other.com", "tenant": "corp"}
}

test_email_tenant_without_restriction if {
	count(email.violation) == 0 with input as {"email": "bob@other.com", "tenant": "acme"} with data.tenants as tenants
}

test_email_absent_or_false if {
	count(email.violation) == 0 with input as {"tenant": "corp"} with data.tenants as tenants
	count(email.violation) == 0 with input as {"email": false, "tenant": "corp"} with data.tenants as tenants
}

test_email_empty_email_domains if {
	t := {"by_id": {"x": {"email_domains": []}}}
	email.violation == {{"code": "tenant-email-domain-not-allowed", "msg": "email domain is not allowed for tenant x"}} with input as {"email": "bob@x.com", "tenant": "x"} with data.tenants as t
}

# ---------------------------------------------------------------------------
# authorization_grant
# ---------------------------------------------------------------------------

grant(username, client) := {
	"grant_type": "authorization_code",
	"scope": "openid",
	"client": client,
	"user": {"username": username, "can_request_admin": false},
	"session_counts": {"total": 1, "oauth2": 1, "compat": 0, "personal": 0},
	"requester": requester,
}

suspended := {"code": "tenant-suspended", "msg": "tenant sus is suspended"}

not_allowed(label) := {"code": "client-not-allowed", "msg": concat("", ["client ", label, " is not allowed for tenant corp"])}

test_grant_suspended if {
	authorization_grant.violation == {suspended} with input as grant("sus.bob", {"id": "C1"}) with data.tenants as tenants
	count(authorization_grant.violation) == 0 with input as grant("acme.bob", {"id": "C1"}) with data.tenants as tenants
}

test_grant_without_a_user if {
	i := {"grant_type": "client_credentials", "scope": "openid", "client": {"id": "C1"}, "user": null, "session_counts": null}
	count(authorization_grant.violation) == 0 with input as i with data.tenants as tenants
	count(authorization_grant.violation) == 0 with input as object.remove(i, ["user"]) with data.tenants as tenants
}

test_grant_allowed_clients_by_id if {
	count(authorization_grant.violation) == 0 with input as grant("corp.bob", {"id": "01JCLIENTULID"}) with data.tenants as tenants
	count(authorization_grant.violation) == 0 with input as grant("corp.bob", {"id": "01JCLIENTULID", "client_id": "other"}) with data.tenants as tenants
}

test_grant_allowed_clients_by_client_id if {
	count(authorization_grant.violation) == 0 with input as grant("corp.bob", {"id": "01JOTHER", "client_id": "element-web"}) with data.tenants as tenants
	count(authorization_grant.violation) == 0 with input as grant("corp.bob", {"client_id": "element-web"}) with data.tenants as tenants
}

test_grant_client_not_allowed_labels if {
	authorization_grant.violation == {not_allowed("fluffy")} with input as grant("corp.bob", {"id": "01JOTHER", "client_id": "fluffy"}) with data.tenants as tenants
	authorization_grant.violation == {not_allowed("01JOTHER")} with input as grant("corp.bob", {"id": "01JOTHER"}) with data.tenants as tenants
	authorization_grant.violation == {not_allowed("01JOTHER")} with input as grant("corp.bob", {"id": "01JOTHER", "client_id": 5}) with data.tenants as tenants
	authorization_grant.violation == {not_allowed("unknown")} with input as grant("corp.bob", {"id": 7}) with data.tenants as tenants
	authorization_grant.violation == {not_allowed("unknown")} with input as grant("corp.bob", {}) with data.tenants as tenants
	authorization_grant.violation == {not_allowed("unknown")} with input as grant("corp.bob", null) with data.tenants as tenants
	authorization_grant.violation == {not_allowed("unknown")} with input as object.remove(grant("corp.bob", {}), ["client"]) with data.tenants as tenants
}

test_grant_client_restriction_only_for_the_users_tenant if {
	count(authorization_grant.violation) == 0 with input as grant("acme.bob", {"id": "01JOTHER"}) with data.tenants as tenants
	count(authorization_grant.violation) == 0 with input as grant("bob", {"id": "01JOTHER"}) with data.tenants as tenants
	count(authorization_grant.violation) == 0 with input as grant("corp.bob", {"id": "01JOTHER"})
}

test_grant_empty_allowed_clients if {
	t := {"by_id": {"corp": {"allowed_clients": []}}}
	authorization_grant.violation == {not_allowed("element-web")} with input as grant("corp.bob", {"id": "01JCLIENTULID", "client_id": "element-web"}) with data.tenants as t
}

test_grant_suspended_and_client_not_allowed if {
	t := {"by_id": {"corp": {"status": "suspended", "allowed_clients": ["element-web"]}}}
	authorization_grant.violation == {
		{"code": "tenant-suspended", "msg": "tenant corp is suspended"},
		not_allowed("fluffy"),
	} with input as grant("corp.bob", {"client_id": "fluffy"}) with data.tenants as t
}

# ---------------------------------------------------------------------------
# MXID admin users (extensions.md §2)
# ---------------------------------------------------------------------------

admin_grant(username) := object.union(grant(username, {"id": "C1"}), {"scope": "urn:synapse:admin:*"})

admin_denied := {{"msg": "scope 'urn:synapse:admin:*' not allowed"}}

test_mxid_admin_on_this_server if {
	count(authorization_grant.violation) == 0 with input as admin_grant("alice") with data.admin_users as ["@alice:example.com"] with data.server_name as "example.com"
	count(authorization_grant.violation) == 0 with input as admin_grant("alice") with data.admin_users as ["@alice:example.com:8448"] with data.server_name as "example.com:8448"

	# Localparts keep working.
	count(authorization_grant.violation) == 0 with input as admin_grant("alice") with data.admin_users as ["alice"] with data.server_name as "example.com"
}

test_mxid_admin_on_another_server if {
	authorization_grant.violation == admin_denied with input as admin_grant("alice") with data.admin_users as ["@alice:other.com"] with data.server_name as "example.com"
	authorization_grant.violation == admin_denied with input as admin_grant("alice") with data.admin_users as ["@alice:example.com:8448"] with data.server_name as "example.com"
	authorization_grant.violation == admin_denied with input as admin_grant("alice") with data.admin_users as ["@alice:example.com"] with data.server_name as "example.com:8448"
	authorization_grant.violation == admin_denied with input as admin_grant("alice") with data.admin_users as ["@alice:EXAMPLE.COM"] with data.server_name as "example.com"
}

test_mxid_admin_needs_a_server_name if {
	authorization_grant.violation == admin_denied with input as admin_grant("alice") with data.admin_users as ["@alice:example.com"]
	authorization_grant.violation == admin_denied with input as admin_grant("alice") with data.admin_users as ["@alice:example.com"] with data.server_name as null
}

test_mxid_admin_other_user_or_malformed if {
	every a in ["@bob:example.com", "@alice", "alice:example.com", "@@alice:example.com", "@alice:", "@:example.com", "@"] {
		authorization_grant.violation == admin_denied with input as admin_grant("alice") with data.admin_users as [a] with data.server_name as "example.com"
	}
}

test_mxid_admin_first_colon_splits if {
	# The localpart ends at the first `:`; `a:b` is never a localpart.
	authorization_grant.violation == admin_denied with input as admin_grant("a:b") with data.admin_users as ["@a:b:example.com"] with data.server_name as "example.com"
	count(authorization_grant.violation) == 0 with input as admin_grant("a") with data.admin_users as ["@a:b:example.com"] with data.server_name as "b:example.com"
}

test_mxid_admin_empty_localpart if {
	count(authorization_grant.violation) == 0 with input as admin_grant("") with data.admin_users as ["@:example.com"] with data.server_name as "example.com"
}

test_mxid_admin_username_equal_to_entry if {
	# Plain equality still holds for any entry, MXID-shaped or not.
	count(authorization_grant.violation) == 0 with input as admin_grant("@alice:other.com") with data.admin_users as ["@alice:other.com"] with data.server_name as "example.com"
	count(authorization_grant.violation) == 0 with input as admin_grant(5) with data.admin_users as [5] with data.server_name as "example.com"
	authorization_grant.violation == admin_denied with input as admin_grant(5) with data.admin_users as ["@5:example.com"] with data.server_name as "example.com"
}

# ---------------------------------------------------------------------------
# compat_login
# ---------------------------------------------------------------------------

login(user) := {
	"user": user,
	"login": {"type": "m.login.password"},
	"session_counts": {"total": 1, "compat": 1, "oauth2": 0, "personal": 0},
	"session_replaced": false,
	"requester": requester,
}

test_compat_login_suspended if {
	compat_login.violation == {suspended} with input as login({"username": "sus.bob"}) with data.tenants as tenants
	count(compat_login.violation) == 0 with input as login({"username": "acme.bob"}) with data.tenants as tenants
	count(compat_login.violation) == 0 with input as login({"username": "sus.bob"})
	count(compat_login.violation) == 0 with input as login({"username": "sus.bob"}) with data.tenants as {}
}

test_compat_login_without_a_user if {
	count(compat_login.violation) == 0 with input as login(null) with data.tenants as tenants
	count(compat_login.violation) == 0 with input as login({"username": 5}) with data.tenants as tenants
	count(compat_login.violation) == 0 with input as object.remove(login(null), ["user"]) with data.tenants as tenants
}
