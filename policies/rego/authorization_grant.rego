# authorization_grant/violation (contract §10).
package authorization_grant

import data.common
import data.tenancy

device_stable := "urn:matrix:client:device:"

device_unstable := "urn:matrix:org.matrix.msc2967.client:device:"

api_stable := "urn:matrix:client:api:"

api_unstable := "urn:matrix:org.matrix.msc2967.client:api:"

grant_type := common.get(input, "grant_type")

interactive if grant_type == "authorization_code"

interactive if grant_type == "urn:ietf:params:oauth:grant-type:device_code"

user := common.get(input, "user")

is_admin if {
	username = common.get(user, "username")
	some admin in common.values(data.admin_users)
	admin == username
}

# extensions.md §2: `@<localpart>:<server_name>` names the user `<localpart>` of this server.
is_admin if {
	username = common.get(user, "username")
	server_name = data.server_name
	is_string(server_name)
	some admin in common.values(data.admin_users)
	mxid_names(admin, username, server_name)
}

# mxid_names(admin, username, server_name): admin is `@<localpart>:<server>`, split at the
# first `:` after the `@` (the server may hold more, e.g. a port), with <localpart> equal to
# username and <server> to server_name.
mxid_names(admin, username, server_name) if {
	is_string(admin)
	startswith(admin, "@")
	parts = split(substring(admin, 1, count(admin) - 1), ":")
	count(parts) > 1
	parts[0] == username
	concat(":", array.slice(parts, 1, count(parts))) == server_name
}

is_admin if {
	x = common.get(user, "can_request_admin")
	x != false
}

admin_client if {
	grant_type == "client_credentials"
	client_id = common.get(common.get(input, "client"), "id")
	some c in common.values(data.admin_clients)
	c == client_id
}

# The distinct tokens of the scope, split on every single space (empty tokens count).
tokens := {t | some t in split(scope, " ")} if {
	scope = common.get(input, "scope")
	is_string(scope)
}

always_allowed := {"", "openid", "email", "urn:mas:graphql:*"}

allowed(t) if always_allowed[t]

allowed(t) if {
	t == "urn:synapse:admin:*"
	interactive
	is_admin
}

allowed(t) if {
	t == "urn:mas:admin"
	interactive
	is_admin
}

allowed(t) if {
	t == "urn:mas:admin"
	admin_client
}

allowed(t) if {
	t == "urn:matrix:client:api:*"
	interactive
}

allowed(t) if {
	t == "urn:matrix:org.matrix.msc2967.client:api:*"
	interactive
}

# The characters of a device id.
device_id_chars := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~!$&'()*+,;=:@/-"

# `^urn:matrix:client:device:[device_id_chars]{10,}$`, with string builtins: a regex call costs
# far more in regorus (CONSTRUCTS.md 26).
allowed(t) if {
	startswith(t, device_stable)
	id = substring(t, count(device_stable), count(t) - count(device_stable))
	count(id) >= 10
	trim_left(id, device_id_chars) == ""
	interactive
}

# The unstable prefix keeps the regex: its dots are unescaped, so they match any character
# (`urn:matrix:orgXmatrix...` is allowed, as upstream). The guard skips the call for the
# tokens it cannot match.
allowed(t) if {
	startswith(t, "urn:matrix:org")
	regex.match(`^urn:matrix:org.matrix.msc2967.client:device:[A-Za-z0-9._~!$&'()*+,;=:@/-]{10,}$`, t)
	interactive
}

tokens_starting(prefix) := {t | some t in tokens; startswith(t, prefix)}

# A1
violation contains v if {
	some t in tokens
	not allowed(t)
	v = {"msg": concat("", ["scope '", t, "' not allowed"])}
}

# A2
violation contains {"msg": "only one device scope is allowed at a time"} if {
	count(tokens_starting(device_unstable)) > 1
}

violation contains {"msg": "only one device scope is allowed at a time"} if {
	count(tokens_starting(device_stable)) > 1
}

has_device_scope if count(tokens_starting(device_stable)) > 0

has_device_scope if count(tokens_starting(device_unstable)) > 0

has_api_scope if count(tokens_starting(api_stable)) > 0

has_api_scope if count(tokens_starting(api_unstable)) > 0

# A3
violation contains {"msg": "device scopes are only allowed when the client-server API scope is requested"} if {
	has_device_scope
	not has_api_scope
}

# A4
violation contains {"msg": "request cannot mix unstable and stable scopes"} if {
	count(tokens_starting("urn:matrix:client:")) > 0
	count(tokens_starting("urn:matrix:org.matrix.msc2967.client:")) > 0
}

# A5
violation contains v if {
	v = data.common.requester_violation
}

# A6: OAuth2 grants check only the soft limit.
violation contains {
	"code": "too-many-sessions",
	"msg": "user has too many active sessions",
	"need_to_remove": n,
} if {
	counts = data.common.session_counts
	counts != null
	n = common.excess("soft_limit")
}

# ---------------------------------------------------------------------------
# Tenants (extensions.md §1): the tenant owning the user's username.
# ---------------------------------------------------------------------------

user_tenant := id if {
	u = common.get(user, "username")
	id = tenancy.resolve(u)
}

violation contains v if {
	id = user_tenant
	tenancy.suspended(id)
	v = tenancy.suspended_violation(id)
}

violation contains v if {
	id = user_tenant
	client = tenancy.client_of(input)
	tenancy.client_rejected(id, client)
	v = tenancy.client_violation(id, client)
}
